import { execFileSync } from 'node:child_process';
import { constants, createHash, createPublicKey, verify, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from '@azure/msal-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadClientCertificate, msalConfiguration, MsalTokenProvider, parseClientCertificate } from '../../service/dataverse/auth.js';

const HOST = 'https://login.emulator.test';
const TENANT = '72f988bf-0000-0000-0000-000000000001';

let dir: string;
let pemPath: string;
let otherKeyPem: string;

function openssl(args: string[]): void {
  execFileSync('openssl', args, { stdio: 'ignore' });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'crs-auth-'));
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'), '-days', '2', '-subj', '/CN=crs-test']);
  openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', join(dir, 'other.pem')]);
  pemPath = join(dir, 'both.pem');
  writeFileSync(pemPath, readFileSync(join(dir, 'key.pem'), 'utf8') + readFileSync(join(dir, 'cert.pem'), 'utf8'));
  otherKeyPem = readFileSync(join(dir, 'other.pem'), 'utf8');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** msal's transport, answered in memory: OpenID metadata and the token endpoint of HOST/TENANT. */
class FakeAuthority implements INetworkModule {
  readonly gets: string[] = [];
  readonly posts: Array<{ url: string; form: URLSearchParams }> = [];
  tokensIssued = 0;

  async sendGetRequestAsync<T>(url: string): Promise<NetworkResponse<T>> {
    this.gets.push(url);
    const base = `${HOST}/${TENANT}`;
    const body = {
      token_endpoint: `${base}/oauth2/v2.0/token`,
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      issuer: `${base}/v2.0`,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      jwks_uri: `${base}/discovery/v2.0/keys`,
      response_types_supported: ['code', 'token'],
    };
    return { status: 200, headers: {}, body: body as T };
  }

  async sendPostRequestAsync<T>(url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
    const form = new URLSearchParams(options?.body ?? '');
    this.posts.push({ url, form });
    this.tokensIssued += 1;
    const body = { token_type: 'Bearer', expires_in: 3600, ext_expires_in: 3600, access_token: `access-${this.tokensIssued}` };
    return { status: 200, headers: {}, body: body as T };
  }
}

function decodeJwt(jwt: string) {
  const [h, p, s] = jwt.split('.') as [string, string, string];
  return {
    header: JSON.parse(Buffer.from(h, 'base64url').toString()) as Record<string, string>,
    payload: JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>,
    signingInput: `${h}.${p}`,
    signature: Buffer.from(s, 'base64url'),
  };
}

describe('client certificate (CRS_CLIENT_CERT_PATH)', () => {
  it('reads certificate and key from one PEM and computes the SHA-256 thumbprint', () => {
    const cert = loadClientCertificate(pemPath);
    const der = new X509Certificate(readFileSync(join(dir, 'cert.pem'))).raw;
    expect(cert.thumbprintSha256).toBe(createHash('sha256').update(der).digest('hex'));
    expect(cert.privateKey).toContain('-----BEGIN PRIVATE KEY-----');
    expect(cert.certificatePem).toContain('-----BEGIN CERTIFICATE-----');
  });

  it.each([
    ['a missing file', () => loadClientCertificate(join(tmpdir(), 'crs-no-such-file.pem')), /cannot read/],
    ['no certificate', () => parseClientCertificate(otherKeyPem), /no "BEGIN CERTIFICATE"/],
    ['no key', () => parseClientCertificate(readFileSync(join(dir, 'cert.pem'), 'utf8')), /no private key/],
    ['a key of another certificate', () => parseClientCertificate(otherKeyPem + readFileSync(join(dir, 'cert.pem'), 'utf8')), /does not belong/],
  ])('rejects %s with one clear line', (_name, load, message) => {
    expect(load).toThrow(message);
  });

  it('signs the client assertion with the certificate key, identified by its thumbprint', async () => {
    const authority = new FakeAuthority();
    const certificate = loadClientCertificate(pemPath);
    const provider = new MsalTokenProvider({
      authorityHost: HOST, tenantId: TENANT, clientId: 'app-1', certificate, dataverseUrl: 'https://org.crm4.dynamics.com/', networkClient: authority,
    });
    expect(await provider.getToken()).toBe('access-1');
    const { url, form } = authority.posts[0]!;
    expect(url.split('?')[0]).toBe(`${HOST}/${TENANT}/oauth2/v2.0/token`);
    expect(form.get('grant_type')).toBe('client_credentials');
    expect(form.get('scope')).toContain('https://org.crm4.dynamics.com/.default');
    expect(form.get('client_secret')).toBeNull();
    expect(form.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    const jwt = decodeJwt(form.get('client_assertion')!);
    expect(jwt.header['x5t#S256']).toBe(Buffer.from(certificate.thumbprintSha256, 'hex').toString('base64url'));
    expect(jwt.payload).toMatchObject({ iss: 'app-1', sub: 'app-1', aud: `${HOST}/${TENANT}/oauth2/v2.0/token` });
    const publicKey = createPublicKey(certificate.certificatePem);
    const ok = jwt.header.alg === 'PS256'
      ? verify('sha256', Buffer.from(jwt.signingInput), { key: publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, jwt.signature)
      : verify('sha256', Buffer.from(jwt.signingInput), publicKey, jwt.signature);
    expect(ok).toBe(true);
    // The emulator is its own authority: msal never asks Microsoft's instance discovery.
    expect(authority.gets.every((u) => u.startsWith(`${HOST}/`))).toBe(true);
  });
});

describe('MsalTokenProvider', () => {
  it('uses the secret, caches the token until near expiry, and fetches a new one after invalidate()', async () => {
    const authority = new FakeAuthority();
    let now = Date.now();
    const provider = new MsalTokenProvider({
      authorityHost: `${HOST}/`, tenantId: TENANT, clientId: 'app-1', clientSecret: 's3cret', dataverseUrl: 'https://org.crm4.dynamics.com', networkClient: authority, now: () => now,
    });
    const [a, b] = await Promise.all([provider.getToken(), provider.getToken()]);
    expect([a, b]).toEqual(['access-1', 'access-1']);
    expect(await provider.getToken()).toBe('access-1');
    expect(authority.posts).toHaveLength(1);
    expect(authority.posts[0]!.form.get('client_secret')).toBe('s3cret');

    provider.invalidate();
    expect(await provider.getToken()).toBe('access-2');
    expect(authority.posts).toHaveLength(2);

    now += 56 * 60_000; // within 5 minutes of the 60-minute expiry
    expect(await provider.getToken()).toBe('access-3');
    expect(authority.posts).toHaveLength(3);
  });

  it('configures knownAuthorities only for a non-Microsoft authority host', () => {
    const base = { tenantId: TENANT, clientId: 'c', clientSecret: 's', dataverseUrl: 'https://org.crm.dynamics.com' };
    expect(msalConfiguration({ ...base, authorityHost: 'https://127.0.0.1:8443' }).auth).toMatchObject({
      authority: `https://127.0.0.1:8443/${TENANT}`, knownAuthorities: ['127.0.0.1:8443'],
    });
    const microsoft = msalConfiguration({ ...base, authorityHost: 'https://login.microsoftonline.com' }).auth;
    expect(microsoft.authority).toBe(`https://login.microsoftonline.com/${TENANT}`);
    expect(microsoft.knownAuthorities).toBeUndefined();
    expect(() => msalConfiguration({ ...base, clientSecret: undefined, authorityHost: HOST })).toThrow(/CRS_CLIENT_SECRET or CRS_CLIENT_CERT_PATH/);
  });
});
