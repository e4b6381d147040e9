#!/usr/bin/env bash
# The whole test suite, on a fresh clone. Installs what the tests need when it is
# missing (as root on Debian: openssl for the TLS probe, curl for the README quick
# start, cmake and Go for the FIPS build, rsyslog with its OpenSSL driver as the syslog
# receiver of the audit export tests, oathtool for TOTP interoperability, Node.js with
# the oidc-provider package as the OpenID Connect provider, Python's aiosmtpd as the
# SMTP server, the age tool to open backups with, Python's moto server as the
# S3-compatible backup target, PostgreSQL for the second store), then: format, lints,
# the FIPS build, and every test of the workspace, with a throwaway PostgreSQL server
# on loopback (started here, stopped and removed at the end) unless CUSTOS_TEST_POSTGRES
# already names one.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }
missing=()
need openssl || missing+=(openssl)
need curl || missing+=(curl)
need cmake || missing+=(cmake)
need go || missing+=(golang-go)
[ -x /usr/sbin/rsyslogd ] || missing+=(rsyslog)
ls /usr/lib/*/rsyslog/lmnsd_ossl.so >/dev/null 2>&1 || missing+=(rsyslog-openssl)
need oathtool || missing+=(oathtool)
need node || missing+=(nodejs)
need npm || missing+=(npm)
need age || missing+=(age)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && need apt-get; then
    echo "installing: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "missing tools: ${missing[*]}; install them (Debian: apt-get install ${missing[*]})" >&2
    exit 1
  fi
fi

python3 -c 'import aiosmtpd' 2>/dev/null || python3 -m pip install -q --disable-pip-version-check 'aiosmtpd==1.4.6'
need moto_server || python3 -m pip install -q --disable-pip-version-check 'moto[server]==5.2.5'
# The provider's exact versions are pinned by its package-lock.json.
(cd tests/oidc-provider && npm ci --no-audit --no-fund --loglevel=error)

export CARGO_TERM_COLOR=never
step() { printf '\n== %s\n' "$*"; }

step "format"
cargo fmt --all -- --check
step "lints"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "FIPS build (aws-lc-rs FIPS module) and its self-check"
cargo build -p custos --features fips --locked
cargo test -p custos-crypto --features fips --locked
step "tests"
log=$(mktemp)
pgdir=""
cleanup() { rm -f "$log"; [ -z "$pgdir" ] || ./scripts/postgres.sh stop "$pgdir"; }
trap cleanup EXIT
if [ -z "${CUSTOS_TEST_POSTGRES:-}" ]; then
  pgdir=$(mktemp -d -u "${TMPDIR:-/tmp}/custos-pg.XXXXXX")
  CUSTOS_TEST_POSTGRES=$(./scripts/postgres.sh start "$pgdir")
  CUSTOS_TEST_POSTGRES_CA="$pgdir/tls/ca.pem"
  export CUSTOS_TEST_POSTGRES CUSTOS_TEST_POSTGRES_CA
  echo "throwaway PostgreSQL: $CUSTOS_TEST_POSTGRES"
fi
# The store suite and the multi-node and zone tests must run against it, not skip.
export CUSTOS_REQUIRE_POSTGRES=1
cargo test --workspace --locked 2>&1 | tee "$log"
# One closing line for the whole run: the sum over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\nworkspace: %d passed, %d failed\n", p, f }' "$log"
