/**
 * The real HTTP server (startService) against both store engines: acceptance, durable commit
 * before the answer, duplicates within and across requests, bad input never a 5xx, admin API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../service/config.js';
import { MAX_FIELD_LENGTH } from '../../service/ingest/normalize.js';
import { createLogger } from '../../service/log.js';
import { startService, type RunningService } from '../../service/main.js';
import { openStore } from '../../service/store/index.js';
import type { EventStore } from '../../service/store/types.js';
import { ENGINES, JSON_HEADERS, event, send, type HttpAnswer } from './webhook-helpers.js';

const TOKEN = 'hook-token-0123456789';
const ADMIN = 'admin-token-9876543210';
const BASIC = `Basic ${Buffer.from('campaign:s3cret:with:colons').toString('base64')}`;
const AUTH = { ...JSON_HEADERS, authorization: `Bearer ${TOKEN}` };

describe.each(ENGINES)('webhook over HTTP with the $name store', (engine) => {
  let service: RunningService;
  let base: string;
  let reader: EventStore;
  let cleanup: () => Promise<void>;
  const logLines: string[] = [];

  const post = (clientId: string, body: unknown, headers: Record<string, string> = AUTH): Promise<HttpAnswer> =>
    send(base, { path: `/webhooks/campaign/${clientId}`, headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const admin = (method: string, path: string, body?: unknown) =>
    send(base, {
      method,
      path,
      headers: { authorization: `Bearer ${ADMIN}`, ...(body !== undefined ? JSON_HEADERS : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });

  beforeAll(async () => {
    const location = engine.create();
    cleanup = location.cleanup;
    const config = loadConfig({
      CRS_PORT: '0',
      CRS_HOST: '127.0.0.1',
      CRS_STORE: location.url,
      CRS_WEBHOOK_TOKEN: TOKEN,
      CRS_WEBHOOK_USER: 'campaign',
      CRS_WEBHOOK_PASSWORD: 's3cret:with:colons',
      CRS_ADMIN_TOKEN: ADMIN,
      CRS_POLL_INTERVAL: '0',
    });
    const logger = createLogger({ level: 'debug', destination: { write: (line: string) => void logLines.push(line) } });
    service = await startService(config, { logger });
    base = `http://127.0.0.1:${service.port}`;
    reader = await openStore(location.url);
  });

  afterAll(async () => {
    await reader?.close();
    await service?.stop('test done');
    await cleanup?.();
  });

  it('accepts one event object and stores it before answering', async () => {
    const answer = await post('100', event({ id: 'single-1' }));
    expect(answer.status).toBe(200);
    expect(answer.json).toEqual({ received: 1, accepted: 1, duplicates: 0, quarantined: 0 });
    const stored = (await reader.list('pending', 100)).find((e) => e.dedupKey === 'id:100:single-1');
    expect(stored).toBeDefined();
    expect(stored!.raw).toBe(JSON.stringify(event({ id: 'single-1' })));
    expect(stored!.normalized).toMatchObject({ type: 'open', clientId: '100', mailingId: '4711', origin: 'webhook' });
  });

  it('accepts an array, quarantines malformed elements with their reason and keeps them raw', async () => {
    // Another second than single-1's event: events with the same natural key are one event even with other ids (R9).
    const body = `[${JSON.stringify(event({ id: 'arr-1', timestamp: '2026-11-26T10:00:01Z' }))},{"type":"teleport","timestamp":"2026-11-26T10:00:00Z"},${JSON.stringify(event({ id: 'arr-2', type: 'click', url: 'https://x.example/a' }))}]`;
    const answer = await post('100', body);
    expect(answer.json).toEqual({ received: 3, accepted: 2, duplicates: 0, quarantined: 1 });
    const quarantined = await reader.list('quarantined', 100);
    const teleport = quarantined.find((e) => e.raw === '{"type":"teleport","timestamp":"2026-11-26T10:00:00Z"}');
    expect(teleport?.lastError).toBe('unknown event type "teleport"');
  });

  it('counts duplicates across requests and within one request, never storing twice', async () => {
    const batch = [event({ recipientId: 'dup@example.com' }), event({ recipientId: 'dup@example.com', type: 'click', url: 'https://l' })];
    expect((await post('200', batch)).json).toEqual({ received: 2, accepted: 2, duplicates: 0, quarantined: 0 });
    expect((await post('200', batch)).json).toEqual({ received: 2, accepted: 0, duplicates: 2, quarantined: 0 });
    // Same natural event spelled differently (alias, case, epoch seconds) is the same event (R9).
    const respelled = { eventType: 'OPEN', mailingId: '4711', bmRecipientId: 'DUP@example.com', created: 1795687200 };
    expect((await post('200', [respelled, respelled])).json).toEqual({ received: 2, accepted: 0, duplicates: 2, quarantined: 0 });
    // The same event for another client is another event.
    expect((await post('201', batch[0])).json).toMatchObject({ accepted: 1 });
    const keys = (await reader.list('pending', 1000)).filter((e) => e.clientId === '200').map((e) => e.dedupKey);
    expect(keys).toHaveLength(2);
    expect(new Set(keys).size).toBe(2);
  });

  it('deduplicates by event id across requests', async () => {
    expect((await post('300', event({ eventId: 'E-1' }))).json).toMatchObject({ accepted: 1 });
    expect((await post('300', event({ id: 'E-1', timestamp: '2026-11-27T00:00:00Z' }))).json).toMatchObject({ accepted: 0, duplicates: 1 });
  });

  it('accepts Basic auth (password with colons) and refuses wrong or missing credentials', async () => {
    expect((await post('100', event({ id: 'basic-1' }), { ...JSON_HEADERS, authorization: BASIC })).status).toBe(200);
    const wrong: Record<string, string>[] = [
      {},
      { authorization: 'Bearer nope' },
      { authorization: `Bearer ${TOKEN}x` },
      { authorization: `Basic ${Buffer.from('campaign:wrong').toString('base64')}` },
      { authorization: `Basic ${Buffer.from('other:s3cret:with:colons').toString('base64')}` },
      { authorization: 'Basic !!!' },
      { authorization: TOKEN },
      { authorization: `Token ${TOKEN}` },
    ];
    for (const headers of wrong) {
      const answer = await post('100', event({ id: 'unauth' }), { ...JSON_HEADERS, ...headers });
      expect(answer.status, JSON.stringify(headers)).toBe(401);
      expect(answer.json).toEqual({ error: 'authentication required' });
      expect(answer.headers['www-authenticate']).toContain('Bearer');
    }
    expect((await reader.list('pending', 1000)).some((e) => e.dedupKey === 'id:100:unauth')).toBe(false);
  });

  describe('bad input: a one-line JSON error, never a 5xx or a crash', () => {
    const deepArray = `${'['.repeat(50_000)}${']'.repeat(50_000)}`;
    const deepObject = `{"type":"open","recipientId":"deep@example.com","timestamp":"2026-11-26T10:00:00Z","x":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}}`;
    const cases: [string, { path?: string; headers?: Record<string, string>; body?: string }, number, RegExp | Record<string, number>][] = [
      ['invalid JSON', { body: '[{"type":"open",' }, 400, /^invalid JSON: /],
      ['JSON with a trailing comma', { body: '[{},]' }, 400, /^invalid JSON: /],
      ['not an object or array', { body: '"open"' }, 400, /JSON array of events or one event object/],
      ['a number', { body: '12' }, 400, /JSON array/],
      ['null', { body: 'null' }, 400, /JSON array/],
      ['an empty body', { body: '' }, 400, /empty body/],
      ['text/plain', { headers: { 'content-type': 'text/plain' }, body: '[]' }, 415, /Unsupported Media Type/],
      ['form data', { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'a=1' }, 415, /Unsupported Media Type/],
      ['no content type', { headers: {}, body: '[]' }, 415, /Unsupported Media Type/],
      ['2.5 million tiny elements in 5 MB', { body: `[${'0,'.repeat(2_500_000)}0]` }, 413, /too many events in one request/],
      ['a 6 MB body', { body: JSON.stringify([event({ reason: 'x'.repeat(6 * 1024 * 1024) })]) }, 413, /too large/i],
      ['a non-numeric client id', { path: '/webhooks/campaign/abc' }, 400, /client id must be numeric/],
      ['a negative client id', { path: '/webhooks/campaign/-1' }, 400, /client id must be numeric/],
      ['a decimal client id', { path: '/webhooks/campaign/1.5' }, 400, /client id must be numeric/],
      ['an over-long client id', { path: `/webhooks/campaign/${'9'.repeat(40)}` }, 400, /client id must be numeric/],
      ['an encoded client id', { path: '/webhooks/campaign/%20' }, 400, /client id must be numeric/],
      ['a client id with a null byte', { path: '/webhooks/campaign/1%002' }, 400, /client id must be numeric/],
      ['a deeply nested array', { body: deepArray }, 200, { received: 1, accepted: 0, quarantined: 1 }],
      ['a deeply nested field', { body: deepObject }, 200, { received: 1, accepted: 1 }],
      ['an array of scalars', { body: '[1,"two",null,true]' }, 200, { received: 4, quarantined: 4 }],
      ['an empty array', { body: '[]' }, 200, { received: 0, accepted: 0, duplicates: 0, quarantined: 0 }],
    ];

    it.each(cases)('%s', async (_name, req, status, expected) => {
      const answer = await send(base, {
        path: req.path ?? '/webhooks/campaign/400',
        headers: { authorization: `Bearer ${TOKEN}`, ...(req.headers ?? JSON_HEADERS) },
        body: req.body ?? '[]',
      });
      expect(answer.status).toBe(status);
      expect(answer.text).not.toContain('\n');
      if (expected instanceof RegExp) {
        expect(Object.keys(answer.json as object)).toEqual(['error']);
        expect((answer.json as { error: string }).error).toMatch(expected);
      } else {
        expect(answer.json).toMatchObject(expected);
      }
    });

    it('uses the rest of an event with __proto__ / constructor / prototype keys, and pollutes nothing', async () => {
      const body =
        '[{"__proto__":{"type":"unsubscribe","isAdmin":true},"constructor":{"prototype":{"isAdmin":true}},"prototype":{"x":1},' +
        '"type":"open","recipientId":"proto@example.com","timestamp":"2026-11-26T10:00:00Z","id":"proto-1"}]';
      const answer = await post('500', body);
      expect(answer.json).toEqual({ received: 1, accepted: 1, duplicates: 0, quarantined: 0 });
      const stored = (await reader.list('pending', 1000)).find((e) => e.dedupKey === 'id:500:proto-1');
      expect(stored?.normalized?.type).toBe('open');
      expect(stored?.raw).toContain('"__proto__"');
      expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
    });

    it('keeps 10 KB strings whole in the raw payload (the normalized form is capped)', async () => {
      const long = 'r'.repeat(10 * 1024);
      const answer = await post('500', event({ id: 'long-1', type: 'unsubscribe', reason: long, url: `https://x/${long}` }));
      expect(answer.json).toMatchObject({ accepted: 1 });
      const stored = (await reader.list('pending', 1000)).find((e) => e.dedupKey === 'id:500:long-1');
      expect((JSON.parse(stored!.raw) as { reason: string }).reason).toHaveLength(10 * 1024);
      expect(stored!.normalized!.reason).toHaveLength(MAX_FIELD_LENGTH);
    });

    it('is still healthy afterwards', async () => {
      expect((await send(base, { method: 'GET', path: '/healthz' })).status).toBe(200);
    });
  });

  it('readyz is 200 with a writable store; metrics count events by type and outcome', async () => {
    expect((await send(base, { method: 'GET', path: '/readyz' })).json).toEqual({ status: 'ready' });
    const metrics = await send(base, { method: 'GET', path: '/metrics' });
    expect(metrics.headers['content-type']).toMatch(/text\/plain/);
    expect(metrics.text).toMatch(/crs_events_total\{type="open",outcome="accepted"\} \d+/);
    expect(metrics.text).toMatch(/crs_events_total\{type="open",outcome="duplicate"\} \d+/);
    expect(metrics.text).toMatch(/crs_events_total\{type="unknown",outcome="quarantined"\} \d+/);
    expect(metrics.text).toMatch(/crs_queue_depth \d+/);
    expect(metrics.text).toMatch(/crs_oldest_pending_age_seconds [\d.e-]+/);
    expect(metrics.text).toMatch(/crs_webhook_requests_total\{status="401"\} \d+/);
  });

  describe('admin API', () => {
    it('needs the admin token', async () => {
      expect((await send(base, { method: 'GET', path: '/admin/status' })).status).toBe(401);
      expect((await send(base, { method: 'GET', path: '/admin/status', headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(401);
    });

    it('GET /admin/status reports counts per state', async () => {
      const answer = await admin('GET', '/admin/status');
      expect(answer.status).toBe(200);
      const status = answer.json as { events: Record<string, number>; oldestPendingAgeSeconds: number; lastReceivedAt: string; lastAppliedAt: null };
      expect(Object.keys(status.events).sort()).toEqual(['applied', 'deadLetter', 'ignored', 'pending', 'quarantined', 'received', 'unmatched']);
      expect(status.events.pending).toBe((await reader.counts()).pending);
      expect(status.events.quarantined).toBeGreaterThan(0);
      expect(status.oldestPendingAgeSeconds).toBeGreaterThanOrEqual(0);
      expect(Date.parse(status.lastReceivedAt)).not.toBeNaN();
      expect(status.lastAppliedAt).toBeNull();
    });

    it('GET /admin/events lists a state newest first and validates the query', async () => {
      const answer = await admin('GET', '/admin/events?state=quarantined&limit=2');
      const events = (answer.json as { events: { id: string; state: string; lastError: string; raw: unknown }[] }).events;
      expect(events).toHaveLength(2);
      expect(events.every((e) => e.state === 'quarantined' && e.lastError)).toBe(true);
      expect(Number(events[0]!.id)).toBeGreaterThan(Number(events[1]!.id));
      expect((await admin('GET', '/admin/events?state=bogus')).status).toBe(400);
      expect((await admin('GET', '/admin/events')).status).toBe(400);
      expect((await admin('GET', '/admin/events?state=pending&limit=0')).status).toBe(400);
    });

    it('POST /admin/replay re-derives stored raw payloads and requeues them', async () => {
      // An element quarantined under an older mapping: its raw text is fine for today's normalizer.
      await reader.append([{ clientId: '600', raw: JSON.stringify(event({ id: 'replay-1' })), quarantineReason: 'old mapping' }]);
      const target = (await reader.list('quarantined', 1000)).find((e) => e.lastError === 'old mapping')!;
      const answer = await admin('POST', '/admin/replay', { ids: [target.id] });
      expect(answer.json).toEqual({ selected: 1, requeued: 1, duplicates: 0, stillQuarantined: 0 });
      const [after] = await reader.get([target.id]);
      expect(after!.state).toBe('pending');
      expect(after!.normalized).toMatchObject({ key: 'id:600:replay-1', type: 'open' });

      const byState = await admin('POST', '/admin/replay', { state: 'quarantined' });
      const result = byState.json as { selected: number; requeued: number; stillQuarantined: number };
      expect(result.selected).toBeGreaterThan(0);
      expect(result.stillQuarantined).toBe(result.selected); // the rest are really malformed
      expect(result.requeued).toBe(0);

      // Replaying an event whose re-derived key another stored event holds counts it as a duplicate.
      await reader.append([{ clientId: '600', raw: JSON.stringify(event({ id: 'replay-1' })), quarantineReason: 'old mapping' }]);
      const twin = (await reader.list('quarantined', 1000)).find((e) => e.lastError === 'old mapping')!;
      expect((await admin('POST', '/admin/replay', { ids: [twin.id] })).json).toEqual({ selected: 1, requeued: 0, duplicates: 1, stillQuarantined: 0 });
      expect((await admin('POST', '/admin/replay', { state: 'nope' })).status).toBe(400);
      expect((await admin('POST', '/admin/replay', { ids: ['x'] })).status).toBe(400);
      expect((await admin('POST', '/admin/replay', {})).status).toBe(400);
    });
  });

  it('never logs secrets', () => {
    const log = logLines.join('');
    expect(log).toContain('listening on');
    for (const secret of [TOKEN, ADMIN, 's3cret:with:colons', BASIC.slice(6)]) expect(log).not.toContain(secret);
  });
});
