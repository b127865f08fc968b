/**
 * Access rules of the HTTP app (fastify inject against an in-memory SQLite store): IP allow-list,
 * admin API off without a token, CRS_WEBHOOK_AUTH=none, store outages and readiness.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../service/config.js';
import { buildApp } from '../../service/http/app.js';
import { readStatus } from '../../service/http/admin.js';
import { ipAllowList } from '../../service/http/auth.js';
import { createLogger } from '../../service/log.js';
import { createMetrics } from '../../service/metrics.js';
import { openStore } from '../../service/store/index.js';
import type { EventStore } from '../../service/store/types.js';
import { event } from './webhook-helpers.js';

const logger = createLogger({ level: 'silent' });
const open: { app: FastifyInstance; store: EventStore }[] = [];

async function appWith(env: Record<string, string>, wrap?: (s: EventStore) => EventStore, extra: Parameters<typeof buildApp>[0]['readinessChecks'] = []) {
  const config = loadConfig({ CRS_DATAVERSE_URL: 'https://org.example', CRS_TENANT_ID: 't', CRS_CLIENT_ID: 'c', CRS_CLIENT_SECRET: 's', ...env });
  const store = await openStore('sqlite::memory:');
  const app = await buildApp({ config, store: wrap ? wrap(store) : store, logger, metrics: createMetrics({ defaultMetrics: false }), readinessChecks: extra });
  open.push({ app, store });
  return app;
}

afterEach(async () => {
  for (const { app, store } of open.splice(0)) {
    await app.close();
    await store.close();
  }
});

const postEvent = (app: FastifyInstance, remoteAddress = '127.0.0.1', headers: Record<string, string> = {}) =>
  app.inject({
    method: 'POST',
    url: '/webhooks/campaign/1',
    remoteAddress,
    headers: { 'content-type': 'application/json', ...headers },
    payload: JSON.stringify([event()]),
  });

describe('ipAllowList', () => {
  const allowed = ipAllowList([
    { address: '193.169.180.1', prefix: 32, family: 'ipv4' },
    { address: '10.0.0.0', prefix: 8, family: 'ipv4' },
    { address: '2001:db8::', prefix: 32, family: 'ipv6' },
  ]);
  it.each([
    ['193.169.180.1', true],
    ['193.169.180.2', false],
    ['10.255.0.1', true],
    ['11.0.0.1', false],
    ['::ffff:193.169.180.1', true],
    ['::ffff:8.8.8.8', false],
    ['2001:db8:1::7', true],
    ['2001:db9::1', false],
    ['::1', false],
    [undefined, false],
  ])('%s → %s', (address, expected) => expect(allowed(address)).toBe(expected));

  it('allows everyone when empty', () => expect(ipAllowList([])('8.8.8.8')).toBe(true));
});

describe('webhook access', () => {
  it('refuses addresses outside CRS_WEBHOOK_ALLOWED_IPS with 403 before looking at credentials', async () => {
    const app = await appWith({ CRS_WEBHOOK_AUTH: 'none', CRS_WEBHOOK_ALLOWED_IPS: '193.169.180.1,2001:db8::/32' });
    expect((await postEvent(app, '127.0.0.1')).statusCode).toBe(403);
    expect((await postEvent(app, '193.169.180.1')).statusCode).toBe(200);
    expect((await postEvent(app, '::ffff:193.169.180.1')).statusCode).toBe(200);
    expect((await postEvent(app, '2001:db8::42')).statusCode).toBe(200);
  });

  it('accepts without credentials when CRS_WEBHOOK_AUTH=none', async () => {
    const app = await appWith({ CRS_WEBHOOK_AUTH: 'none' });
    expect((await postEvent(app)).json()).toEqual({ received: 1, accepted: 1, duplicates: 0, quarantined: 0 });
  });

  it('checks credentials before reading the body (401, not 415)', async () => {
    const app = await appWith({ CRS_WEBHOOK_TOKEN: 'tok' });
    const answer = await app.inject({ method: 'POST', url: '/webhooks/campaign/1', headers: { 'content-type': 'text/plain' }, payload: 'x' });
    expect(answer.statusCode).toBe(401);
  });

  it('answers 503 (not 200, not a crash) when the store cannot commit', async () => {
    const app = await appWith({ CRS_WEBHOOK_AUTH: 'none' }, (store) =>
      Object.assign(Object.create(store) as EventStore, { append: () => Promise.reject(new Error('disk full')) }),
    );
    const answer = await postEvent(app);
    expect(answer.statusCode).toBe(503);
    expect(answer.json()).toEqual({ error: 'event store unavailable, retry later' });
  });
});

describe('admin API switch', () => {
  it('is off (404) without CRS_ADMIN_TOKEN', async () => {
    const app = await appWith({ CRS_WEBHOOK_AUTH: 'none' });
    for (const [method, url] of [['GET', '/admin/status'], ['GET', '/admin/events?state=pending'], ['POST', '/admin/replay']] as const) {
      expect((await app.inject({ method, url, headers: { authorization: 'Bearer x' } })).statusCode).toBe(404);
    }
  });

  it('is on with CRS_ADMIN_TOKEN', async () => {
    const app = await appWith({ CRS_WEBHOOK_AUTH: 'none', CRS_ADMIN_TOKEN: 'adm' });
    expect((await app.inject({ method: 'GET', url: '/admin/status', headers: { authorization: 'Bearer adm' } })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/admin/status', headers: { authorization: 'Bearer adm2' } })).statusCode).toBe(401);
  });
});

describe('readiness', () => {
  it('is 503 with the reason when a check fails, 200 otherwise', async () => {
    let tokenError: Error | undefined = new Error('AADSTS7000215: invalid client secret');
    const app = await appWith({ CRS_WEBHOOK_AUTH: 'none' }, undefined, [
      { name: 'dataverse', check: async () => { if (tokenError) throw tokenError; } },
    ]);
    const down = await app.inject({ method: 'GET', url: '/readyz' });
    expect(down.statusCode).toBe(503);
    expect(down.json()).toEqual({ status: 'unavailable', reason: 'dataverse: AADSTS7000215: invalid client secret' });
    tokenError = undefined;
    expect((await app.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
  });

  it('is 503 when the store is not writable', async () => {
    const app = await appWith({ CRS_WEBHOOK_AUTH: 'none' }, (store) =>
      Object.assign(Object.create(store) as EventStore, { ping: () => Promise.reject(new Error('database is locked')) }),
    );
    expect((await app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({ status: 'unavailable', reason: 'store: database is locked' });
  });
});

describe('/admin/status document', () => {
  it('merges each background task status under its name; a failing status() shows its error', async () => {
    const store = await openStore('sqlite::memory:');
    try {
      const status = await readStatus(store, [
        { name: 'sync', start: async () => undefined, stop: async () => undefined, status: () => ({ leased: 3 }) },
        { name: 'poller', start: async () => undefined, stop: async () => undefined, status: () => { throw new Error('not started'); } },
        { name: 'quiet', start: async () => undefined, stop: async () => undefined },
        { name: 'events', start: async () => undefined, stop: async () => undefined, status: () => ({ shadow: true }) },
      ]);
      expect(status.sync).toEqual({ leased: 3 });
      expect(status.poller).toEqual({ error: 'not started' });
      expect(status).not.toHaveProperty('quiet');
      expect(status.events).toEqual({ received: 0, pending: 0, applied: 0, ignored: 0, unmatched: 0, quarantined: 0, deadLetter: 0 });
      expect(status.oldestPendingAgeSeconds).toBeNull();
    } finally {
      await store.close();
    }
  });
});

describe('graceful close', () => {
  it('finishes an in-flight webhook (answered 200 after its commit) while refusing new connections', async () => {
    let releaseAppend!: () => void;
    const appendGate = new Promise<void>((resolve) => (releaseAppend = resolve));
    let appendStarted!: () => void;
    const started = new Promise<void>((resolve) => (appendStarted = resolve));
    const app = await appWith({ CRS_WEBHOOK_AUTH: 'none' }, (store) =>
      Object.assign(Object.create(store) as EventStore, {
        append: async (events: Parameters<EventStore['append']>[0]) => {
          appendStarted();
          await appendGate;
          return store.append(events);
        },
      }),
    );
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as { port: number };
    const inFlight = fetch(`http://127.0.0.1:${port}/webhooks/campaign/1`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(event()),
    });
    await started;
    const closed = app.close();
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
    releaseAppend();
    const answer = await inFlight;
    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ received: 1, accepted: 1, duplicates: 0, quarantined: 0 });
    // The client keeps its connection alive; close() must still complete (idle connections are swept).
    await closed;
  });
});
