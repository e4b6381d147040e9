#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests, on loopback only.
#   scripts/postgres.sh start DIR   initdb in DIR, start on a free port with TLS (a fresh
#                                   CA in DIR/tls/ca.pem), print the URL
#   scripts/postgres.sh stop DIR    stop it and remove DIR
# As root, the server runs as the `postgres` user (initdb refuses root). fsync stays on:
# the multi-node tests kill nodes and count acknowledged writes.
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?directory}
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$pgbin" ] || { echo "PostgreSQL is not installed (Debian: apt-get install postgresql)" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "$cmd" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    as_pg "$pgbin/initdb" -D "$dir/data" -U custos --auth=trust -E UTF8 --no-locale --no-sync >/dev/null
    # TLS: a throwaway CA and a server certificate for 127.0.0.1 and localhost.
    t="$dir/tls"; mkdir -p "$t"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=custos-test-db-ca \
      -addext basicConstraints=critical,CA:TRUE -keyout "$t/ca.key" -out "$t/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
      -keyout "$t/server.key" -out "$t/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$t/ext"
    openssl x509 -req -in "$t/server.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" -CAcreateserial -days 2 \
      -extfile "$t/ext" -out "$t/server.pem" 2>/dev/null
    chmod 600 "$t/server.key"; chmod 644 "$t/ca.pem"
    [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$t"
    as_pg "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
      -o "-k $dir -c listen_addresses=127.0.0.1 -p $port -c max_connections=300 -c ssl=on -c ssl_cert_file=$t/server.pem -c ssl_key_file=$t/server.key" \
      start >/dev/null
    echo "postgres://custos@127.0.0.1:$port/postgres"
    ;;
  stop)
    [ -d "$dir/data" ] && as_pg "$pgbin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
