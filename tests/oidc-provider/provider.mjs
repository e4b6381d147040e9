// A real OpenID Connect provider (panva/oidc-provider) on loopback for Custos's tests.
//
// Environment: PORT, CLIENTS (JSON array of {client_id, client_secret, redirect_uris}).
// Interactions are automatic: the account is the authorization request's login_hint.
// Test hook: POST /__test/mode {"mode": ...} rewrites the next ID tokens issued at the
// token endpoint ("normal", "tamper-signature", "wrong-audience", "wrong-nonce",
// "expired"), re-signed with the provider's own key so only the named defect differs.
import Provider from 'oidc-provider';
import * as jose from 'jose';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const clients = JSON.parse(process.env.CLIENTS).map((c) => ({
  ...c,
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
}));

const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await jose.exportJWK(privateKey)), kid: 'test-key-1', alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients,
  jwks: { keys: [jwk] },
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  claims: { openid: ['sub'], email: ['email'] },
  scopes: ['openid', 'email'],
  async findAccount(ctx, sub) {
    return { accountId: sub, async claims() { return { sub, email: `${sub}@example.test` }; } };
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 600, Grant: 600 },
});
provider.proxy = false;

let mode = 'normal';
const signingKey = await jose.importJWK(jwk, 'RS256');

async function rewrite(idToken) {
  if (mode === 'tamper-signature') {
    const [h, p, s] = idToken.split('.');
    const flipped = (s[5] === 'A' ? 'B' : 'A');
    return `${h}.${p}.${s.slice(0, 5)}${flipped}${s.slice(6)}`;
  }
  const claims = jose.decodeJwt(idToken);
  const now = Math.floor(Date.now() / 1000);
  if (mode === 'wrong-audience') claims.aud = 'some-other-client';
  if (mode === 'wrong-nonce') claims.nonce = 'not-the-nonce-that-was-sent';
  if (mode === 'expired') { claims.iat = now - 7200; claims.exp = now - 3600; }
  return new jose.SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: jwk.kid, typ: 'JWT' }).sign(signingKey);
}

provider.use(async (ctx, next) => {
  if (ctx.method === 'POST' && ctx.path === '/__test/mode') {
    const body = await new Promise((resolve) => {
      let data = '';
      ctx.req.on('data', (c) => { data += c; });
      ctx.req.on('end', () => resolve(data));
    });
    mode = JSON.parse(body).mode;
    ctx.body = { mode };
    return;
  }
  if (ctx.method === 'GET' && ctx.path.startsWith('/interaction/')) {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    const accountId = details.params.login_hint || 'student-1';
    let grant = details.grantId ? await provider.Grant.find(details.grantId) : undefined;
    if (!grant) grant = new provider.Grant({ accountId, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope);
    const grantId = await grant.save();
    return provider.interactionFinished(ctx.req, ctx.res, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
  }
  await next();
  if (ctx.method === 'POST' && ctx.path === '/token' && mode !== 'normal' && ctx.body && ctx.body.id_token) {
    ctx.body = { ...ctx.body, id_token: await rewrite(ctx.body.id_token) };
  }
});

provider.listen(port, '127.0.0.1', () => { console.log(`oidc-provider listening on ${issuer}`); });
