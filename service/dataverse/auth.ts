/**
 * Tokens for the Dataverse Web API: Entra ID client credentials through @azure/msal-node, with a
 * client secret or a certificate (CRS_CLIENT_CERT_PATH: PEM holding the certificate and its
 * private key; the SHA-256 thumbprint is computed from the certificate).
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfidentialClientApplication, LogLevel, type Configuration, type INetworkModule } from '@azure/msal-node';

export interface TokenProvider {
  /** A bearer token for the Dataverse environment (cached until near expiry). */
  getToken(): Promise<string>;
  /** Forgets the cached token (after a 401), so the next getToken fetches a new one. */
  invalidate(): void;
}

export interface ClientCertificate {
  /** PKCS#8 PEM private key. */
  privateKey: string;
  /** Hex SHA-256 thumbprint of the certificate, no separators. */
  thumbprintSha256: string;
  /** The public certificate PEM (sent as x5c for subject-name/issuer authentication). */
  certificatePem: string;
}

/** Reads a PEM file with a certificate and its private key (any order; RSA/EC/PKCS#8 keys). */
export function loadClientCertificate(path: string): ClientCertificate {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`CRS_CLIENT_CERT_PATH: cannot read ${path}: ${(error as Error).message}`);
  }
  return parseClientCertificate(pem, path);
}

export function parseClientCertificate(pem: string, source = 'certificate'): ClientCertificate {
  const certificatePem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(pem)?.[0];
  if (!certificatePem) throw new Error(`${source}: no "BEGIN CERTIFICATE" block found`);
  const keyPem = /-----BEGIN (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC |ENCRYPTED )?PRIVATE KEY-----/.exec(pem)?.[0];
  if (!keyPem) throw new Error(`${source}: no private key block found (the PEM must hold the certificate and its private key)`);
  let privateKey: string;
  try {
    privateKey = createPrivateKey(keyPem).export({ type: 'pkcs8', format: 'pem' }).toString();
  } catch (error) {
    throw new Error(`${source}: unreadable private key: ${(error as Error).message}`);
  }
  const certificate = new X509Certificate(certificatePem);
  if (!certificate.checkPrivateKey(createPrivateKey(privateKey))) {
    throw new Error(`${source}: the private key does not belong to the certificate`);
  }
  return { privateKey, thumbprintSha256: certificate.fingerprint256.replace(/:/g, '').toLowerCase(), certificatePem };
}

export interface MsalSettings {
  authorityHost: string;
  tenantId: string;
  clientId: string;
  clientSecret?: string;
  certificate?: ClientCertificate;
  /** The environment URL; the scope is `<url>/.default`. */
  dataverseUrl: string;
  /** Refresh this long before expiry. */
  refreshMarginMs?: number;
  now?: () => number;
  /** Unit tests only: msal's HTTP transport (production uses msal's own https client). */
  networkClient?: INetworkModule;
}

const MICROSOFT_AUTHORITY_HOSTS = new Set([
  'login.microsoftonline.com',
  'login.microsoftonline.us',
  'login.chinacloudapi.cn',
  'login.partner.microsoftonline.cn',
  'login.microsoftonline.de',
  'login.windows.net',
  'login.microsoft.com',
  'sts.windows.net',
]);

export function msalConfiguration(settings: MsalSettings): Configuration {
  const host = settings.authorityHost.replace(/\/+$/, '');
  const auth: Configuration['auth'] = {
    clientId: settings.clientId,
    authority: `${host}/${settings.tenantId}`,
  };
  // A non-Microsoft host (the test emulator, ADFS-like setups) is its own authority: listing it
  // stops msal from asking Microsoft's instance-discovery endpoint about it.
  const hostname = new URL(host).hostname.toLowerCase();
  if (!MICROSOFT_AUTHORITY_HOSTS.has(hostname)) auth.knownAuthorities = [new URL(host).host];
  if (settings.certificate) {
    auth.clientCertificate = {
      thumbprintSha256: settings.certificate.thumbprintSha256,
      privateKey: settings.certificate.privateKey,
      x5c: settings.certificate.certificatePem,
    };
  } else if (settings.clientSecret) {
    auth.clientSecret = settings.clientSecret;
  } else {
    throw new Error('Dataverse auth needs CRS_CLIENT_SECRET or CRS_CLIENT_CERT_PATH');
  }
  return {
    auth,
    // Never let msal log tokens or personal data; errors only.
    system: {
      loggerOptions: { piiLoggingEnabled: false, logLevel: LogLevel.Error, loggerCallback: () => undefined },
      ...(settings.networkClient ? { networkClient: settings.networkClient } : {}),
    },
  };
}

export class MsalTokenProvider implements TokenProvider {
  private readonly app: ConfidentialClientApplication;
  private readonly scope: string;
  private cached: { token: string; expiresAt: number; refreshAt: number } | undefined;
  private pending: Promise<string> | undefined;
  private readonly now: () => number;
  private readonly marginMs: number;

  constructor(settings: MsalSettings) {
    this.app = new ConfidentialClientApplication(msalConfiguration(settings));
    this.scope = `${settings.dataverseUrl.replace(/\/+$/, '')}/.default`;
    this.now = settings.now ?? Date.now;
    this.marginMs = settings.refreshMarginMs ?? 5 * 60_000;
  }

  async getToken(): Promise<string> {
    if (this.cached && this.cached.refreshAt > this.now()) return this.cached.token;
    // One token request at a time, however many requests are waiting for it.
    this.pending ??= this.acquire().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  invalidate(): void {
    this.cached = undefined;
  }

  private async acquire(): Promise<string> {
    // This provider's cache decides when a token is due (near expiry, or refused with 401), so
    // msal must not answer from its own cache then.
    const result = await this.app.acquireTokenByClientCredential({ scopes: [this.scope], skipCache: true });
    if (!result?.accessToken) throw new Error('token endpoint returned no access token');
    const now = this.now();
    const expiresAt = result.expiresOn ? result.expiresOn.getTime() : now + 5 * 60_000;
    // Refresh `marginMs` before expiry, or at 80 % of the lifetime for short-lived tokens.
    const refreshAt = expiresAt - Math.min(this.marginMs, (expiresAt - now) * 0.2);
    this.cached = { token: result.accessToken, expiresAt, refreshAt };
    return result.accessToken;
  }
}

/** A fixed token source for unit tests and tools (never used by the service's production path). */
export class StaticTokenProvider implements TokenProvider {
  invalidations = 0;
  constructor(private readonly tokens: () => string) {}
  async getToken(): Promise<string> {
    return this.tokens();
  }
  invalidate(): void {
    this.invalidations += 1;
  }
}
