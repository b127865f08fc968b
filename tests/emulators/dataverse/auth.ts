/**
 * The emulator is also the OAuth authority: OpenID configuration, instance discovery and a
 * client-credentials token endpoint, so @azure/msal-node runs its real code path against it.
 * Tokens are HS256 JWTs signed with a per-process key; expiry and audience are enforced.
 */
import { createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';

export interface TokenClaims {
  aud: string;
  iss: string;
  appid: string;
  tid: string;
  oid: string;
  iat: number;
  nbf: number;
  exp: number;
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

export class Authority {
  private readonly key = randomBytes(32);
  /** Tokens of an older generation are rejected (revokeAll lets tests force a refresh). */
  private generation = 0;
  private readonly verified = new Map<string, TokenClaims>();

  constructor(
    private readonly cfg: {
      origin: string; tenantId: string; clientId: string; clientSecret: string; tokenLifetimeSeconds: number; resource: string;
      /** More app registrations (each is its own caller for the service protection limits). */
      extraClients?: readonly { clientId: string; clientSecret: string }[];
    },
  ) {}

  private secretOf(clientId: string): string | undefined {
    if (clientId === this.cfg.clientId) return this.cfg.clientSecret;
    return this.cfg.extraClients?.find((c) => c.clientId === clientId)?.clientSecret;
  }

  openIdConfiguration(): Record<string, unknown> {
    const { origin, tenantId } = this.cfg;
    return {
      token_endpoint: `${origin}/${tenantId}/oauth2/v2.0/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${origin}/${tenantId}/discovery/v2.0/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: `${origin}/${tenantId}/v2.0`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${origin}/oidc/userinfo`,
      authorization_endpoint: `${origin}/${tenantId}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${origin}/${tenantId}/oauth2/v2.0/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${origin}/${tenantId}/oauth2/v2.0/logout`,
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'tid'],
      tenant_region_scope: 'EU',
      cloud_instance_name: new URL(origin).host,
    };
  }

  instanceDiscovery(): Record<string, unknown> {
    const host = new URL(this.cfg.origin).host;
    return {
      tenant_discovery_endpoint: `${this.cfg.origin}/${this.cfg.tenantId}/v2.0/.well-known/openid-configuration`,
      'api-version': '1.1',
      metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
    };
  }

  private oauthError(status: number, error: string, code: number, description: string): { status: number; body: Record<string, unknown> } {
    return {
      status,
      body: {
        error, error_description: `AADSTS${code}: ${description}\r\nTrace ID: ${randomUUID()}\r\nCorrelation ID: ${randomUUID()}\r\nTimestamp: ${new Date().toISOString()}`,
        error_codes: [code], timestamp: new Date().toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z'), trace_id: randomUUID(), correlation_id: randomUUID(),
      },
    };
  }

  private secretMatches(given: string, expected: string): boolean {
    const a = Buffer.from(given);
    const b = Buffer.from(expected);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** Client-credentials grant (form body), with client_secret_post, client_secret_basic or a client assertion. */
  token(form: URLSearchParams, authorization: string | undefined): { status: number; body: Record<string, unknown> } {
    if (form.get('grant_type') !== 'client_credentials') {
      return this.oauthError(400, 'unsupported_grant_type', 70003, 'The app requested an unsupported grant type.');
    }
    let clientId = form.get('client_id') ?? '';
    let secret = form.get('client_secret');
    if (authorization?.startsWith('Basic ')) {
      const [u, p] = Buffer.from(authorization.slice(6), 'base64').toString().split(':');
      clientId = decodeURIComponent(u ?? '');
      secret = decodeURIComponent(p ?? '');
    }
    const expectedSecret = this.secretOf(clientId);
    if (expectedSecret === undefined) {
      return this.oauthError(400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory '${this.cfg.tenantId}'.`);
    }
    const assertion = form.get('client_assertion');
    if (assertion) {
      // A certificate credential: the emulator checks the assertion's claims, not its signature
      // (it does not know the app's certificate).
      const payload = this.decodePayload(assertion);
      if (!payload || payload.iss !== clientId || payload.sub !== clientId || typeof payload.exp !== 'number' || payload.exp * 1000 < Date.now()) {
        return this.oauthError(401, 'invalid_client', 700027, 'Client assertion failed signature validation.');
      }
    } else if (!secret || !this.secretMatches(secret, expectedSecret)) {
      return this.oauthError(401, 'invalid_client', 7000215, 'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.');
    }
    const scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
    const resource = this.cfg.resource;
    const scope = scopes.find((s) => s.endsWith('/.default'));
    if (!scope || scopes.length === 0) {
      return this.oauthError(400, 'invalid_scope', 1002012, 'The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).');
    }
    const aud = scope.slice(0, -'/.default'.length).replace(/\/$/, '');
    let sameResource = false;
    try { sameResource = new URL(aud).origin === new URL(resource).origin; } catch { sameResource = false; }
    if (!sameResource) {
      return this.oauthError(400, 'invalid_resource', 500011, `The resource principal named ${aud} was not found in the tenant named ${this.cfg.tenantId}.`);
    }
    const now = Math.floor(Date.now() / 1000);
    const life = this.cfg.tokenLifetimeSeconds;
    const claims: TokenClaims = {
      aud: `${resource}/`, iss: `https://sts.windows.net/${this.cfg.tenantId}/`, appid: clientId, tid: this.cfg.tenantId,
      oid: '00000000-0000-0000-0000-0000000000a1', iat: now, nbf: now, exp: now + life,
    };
    const head = b64url(JSON.stringify({ typ: 'JWT', alg: 'HS256' }));
    const body = b64url(JSON.stringify({ ...claims, gen: this.generation, jti: randomUUID() }));
    const sig = createHmac('sha256', this.key).update(`${head}.${body}`).digest('base64url');
    return { status: 200, body: { token_type: 'Bearer', expires_in: life, ext_expires_in: life, access_token: `${head}.${body}.${sig}` } };
  }

  private decodePayload(jwt: string): Record<string, unknown> | null {
    try {
      return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>;
    } catch {
      return null;
    }
  }

  /** Returns the caller's claims, or null when the bearer token is missing, forged, expired or for another audience. */
  verify(authorization: string | undefined): TokenClaims | null {
    if (!authorization?.startsWith('Bearer ')) return null;
    const token = authorization.slice(7).trim();
    let claims = this.verified.get(token);
    if (!claims) {
      const [h, b, s] = token.split('.');
      if (!h || !b || !s) return null;
      const expected = createHmac('sha256', this.key).update(`${h}.${b}`).digest('base64url');
      if (expected.length !== s.length || !timingSafeEqual(Buffer.from(expected), Buffer.from(s))) return null;
      claims = this.decodePayload(token) as unknown as TokenClaims;
      if (this.verified.size > 10_000) this.verified.clear();
      this.verified.set(token, claims);
    }
    const now = Math.floor(Date.now() / 1000);
    if (claims.exp <= now || (claims as TokenClaims & { gen?: number }).gen !== this.generation) return null;
    if (claims.aud.replace(/\/$/, '') !== this.cfg.resource) return null;
    return claims;
  }

  /** Invalidates every token issued so far (tests of the 401 → refresh path). */
  revokeAll(): void {
    this.generation++;
    this.verified.clear();
  }

  wwwAuthenticate(): string {
    return `Bearer authorization_uri=${this.cfg.origin}/${this.cfg.tenantId}/oauth2/authorize, resource_id=${this.cfg.resource}/`;
  }
}
