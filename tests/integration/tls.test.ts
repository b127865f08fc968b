/**
 * HTTPS served by the service itself (CRS_TLS_CERT_PATH / CRS_TLS_KEY_PATH): checked at start with
 * one-line errors naming the variable, webhooks over TLS, the expiry gauge, and a renewed certificate
 * loaded without a restart (what SIGHUP calls), keeping the old one when the new files are broken.
 * Certificates are made by openssl, as in the Dataverse auth tests.
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { request as plainRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../service/config.js';
import { TlsFileError } from '../../service/http/tls.js';
import { createLogger } from '../../service/log.js';
import { startService, type RunningService } from '../../service/main.js';

const dir = mkdtempSync(join(tmpdir(), 'crs-tls-'));
const path = (name: string) => join(dir, name);

/** A self-signed certificate for 127.0.0.1 with its key. */
function selfSigned(name: string, days: number): void {
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', path(`${name}.key`), '-out', path(`${name}.pem`),
    '-days', String(days), '-subj', `/CN=${name}`, '-addext', 'subjectAltName=IP:127.0.0.1',
  ], { stdio: 'ignore' });
}

beforeAll(() => {
  selfSigned('first', 400);
  selfSigned('renewed', 5); // within the 14-day warning
  execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-aes-128-cbc', '-pass', 'pass:secret', '-out', path('encrypted.key')], { stdio: 'ignore' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const BASE_ENV = { CRS_WEBHOOK_TOKEN: 'tls-token', CRS_POLL_INTERVAL: '0', CRS_PORT: '0', CRS_HOST: '127.0.0.1' };

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig({ ...BASE_ENV, CRS_STORE: `sqlite:${path('config.sqlite')}`, ...env });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('TLS configuration', () => {
  it.each([
    ['a certificate without a key', { CRS_TLS_CERT_PATH: 'first.pem' }, 'CRS_TLS_KEY_PATH', /required when CRS_TLS_CERT_PATH is set/],
    ['a key without a certificate', { CRS_TLS_KEY_PATH: 'first.key' }, 'CRS_TLS_CERT_PATH', /required when CRS_TLS_KEY_PATH is set/],
    ['a key where the certificate belongs', { CRS_TLS_CERT_PATH: 'first.key', CRS_TLS_KEY_PATH: 'first.key' }, 'CRS_TLS_CERT_PATH', /holds no PEM certificate/],
    ['the key of another certificate', { CRS_TLS_CERT_PATH: 'first.pem', CRS_TLS_KEY_PATH: 'renewed.key' }, 'CRS_TLS_KEY_PATH', /is not the private key of the certificate/],
    ['an encrypted key', { CRS_TLS_CERT_PATH: 'first.pem', CRS_TLS_KEY_PATH: 'encrypted.key' }, 'CRS_TLS_KEY_PATH', /holds no unencrypted PEM private key/],
    ['a file that does not exist', { CRS_TLS_CERT_PATH: 'missing.pem', CRS_TLS_KEY_PATH: 'first.key' }, 'CRS_TLS_CERT_PATH', /file does not exist/],
  ])('refuses %s with one line naming the variable', (_label, files, variable, problem) => {
    const env = Object.fromEntries(Object.entries(files).map(([k, v]) => [k, path(v)]));
    const err = configError(env);
    expect(err.variable).toBe(variable);
    expect(err.message).toMatch(problem);
    expect(err.message).not.toContain('\n');
    expect(err.message).not.toContain('BEGIN'); // never the file's content
  });

  it('takes a matching pair', () => {
    const config = loadConfig({ ...BASE_ENV, CRS_TLS_CERT_PATH: path('first.pem'), CRS_TLS_KEY_PATH: path('first.key') });
    expect(config.tls).toEqual({ certPath: path('first.pem'), keyPath: path('first.key') });
    expect(loadConfig(BASE_ENV).tls).toBeUndefined();
  });
});

interface TlsAnswer {
  status: number;
  body: string;
  peerCommonName: string;
}

function httpsCall(port: number, opts: { method: string; path: string; body?: string; ca: Buffer }): Promise<TlsAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, method: opts.method, path: opts.path, ca: opts.ca, agent: false,
      headers: { authorization: 'Bearer tls-token', 'content-type': 'application/json' },
    }, (res) => {
      const peerCommonName = String((res.socket as TLSSocket).getPeerCertificate().subject.CN);
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, peerCommonName }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

describe('the service over HTTPS', () => {
  let service: RunningService;
  const logLines: string[] = [];
  const cert = () => readFileSync(path('tls.pem'));

  beforeAll(async () => {
    copyFileSync(path('first.pem'), path('tls.pem'));
    copyFileSync(path('first.key'), path('tls.key'));
    const config = loadConfig({
      ...BASE_ENV, CRS_STORE: `sqlite:${path('service.sqlite')}`, CRS_TLS_CERT_PATH: path('tls.pem'), CRS_TLS_KEY_PATH: path('tls.key'),
    });
    const logger = createLogger({ level: 'info', destination: { write: (line: string) => void logLines.push(line) } });
    service = await startService(config, { logger, demoHook: async () => undefined });
  });
  afterAll(async () => {
    await service?.stop('test done');
  });

  it('answers webhooks over TLS with the configured certificate, and says so in its URL and metrics', async () => {
    expect(service.url).toBe(`https://127.0.0.1:${service.port}`);
    const answer = await httpsCall(service.port, {
      method: 'POST', path: '/webhooks/campaign/42', ca: cert(),
      body: JSON.stringify({ type: 'unsubscribe', mailingId: 1001, recipientId: 'tls@example.com', timestamp: '2026-11-27T04:00:00Z' }),
    });
    expect(answer).toEqual({ status: 200, body: '{"received":1,"accepted":1,"duplicates":0,"quarantined":0}', peerCommonName: 'first' });
    const metrics = await httpsCall(service.port, { method: 'GET', path: '/metrics', ca: cert() });
    const expiry = new Date(new X509Certificate(cert()).validTo).getTime() / 1000;
    expect(metrics.body).toContain(`crs_tls_certificate_expiry_timestamp_seconds ${expiry}`);
    expect(logLines.some((l) => l.includes('valid until') && l.includes('"level":30'))).toBe(true);
  });

  it('refuses plain HTTP on the TLS port', async () => {
    const outcome = await new Promise<string>((resolve) => {
      const req = plainRequest({ host: '127.0.0.1', port: service.port, method: 'GET', path: '/healthz', agent: false }, (res) => resolve(`HTTP ${res.statusCode}`));
      req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      req.end();
    });
    expect(outcome).not.toBe('HTTP 200');
  });

  it('loads a renewed certificate for new connections, warns that it ends soon, and keeps serving it when the next files are broken', async () => {
    copyFileSync(path('renewed.pem'), path('tls.pem'));
    copyFileSync(path('renewed.key'), path('tls.key'));
    const loaded = service.reloadTls();
    expect(loaded?.subject).toBe('CN=renewed');
    expect((await httpsCall(service.port, { method: 'GET', path: '/healthz', ca: cert() })).peerCommonName).toBe('renewed');
    expect(logLines.some((l) => l.includes('"level":40') && l.includes('renew it, then send SIGHUP'))).toBe(true);
    const renewedCa = cert();

    writeFileSync(path('tls.pem'), 'not a certificate\n');
    expect(() => service.reloadTls()).toThrow(TlsFileError);
    const still = await httpsCall(service.port, { method: 'GET', path: '/healthz', ca: renewedCa });
    expect(still).toMatchObject({ status: 200, peerCommonName: 'renewed' });
  });
});

describe('crs serve with TLS, as a process', () => {
  it('loads the renewed certificate on SIGHUP and keeps running', async () => {
    copyFileSync(path('first.pem'), path('proc.pem'));
    copyFileSync(path('first.key'), path('proc.key'));
    const child = spawn(process.execPath, [fileURLToPath(new URL('../../scripts/crs.mjs', import.meta.url)), 'serve'], {
      env: {
        ...process.env, ...BASE_ENV, CRS_STORE: `sqlite:${path('proc.sqlite')}`, CRS_DATAVERSE_URL: '',
        CRS_TLS_CERT_PATH: path('proc.pem'), CRS_TLS_KEY_PATH: path('proc.key'),
        // Demo mode in ONE process (as kill9.test.ts does), so the signal reaches the service itself.
        CRS_DEMO_CA_READY: '1', NODE_EXTRA_CA_CERTS: fileURLToPath(new URL('../emulators/dataverse/certs/ca.pem', import.meta.url)),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stderr!.on('data', (c: Buffer) => (out += c.toString()));
    try {
      const port = await new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`service did not start:\n${out}`)), 30_000);
        child.on('exit', (code) => reject(new Error(`service exited with ${code}:\n${out}`)));
        child.stdout!.on('data', (c: Buffer) => {
          out += c.toString();
          const line = out.split('\n').find((l) => l.includes('"listening on https://'));
          if (line) {
            clearTimeout(timer);
            resolve((JSON.parse(line) as { port: number }).port);
          }
        });
      });
      const first = await httpsCall(port, { method: 'GET', path: '/healthz', ca: readFileSync(path('first.pem')) });
      expect(first).toMatchObject({ status: 200, peerCommonName: 'first' });

      copyFileSync(path('renewed.pem'), path('proc.pem'));
      copyFileSync(path('renewed.key'), path('proc.key'));
      child.kill('SIGHUP');
      await expect.poll(() => out.includes('renew it, then send SIGHUP'), { timeout: 10_000 }).toBe(true);
      const renewed = await httpsCall(port, { method: 'GET', path: '/healthz', ca: readFileSync(path('renewed.pem')) });
      expect(renewed).toMatchObject({ status: 200, peerCommonName: 'renewed' });
      expect(child.exitCode).toBeNull();
    } finally {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
    }
  });
});
