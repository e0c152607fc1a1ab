// A real OpenID Connect provider on loopback for Tipline's OIDC sign-in tests.
// Configured by environment (JSON), prints "listening <issuer>" when ready:
//   PORT            port on 127.0.0.1
//   CLIENTS         [{client_id, client_secret?, redirect_uris}]
//   ACCOUNTS        {"<login>": {email, email_verified, name}}; any other login is <login>@example.com, verified
//   CLOCK_OFFSET_S  run this provider's clock that many seconds behind (to issue already-expired tokens)
//   ID_TOKEN_TTL_S  ID token lifetime
//   JWKS            private signing keys ({keys: [...]}); two providers given the same keys differ only by issuer
const offset = Number(process.env.CLOCK_OFFSET_S || 0) * 1000;
if (offset) {
  const realNow = Date.now.bind(Date);
  Date.now = () => realNow() - offset;
}

const { default: Provider } = await import('oidc-provider');

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const accounts = JSON.parse(process.env.ACCOUNTS || '{}');
const clients = JSON.parse(process.env.CLIENTS || '[]').map((c) => ({
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: c.client_secret ? 'client_secret_basic' : 'none',
  ...c,
}));

const provider = new Provider(issuer, {
  clients,
  cookies: { keys: ['tipline-test-cookie-key'] },
  ...(process.env.JWKS ? { jwks: JSON.parse(process.env.JWKS) } : {}),
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
  },
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
  ttl: { IdToken: Number(process.env.ID_TOKEN_TTL_S || 3600) },
  async findAccount(ctx, id) {
    const known = accounts[id] || { email: `${id}@example.com`, email_verified: true, name: id };
    return {
      accountId: id,
      async claims() {
        return { sub: id, preferred_username: id, ...known };
      },
    };
  },
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
