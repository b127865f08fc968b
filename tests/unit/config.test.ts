import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseInterval, parseIpList, parseRetention } from '../../service/config.js';

const production = {
  CRS_DATAVERSE_URL: 'https://contoso.crm4.dynamics.com/',
  CRS_TENANT_ID: 'tenant',
  CRS_CLIENT_ID: 'client',
  CRS_CLIENT_SECRET: 'very-secret-value',
  CRS_WEBHOOK_TOKEN: 'hook-token',
};

function errorOf(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig defaults', () => {
  it('applies the §5 defaults and starts in demo mode', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      storeUrl: 'sqlite:./data/crs.sqlite',
      demoMode: true,
      pollIntervalMs: 3_600_000,
      eventRetentionMs: 30 * 86_400_000,
      responseGranularity: 'aggregate',
      logLevel: 'info',
      spamComplaintOptOut: true,
      bounceHardLimit: 3,
      bounceSoftLimit: 5,
      workerBatchSize: 100,
      dataverse: { authorityHost: 'https://login.microsoftonline.com', maxConcurrency: 52 },
      campaign: { apiUrl: 'https://api.campaign.episerver.net/rest' },
      webhook: { allowedIps: [], auth: 'none' },
    });
    expect(c.adminToken).toBeUndefined();
    expect(c.warnings.join(' ')).toMatch(/demo/);
  });

  it('treats empty values as unset', () => {
    expect(loadConfig({ CRS_PORT: '', CRS_DATAVERSE_URL: ' ' }).port).toBe(8080);
    expect(loadConfig({ CRS_DATAVERSE_URL: '' }).demoMode).toBe(true);
  });

  it('parses a complete production configuration', () => {
    const c = loadConfig({ ...production, CRS_PORT: '0', CRS_STORE: 'postgres://u:p@db/crs', CRS_POLL_INTERVAL: '15m' });
    expect(c.demoMode).toBe(false);
    expect(c.port).toBe(0);
    expect(c.dataverse.url).toBe('https://contoso.crm4.dynamics.com');
    expect(c.webhook.auth).toBe('required');
    expect(c.pollIntervalMs).toBe(900_000);
    expect(c.warnings).toEqual([]);
  });

  it.each([
    ['CRS_SPAM_COMPLAINT_OPTOUT', 'false', 'spamComplaintOptOut', false],
    ['CRS_SPAM_COMPLAINT_OPTOUT', 'NO', 'spamComplaintOptOut', false],
    ['CRS_SPAM_COMPLAINT_OPTOUT', '1', 'spamComplaintOptOut', true],
    ['CRS_RESPONSE_GRANULARITY', 'EVENT', 'responseGranularity', 'event'],
    ['CRS_LOG_LEVEL', 'debug', 'logLevel', 'debug'],
    ['CRS_BOUNCE_HARD_LIMIT', '2', 'bounceHardLimit', 2],
    ['CRS_WORKER_BATCH_SIZE', '250', 'workerBatchSize', 250],
    ['CRS_POLL_INTERVAL', '0', 'pollIntervalMs', 0],
    ['CRS_EVENT_RETENTION', '0', 'eventRetentionMs', 0],
    ['CRS_EVENT_RETENTION', '45d', 'eventRetentionMs', 45 * 86_400_000],
    ['CRS_EVENT_RETENTION', '1d', 'eventRetentionMs', 86_400_000],
    ['CRS_EVENT_RETENTION', '36h', 'eventRetentionMs', 36 * 3_600_000],
    ['CRS_EVENT_RETENTION', '86400', 'eventRetentionMs', 86_400_000],
  ])('%s=%s sets %s', (name, value, key, expected) => {
    expect(loadConfig({ [name]: value })[key as keyof ReturnType<typeof loadConfig>]).toEqual(expected);
  });
});

describe('loadConfig refuses wrong values with one line naming the variable', () => {
  it.each([
    [{ CRS_PORT: 'abc' }, 'CRS_PORT'],
    [{ CRS_PORT: '65536' }, 'CRS_PORT'],
    [{ CRS_PORT: '-1' }, 'CRS_PORT'],
    [{ CRS_STORE: 'mysql://x' }, 'CRS_STORE'],
    [{ CRS_STORE: 'sqlite:' }, 'CRS_STORE'],
    [{ CRS_DATAVERSE_URL: 'contoso' }, 'CRS_DATAVERSE_URL'],
    [{ CRS_AUTHORITY_HOST: 'ftp://x' }, 'CRS_AUTHORITY_HOST'],
    [{ CRS_CAMPAIGN_API_URL: 'nope' }, 'CRS_CAMPAIGN_API_URL'],
    [{ CRS_WEBHOOK_ALLOWED_IPS: '193.169.180.1,foo' }, 'CRS_WEBHOOK_ALLOWED_IPS'],
    [{ CRS_WEBHOOK_ALLOWED_IPS: '10.0.0.0/33' }, 'CRS_WEBHOOK_ALLOWED_IPS'],
    [{ CRS_WEBHOOK_ALLOWED_IPS: '::1/129' }, 'CRS_WEBHOOK_ALLOWED_IPS'],
    [{ CRS_WEBHOOK_AUTH: 'basic' }, 'CRS_WEBHOOK_AUTH'],
    [{ CRS_POLL_INTERVAL: '1d' }, 'CRS_POLL_INTERVAL'],
    [{ CRS_POLL_INTERVAL: '-5' }, 'CRS_POLL_INTERVAL'],
    [{ CRS_EVENT_RETENTION: 'forever' }, 'CRS_EVENT_RETENTION'],
    [{ CRS_EVENT_RETENTION: '1.5d' }, 'CRS_EVENT_RETENTION'],
    [{ CRS_EVENT_RETENTION: '-30d' }, 'CRS_EVENT_RETENTION'],
    [{ CRS_EVENT_RETENTION: '4w' }, 'CRS_EVENT_RETENTION'],
    [{ CRS_EVENT_RETENTION: '36501d' }, 'CRS_EVENT_RETENTION'],
    [{ CRS_RESPONSE_GRANULARITY: 'daily' }, 'CRS_RESPONSE_GRANULARITY'],
    [{ CRS_LOG_LEVEL: 'verbose' }, 'CRS_LOG_LEVEL'],
    [{ CRS_SPAM_COMPLAINT_OPTOUT: 'maybe' }, 'CRS_SPAM_COMPLAINT_OPTOUT'],
    [{ CRS_BOUNCE_HARD_LIMIT: '0' }, 'CRS_BOUNCE_HARD_LIMIT'],
    [{ CRS_BOUNCE_SOFT_LIMIT: 'x' }, 'CRS_BOUNCE_SOFT_LIMIT'],
    [{ CRS_DATAVERSE_MAX_CONCURRENCY: '53' }, 'CRS_DATAVERSE_MAX_CONCURRENCY'],
    [{ CRS_WORKER_BATCH_SIZE: '0' }, 'CRS_WORKER_BATCH_SIZE'],
    [{ CRS_CLIENT_CERT_PATH: '/nonexistent/cert.pem' }, 'CRS_CLIENT_CERT_PATH'],
    [{ CRS_WEBHOOK_USER: 'campaign' }, 'CRS_WEBHOOK_PASSWORD'],
    [{ CRS_WEBHOOK_PASSWORD: 'pw' }, 'CRS_WEBHOOK_USER'],
    [{ CRS_CAMPAIGN_API_USER: 'api' }, 'CRS_CAMPAIGN_API_PASSWORD'],
    [{ CRS_CAMPAIGN_API_PASSWORD: 'pw' }, 'CRS_CAMPAIGN_API_USER'],
    [{ CRS_WEBHOOK_AUTH: 'none', CRS_WEBHOOK_TOKEN: 't' }, 'CRS_WEBHOOK_AUTH'],
  ])('%o → %s', (env, variable) => {
    const err = errorOf(env);
    expect(err.variable).toBe(variable);
    expect(err.message.startsWith(`${variable}: `)).toBe(true);
    expect(err.message).not.toContain('\n');
  });

  it('outside demo mode requires complete Dataverse settings', () => {
    const { CRS_TENANT_ID: _t, ...noTenant } = production;
    expect(errorOf(noTenant).variable).toBe('CRS_TENANT_ID');
    const { CRS_CLIENT_ID: _c, ...noClient } = production;
    expect(errorOf(noClient).variable).toBe('CRS_CLIENT_ID');
    const { CRS_CLIENT_SECRET: _s, ...noSecret } = production;
    expect(errorOf(noSecret).variable).toBe('CRS_CLIENT_SECRET');
  });

  it('accepts a certificate path instead of the secret', () => {
    const dir = mkdtempSync(join(tmpdir(), 'crs-config-'));
    try {
      const cert = join(dir, 'cert.pem');
      writeFileSync(cert, 'pem');
      const { CRS_CLIENT_SECRET: _s, ...noSecret } = production;
      expect(loadConfig({ ...noSecret, CRS_CLIENT_CERT_PATH: cert }).dataverse.clientCertPath).toBe(cert);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('outside demo mode requires webhook authentication unless CRS_WEBHOOK_AUTH=none', () => {
    const { CRS_WEBHOOK_TOKEN: _w, ...noAuth } = production;
    expect(errorOf(noAuth).variable).toBe('CRS_WEBHOOK_TOKEN');
    const explicit = loadConfig({ ...noAuth, CRS_WEBHOOK_AUTH: 'none' });
    expect(explicit.webhook.auth).toBe('none');
    expect(explicit.warnings).toHaveLength(1);
    expect(loadConfig({ ...noAuth, CRS_WEBHOOK_USER: 'u', CRS_WEBHOOK_PASSWORD: 'p' }).webhook.auth).toBe('required');
  });

  it('never echoes secret values', () => {
    const secret = 'postgres://user:hunter2@db/crs; DROP';
    const err = errorOf({ CRS_STORE: `mysql${secret}` });
    expect(err.message).not.toContain('hunter2');
  });
});

describe('parseInterval', () => {
  it.each([
    ['0', 0],
    ['30', 30_000],
    ['30s', 30_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    ['1H', 3_600_000],
  ])('%s → %d ms', (input, ms) => expect(parseInterval(input)).toBe(ms));
  it.each(['', 'h', '1.5h', '1d', 'soon'])('%s is refused', (input) => expect(parseInterval(input)).toBeNull());
});

describe('CRS_EVENT_RETENTION below one day', () => {
  it.each(['23h', '1h', '1439m', '86399', '1s'])('%s is refused at start, with the reason on one line', (value) => {
    const err = errorOf({ CRS_EVENT_RETENTION: value });
    expect(err.variable).toBe('CRS_EVENT_RETENTION');
    expect(err.message).toMatch(/^CRS_EVENT_RETENTION: must be 0 or at least 1d/);
    expect(err.message).not.toContain('\n');
  });
});

describe('parseRetention', () => {
  it.each([
    ['0', 0],
    ['30d', 30 * 86_400_000],
    ['2D', 2 * 86_400_000],
    ['48h', 48 * 3_600_000],
    ['90m', 5_400_000],
    ['100', 100_000],
  ])('%s → %d ms', (input, ms) => expect(parseRetention(input)).toBe(ms));
  it.each(['', 'd', '1.5d', '-1d', '1w', 'soon'])('%s is refused', (input) => expect(parseRetention(input)).toBeNull());
});

describe('parseIpList', () => {
  it('parses addresses and CIDRs of both families', () => {
    expect(parseIpList('193.169.180.1, 10.0.0.0/8 ::1;2001:db8::/32')).toEqual({
      rules: [
        { address: '193.169.180.1', prefix: 32, family: 'ipv4' },
        { address: '10.0.0.0', prefix: 8, family: 'ipv4' },
        { address: '::1', prefix: 128, family: 'ipv6' },
        { address: '2001:db8::', prefix: 32, family: 'ipv6' },
      ],
    });
  });
  it.each(['300.1.1.1', '1.2.3.4/8/1', 'host.example', '1.2.3.4/x'])('%s is refused', (input) => {
    expect(parseIpList(input)).toHaveProperty('error');
  });
});

