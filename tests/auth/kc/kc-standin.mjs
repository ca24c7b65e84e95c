// Keycloak-layout OIDC stand-in built on oidc-provider (panva), from ../shared/test-infra, for tests/auth. Test-only: in-memory storage, fixed users.
// Serves /realms/<realm>/... with Keycloak's paths.
//  - users alice, bob (spt-user), carol (no role), admin (spt-user + spt-admin); password '<login>-pw';
//    `sub` is a fixed UUID as in Keycloak (not the username); preferred_username is the login.
//  - access tokens: JWT, RS256, typ 'at+jwt', aud 'account' (Keycloak's default without an audience mapper),
//    iss '<base>/realms/<realm>', realm roles in realm_access.roles, 300 s lifetime.
//  - KC_KEY_FILE: a private RSA JWK (JSON, with kid) to sign with, so tests can mint their own tokens with the
//    realm's key (expired, not yet valid, wrong issuer or audience); otherwise a key is generated at start.
//  - POST <realm>/_test/rotate: a new signing key with a new kid (the old one stays in the JWKS as a passive
//    key, as in Keycloak); GET <realm>/_test/stats: how often the JWKS, discovery and realm documents were fetched.
// Usage: node kc-standin.mjs [port] [realm]   (prints "READY <base-url>" when listening)
import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { URLSearchParams } from 'node:url';
import Provider, { errors } from 'oidc-provider';
import { jwtVerify, createLocalJWKSet } from 'jose';

const PORT = Number(process.argv[2] || process.env.KC_PORT || 0);
const REALM = process.argv[3] || process.env.KC_REALM || 'spt';
const PREFIX = `/realms/${REALM}`;
const RESOURCE = 'urn:spt:api'; // internal resource indicator -> JWT access tokens
// what Keycloak puts in `aud`: 'account' without an audience mapper; KC_AUDIENCE=spt-api as with the
// realm export's audience mapper (deploy/keycloak/realm-spt.json)
const AUDIENCE = process.env.KC_AUDIENCE || 'account';
const ALICE = '5d0c8f4e-6b1a-4c41-9d2e-1a7f3c0b9e11';
const USERS = { // login -> {sub, username (preferred_username), password, roles, email}
  alice: { sub: ALICE, roles: ['spt-user'] },
  bob: { sub: '8e2b7a90-3f4d-4e6a-b1c2-9d8f7e6a5b44', roles: ['spt-user'] },
  carol: { sub: 'c3a1d2e4-5f60-4718-8a9b-0c1d2e3f4a55', roles: [] },
  admin: { sub: 'ad0d1e2f-3a4b-4c5d-8e6f-7a8b9c0d1e66', roles: ['spt-user', 'spt-admin'] },
};
for (const [login, u] of Object.entries(USERS)) {
  u.username ||= login; u.password = `${login}-pw`; u.email = `${login}@example.org`;
}
const LOGIN_OF_SUB = {}; // the canonical login of each subject (the first one listed)
for (const [login, u] of Object.entries(USERS)) LOGIN_OF_SUB[u.sub] ||= login;
const SERVICE_ROLES = { 'spt-worker': ['spt-service'] }; // client_credentials roles per client
const LOOPBACK_CALLBACKS = ['http://127.0.0.1:8080/callback', 'http://127.0.0.1/account/callback',
  'http://localhost/account/callback'];
const CLIENTS = [
  { client_id: 'spt-api', client_secret: 'spt-api-secret', token_endpoint_auth_method: 'client_secret_post',
    grant_types: ['authorization_code', 'refresh_token', 'password'], response_types: ['code'],
    // 'native': a loopback redirect URI matches on any port (RFC 8252 §7.3), so a test server's port needs no setup
    application_type: 'native', redirect_uris: LOOPBACK_CALLBACKS },
  { client_id: 'spt-worker', client_secret: 'spt-worker-secret', token_endpoint_auth_method: 'client_secret_post',
    grant_types: ['client_credentials'], response_types: [], redirect_uris: [] },
  { client_id: 'spt-web', token_endpoint_auth_method: 'none', // public client, PKCE
    grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
    application_type: 'native', redirect_uris: LOOPBACK_CALLBACKS },
];

function newKey(kid) {
  const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { ...privateKey.export({ format: 'jwk' }), kid, use: 'sig', alg: 'RS256' };
}
let keys = [process.env.KC_KEY_FILE
  ? { use: 'sig', alg: 'RS256', ...JSON.parse(fs.readFileSync(process.env.KC_KEY_FILE, 'utf8')) }
  : newKey('standin-rs256')]; // keys[0] signs; the others are passive (still in the JWKS)
const publicJwk = (k) => ({ kty: k.kty, n: k.n, e: k.e, kid: k.kid, alg: 'RS256', use: 'sig' });
const publicKeyB64 = () => crypto.createPublicKey({ key: publicJwk(keys[0]), format: 'jwk' })
  .export({ type: 'spki', format: 'der' }).toString('base64');
let verifyKeys = createLocalJWKSet({ keys: keys.map(publicJwk) });
const stats = { certs: 0, discovery: 0, realm: 0, rotations: 0 }; // fetches of each key source

function userClaims(login) {
  const u = USERS[login];
  return { sub: u.sub, preferred_username: u.username, email: u.email, email_verified: true, name: u.username,
           realm_access: { roles: u.roles } };
}
const resourceServer = () => ({ scope: 'openid profile email roles', audience: AUDIENCE, accessTokenFormat: 'jwt',
  accessTokenTTL: 300, jwt: { sign: { alg: 'RS256', kid: keys[0].kid } } });

let issuer; // set once listening
let provider;

function buildProvider(iss) {
  const p = new Provider(iss, {
    clients: CLIENTS,
    jwks: { keys },
    routes: {
      authorization: '/protocol/openid-connect/auth',
      token: '/protocol/openid-connect/token',
      jwks: '/protocol/openid-connect/certs',
      userinfo: '/protocol/openid-connect/userinfo',
      introspection: '/protocol/openid-connect/token/introspect',
      revocation: '/protocol/openid-connect/revoke',
      end_session: '/protocol/openid-connect/logout',
    },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'roles'],
    claims: { openid: ['sub'], profile: ['name', 'preferred_username'], email: ['email', 'email_verified'],
              roles: ['realm_access'] },
    pkce: { required: (ctx, client) => client.tokenEndpointAuthMethod === 'none' },
    features: {
      devInteractions: { enabled: false },
      introspection: { enabled: true },
      revocation: { enabled: true },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo: () => resourceServer(),
      },
    },
    async findAccount(ctx, sub) {
      const login = LOGIN_OF_SUB[sub];
      if (!login) return undefined;
      return { accountId: sub, async claims() { return userClaims(login); } };
    },
    // Keycloak-style claims inside every JWT access token
    async extraTokenClaims(ctx, token) {
      const clientId = token.clientId;
      if (token.accountId && LOGIN_OF_SUB[token.accountId]) {
        // the password grant names the login (two logins may share a subject); other grants: the subject's
        const asked = ctx?.oidc?.params?.username;
        const login = asked && USERS[asked]?.sub === token.accountId ? asked : LOGIN_OF_SUB[token.accountId];
        const c = userClaims(login);
        return { azp: clientId, typ: 'Bearer', preferred_username: c.preferred_username, email: c.email,
                 realm_access: c.realm_access };
      }
      return { azp: clientId, typ: 'Bearer', preferred_username: `service-account-${clientId}`,
               realm_access: { roles: SERVICE_ROLES[clientId] || [] } };
    },
    interactions: { url: (ctx, interaction) => `${PREFIX}/login-actions/${interaction.uid}` },
    ttl: { AccessToken: 300, IdToken: 300, RefreshToken: 1800, Grant: 1800, Session: 1800, Interaction: 600 },
    cookies: { keys: ['standin-cookie-key'] },
    // Keycloak issues a refresh token with every code exchange (oidc-provider: only for offline_access)
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  });

  // Resource Owner Password grant (Keycloak "Direct Access Grants"); oidc-provider does not ship it.
  p.registerGrantType('password', async (ctx) => {
    const { username, password } = ctx.oidc.params;
    const u = USERS[username];
    if (!u || u.password !== password) throw new errors.InvalidGrant('Invalid user credentials');
    const client = ctx.oidc.client;
    const scope = 'openid profile email roles';
    const grant = new p.Grant({ accountId: u.sub, clientId: client.clientId });
    grant.addOIDCScope(scope); grant.addResourceScope(RESOURCE, scope);
    const grantId = await grant.save();
    const at = new p.AccessToken({ accountId: u.sub, client, grantId, gty: 'password', scope });
    at.resourceServer = new p.ResourceServer(RESOURCE, resourceServer());
    const accessToken = await at.save();
    const rt = new p.RefreshToken({ accountId: u.sub, client, grantId, gty: 'password', scope,
      resource: RESOURCE, rotations: 0 });
    const refreshToken = await rt.save();
    const id = new p.IdToken(userClaims(username), { ctx });
    id.scope = scope;
    const idToken = await id.issue({ use: 'idtoken' });
    ctx.body = { access_token: accessToken, expires_in: at.expiration, refresh_expires_in: rt.expiration,
                 refresh_token: refreshToken, id_token: idToken, token_type: 'Bearer', scope };
  }, ['username', 'password', 'scope']);
  return p;
}

const readBody = (req) => new Promise((res) => { let b = ''; req.on('data', (c) => { b += c; }); req.on('end', () => res(b)); });
const send = (res, code, body, type = 'application/json') => {
  res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
};
const loginPage = (uid, err = '') => `<!doctype html><html><body><h1>Sign in (${REALM})</h1>${err ? `<p id="input-error">${err}</p>` : ''}
<form id="kc-form-login" method="post" action="${PREFIX}/login-actions/${uid}">
<input name="username" id="username"><input name="password" id="password" type="password">
<input type="submit" name="login" id="kc-login" value="Sign In"></form></body></html>`;

async function handle(req, res) {
  const url = new URL(req.url, issuer);
  const path = url.pathname;
  if (!path.startsWith(PREFIX)) return send(res, 404, { error: 'Realm does not exist' });
  const sub = path.slice(PREFIX.length) || '/';
  if (sub === '/protocol/openid-connect/certs') stats.certs += 1;
  if (sub === '/.well-known/openid-configuration') stats.discovery += 1;
  if (sub === '/' && req.method === 'GET') stats.realm += 1;

  // test hooks
  if (sub === '/_test/stats') return send(res, 200, stats);
  if (sub === '/_test/rotate' && req.method === 'POST') {
    stats.rotations += 1;
    keys = [newKey(`standin-rs256-rotated-${stats.rotations}`), ...keys];
    verifyKeys = createLocalJWKSet({ keys: keys.map(publicJwk) });
    provider = buildProvider(issuer);
    provider.on('server_error', (ctx, e) => console.error('server_error', e));
    return send(res, 200, { kid: keys[0].kid, kids: keys.map((k) => k.kid) });
  }
  // GET /realms/<realm>  -> realm info with public_key (python-keycloak KeycloakOpenID.public_key())
  if (sub === '/' && req.method === 'GET') {
    return send(res, 200, { realm: REALM, public_key: publicKeyB64(), 'token-service': `${issuer}/protocol/openid-connect`,
      'account-service': `${issuer}/account`, 'tokens-not-before': 0 });
  }
  // userinfo: Keycloak accepts its JWT access tokens here; oidc-provider refuses tokens with an audience.
  if (sub === '/protocol/openid-connect/userinfo') {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization || '');
    try {
      const { payload } = await jwtVerify(m ? m[1] : '', verifyKeys, { issuer });
      const login = LOGIN_OF_SUB[payload.sub];
      if (!login) throw new Error('no user');
      return send(res, 200, userClaims(login));
    } catch (e) {
      res.setHeader('www-authenticate', 'Bearer error="invalid_token"');
      return send(res, 401, { error: 'invalid_token', error_description: 'Token verification failed' });
    }
  }
  // introspection of JWT access tokens (oidc-provider refuses "structured" tokens; Keycloak accepts them)
  if (sub === '/protocol/openid-connect/token/introspect' && req.method === 'POST') {
    const raw = await readBody(req);
    const form = new URLSearchParams(raw);
    const token = form.get('token') || '';
    if (token.split('.').length === 3) {
      const c = CLIENTS.find((x) => x.client_id === form.get('client_id'));
      if (!c || !c.client_secret || c.client_secret !== form.get('client_secret')) return send(res, 401, { error: 'invalid_client' });
      try {
        const { payload } = await jwtVerify(token, verifyKeys, { issuer });
        return send(res, 200, { ...payload, active: true, client_id: payload.azp, username: payload.preferred_username, token_type: 'Bearer' });
      } catch { return send(res, 200, { active: false }); }
    }
    // opaque / refresh tokens: replay the body into oidc-provider
    const { Readable } = await import('node:stream');
    const replay = Object.assign(Readable.from([Buffer.from(raw)]), { headers: req.headers, method: req.method,
      url: req.url.slice(PREFIX.length), originalUrl: req.url, httpVersion: req.httpVersion, socket: req.socket, connection: req.socket });
    return provider.callback()(replay, res);
  }
  // Keycloak back-channel logout: POST client_id, client_secret, refresh_token -> 204
  if (sub === '/protocol/openid-connect/logout' && req.method === 'POST'
      && (req.headers['content-type'] || '').startsWith('application/x-www-form-urlencoded')) {
    const form = new URLSearchParams(await readBody(req));
    const rt = await provider.RefreshToken.find(form.get('refresh_token') || '');
    if (!rt || rt.clientId !== form.get('client_id')) return send(res, 400, { error: 'invalid_grant', error_description: 'Invalid refresh token' });
    const grant = await provider.Grant.find(rt.grantId);
    await rt.destroy(); if (grant) await grant.destroy();
    res.writeHead(204); return res.end();
  }
  // Login form for the authorization-code flow (field names as in Keycloak's kc-form-login)
  if (sub.startsWith('/login-actions/')) {
    const details = await provider.interactionDetails(req, res);
    if (req.method === 'GET') return send(res, 200, loginPage(details.uid), 'text/html');
    const form = new URLSearchParams(await readBody(req));
    const u = USERS[form.get('username')];
    if (!u || u.password !== form.get('password')) return send(res, 200, loginPage(details.uid, 'Invalid username or password.'), 'text/html');
    const accountId = u.sub;
    const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
    grant.addOIDCScope(details.params.scope || 'openid');
    grant.addResourceScope(RESOURCE, details.params.scope || 'openid');
    const grantId = await grant.save();
    return provider.interactionFinished(req, res, { login: { accountId }, consent: { grantId } }, { mergeWithLastSubmission: false });
  }
  // everything else: oidc-provider mounted at the realm prefix
  req.originalUrl = req.url;
  req.url = req.url.slice(PREFIX.length) || '/';
  return provider.callback()(req, res);
}

const server = http.createServer((req, res) => handle(req, res).catch((e) => {
  console.error(e); if (!res.headersSent) send(res, 500, { error: 'server_error' });
}));
server.listen(PORT, '127.0.0.1', () => {
  const base = `http://127.0.0.1:${server.address().port}`;
  issuer = `${base}${PREFIX}`;
  provider = buildProvider(issuer);
  provider.on('server_error', (ctx, e) => console.error('server_error', e));
  console.log(`READY ${base}/ realm=${REALM}`);
});
process.on('SIGTERM', () => { server.close(() => process.exit(0)); server.closeAllConnections(); });
