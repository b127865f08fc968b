/**
 * The webhook's own node:http handler (service/http/webhook.ts) over real sockets: what fastify used
 * to do for this route and the handler now does itself — body framing (chunked, split UTF-8, limits
 * while reading), media types, 503 while closing, per-status metrics — and the two ways in: the
 * server's quick path match and the fastify route that hijacks everything else.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { loadConfig } from '../../service/config.js';
import { buildApp } from '../../service/http/app.js';
import { matchWebhookPath } from '../../service/http/webhook.js';
import { BODY_LIMIT_BYTES } from '../../service/http/one-line.js';
import { createLogger } from '../../service/log.js';
import { createMetrics, type Metrics } from '../../service/metrics.js';
import { openStore } from '../../service/store/index.js';
import type { EventStore } from '../../service/store/types.js';
import { event, send } from './webhook-helpers.js';

const TOKEN = 'handler-token-123456';
const AUTH = { authorization: `Bearer ${TOKEN}` };

/** Writes raw bytes to the server (each Buffer a separate write, with a pause between) and returns the raw answer. */
function rawExchange(port: number, parts: (string | Buffer)[], pauseMs = 20): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? resolve(Buffer.concat(chunks).toString('utf8')) : reject(err)));
    void (async () => {
      for (const part of parts) {
        if (socket.destroyed) return;
        socket.write(part);
        await new Promise((r) => setTimeout(r, pauseMs));
      }
    })();
  });
}

function statusOf(rawAnswer: string): number {
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(rawAnswer)?.[1] ?? 0);
}

describe('matchWebhookPath (the server-side quick match)', () => {
  it.each([
    ['/webhooks/campaign/42', '42'],
    ['/webhooks/campaign/42/', '42'],
    ['/webhooks/campaign/42?source=campaign', '42'],
    ['/webhooks/campaign/42/?a=1', '42'],
    ['/webhooks/campaign/abc', 'abc'], // the handler answers 400 after authentication
    ['/webhooks/campaign/%34%32', undefined], // encoded: left to fastify's router, which decodes it
    ['/webhooks/campaign/42/extra', undefined],
    ['/webhooks/campaign/', undefined],
    ['/webhooks/campaign', undefined],
    ['/Webhooks/campaign/42', undefined],
    ['/webhooks/campaign//42', undefined],
    ['/admin/status', undefined],
  ])('%s → %s', (url, expected) => expect(matchWebhookPath(url)).toBe(expected));
});

describe('webhook handler over a real server', () => {
  let app: FastifyInstance;
  let store: EventStore;
  let metrics: Metrics;
  let port: number;
  let base: string;

  beforeAll(async () => {
    const config = loadConfig({ CRS_WEBHOOK_TOKEN: TOKEN, CRS_DATAVERSE_URL: 'https://org.example', CRS_TENANT_ID: 't', CRS_CLIENT_ID: 'c', CRS_CLIENT_SECRET: 's' });
    store = await openStore('sqlite::memory:');
    metrics = createMetrics({ defaultMetrics: false });
    app = await buildApp({ config, store, logger: createLogger({ level: 'silent' }), metrics });
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as { port: number }).port;
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await app.close();
    await store.close();
  });

  const stored = async (recipient: string) => (await store.list('pending', 1000)).filter((e) => e.normalized?.recipientId === recipient);

  it('reads a chunked body (no Content-Length) sent in several pieces', async () => {
    const body = JSON.stringify([event({ recipientId: 'chunked@example.com', id: 'chunked-1' })]);
    const pieces = [body.slice(0, 10), body.slice(10, 40), body.slice(40)];
    const answer = await rawExchange(port, [
      `POST /webhooks/campaign/7 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`,
      ...pieces.map((p) => `${Buffer.byteLength(p).toString(16)}\r\n${p}\r\n`),
      '0\r\n\r\n',
    ]);
    expect(statusOf(answer)).toBe(200);
    expect(answer).toContain('{"received":1,"accepted":1,"duplicates":0,"quarantined":0}');
    expect(await stored('chunked@example.com')).toHaveLength(1);
  });

  it('decodes a UTF-8 character whose bytes arrive in two TCP writes', async () => {
    const body = Buffer.from(JSON.stringify(event({ recipientId: 'split@example.com', id: 'split-1', reason: 'Grüße 👋' })), 'utf8');
    const cut = body.indexOf(Buffer.from('👋')) + 2; // inside the 4-byte emoji
    const answer = await rawExchange(port, [
      `POST /webhooks/campaign/7 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`,
      body.subarray(0, cut),
      body.subarray(cut),
    ]);
    expect(statusOf(answer)).toBe(200);
    const [e] = await stored('split@example.com');
    expect((JSON.parse(e!.raw) as { reason: string }).reason).toBe('Grüße 👋');
  });

  it('refuses a declared length over 5 MB with 413 at once and closes the connection', async () => {
    const answer = await rawExchange(port, [
      `POST /webhooks/campaign/7 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${BODY_LIMIT_BYTES + 1}\r\n\r\n`,
      '[',
    ]);
    expect(statusOf(answer)).toBe(413);
    expect(answer.toLowerCase()).toContain('connection: close');
    expect(answer).toMatch(/"error":"request body is too large/);
  });

  it('refuses a chunked body that grows past 5 MB with 413 while reading, storing nothing', async () => {
    const before = (await store.counts()).pending;
    const chunk = 'x'.repeat(1024 * 1024);
    const answer = await rawExchange(
      port,
      [
        `POST /webhooks/campaign/7 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`,
        ...Array.from({ length: 6 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`),
        '0\r\n\r\n',
      ],
      5,
    );
    expect(statusOf(answer)).toBe(413);
    expect((await store.counts()).pending).toBe(before);
  });

  it.each([
    ['application/json; charset=utf-8', 200],
    ['Application/JSON', 200],
    ['text/json', 200],
    ['application/vnd.campaign.events+json', 200],
    ['application/jsonx', 415],
    ['application/json-patch', 415],
    ['multipart/form-data; boundary=x', 415],
  ])('content type %s → %i', async (contentType, status) => {
    const answer = await send(base, { path: '/webhooks/campaign/7', headers: { ...AUTH, 'content-type': contentType }, body: JSON.stringify(event({ id: `ct-${contentType}` })) });
    expect(answer.status).toBe(status);
    if (status === 415) expect(answer.json).toEqual({ error: `Unsupported Media Type: ${contentType}` });
  });

  it.each([
    ['gzip', 415],
    ['br', 415],
    ['identity', 200],
  ])('content encoding %s → %i', async (encoding, status) => {
    const answer = await send(base, { path: '/webhooks/campaign/7', headers: { ...AUTH, 'content-type': 'application/json', 'content-encoding': encoding }, body: JSON.stringify(event({ id: `ce-${encoding}` })) });
    expect(answer.status).toBe(status);
    if (status === 415) expect(answer.json).toEqual({ error: `Unsupported Content-Encoding: ${encoding} (send the JSON uncompressed)` });
  });

  it('takes a request without content type and without body as an empty body (400), not 415', async () => {
    const answer = await send(base, { path: '/webhooks/campaign/7', headers: { ...AUTH, 'content-length': '0' } });
    expect(answer.status).toBe(400);
    expect(answer.json).toEqual({ error: 'empty body: expected a JSON array of events or one event object' });
  });

  it('stores nothing when the sender goes away in the middle of the body, and keeps serving', async () => {
    const body = JSON.stringify([event({ recipientId: 'gone@example.com', id: 'gone-1' })]);
    await new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(`POST /webhooks/campaign/7 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 20)}`);
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 50);
      });
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(await stored('gone@example.com')).toHaveLength(0);
    expect((await send(base, { method: 'GET', path: '/healthz' })).status).toBe(200);
  });

  it('reaches the same handler through fastify for percent-encoded client ids (decoded by the router)', async () => {
    const answer = await send(base, { path: '/webhooks/campaign/%34%32', headers: { ...AUTH, 'content-type': 'application/json' }, body: JSON.stringify(event({ recipientId: 'encoded@example.com', id: 'enc-1' })) });
    expect(answer.json).toEqual({ received: 1, accepted: 1, duplicates: 0, quarantined: 0 });
    expect((await stored('encoded@example.com'))[0]?.clientId).toBe('42');
    // The router path runs the same checks: no credentials, 401.
    expect((await send(base, { path: '/webhooks/campaign/%34%32', headers: { 'content-type': 'application/json' }, body: '[]' })).status).toBe(401);
  });

  it('leaves other methods on the webhook path to fastify (404, one line of JSON)', async () => {
    const answer = await send(base, { method: 'GET', path: '/webhooks/campaign/7', headers: AUTH });
    expect(answer.status).toBe(404);
    expect(answer.json).toEqual({ error: 'not found' });
  });

  it('counts every answer by status in crs_webhook_requests_total and the duration histogram', async () => {
    const count = async (status: number) => {
      const metric = await metrics.webhookRequests.get();
      return metric.values.find((v) => v.labels.status === String(status))?.value ?? 0;
    };
    const before = { ok: await count(200), unauthorized: await count(401), unsupported: await count(415) };
    await send(base, { path: '/webhooks/campaign/7', headers: { ...AUTH, 'content-type': 'application/json' }, body: JSON.stringify(event({ id: 'metrics-1' })) });
    await send(base, { path: '/webhooks/campaign/7', headers: { 'content-type': 'application/json' }, body: '[]' });
    await send(base, { path: '/webhooks/campaign/7', headers: { ...AUTH, 'content-type': 'text/plain' }, body: '[]' });
    expect(await count(200)).toBe(before.ok + 1);
    expect(await count(401)).toBe(before.unauthorized + 1);
    expect(await count(415)).toBe(before.unsupported + 1);
    const durations = await metrics.webhookDuration.get();
    expect(durations.values.some((v) => v.metricName === 'crs_webhook_request_duration_seconds_count' && v.labels.status === '200' && v.value > 0)).toBe(true);
  });
});

describe('webhook handler while closing', () => {
  it('answers 503 with Connection: close on an open keep-alive connection, storing nothing, while the in-flight request finishes', async () => {
    const config = loadConfig({ CRS_WEBHOOK_AUTH: 'none', CRS_DATAVERSE_URL: 'https://org.example', CRS_TENANT_ID: 't', CRS_CLIENT_ID: 'c', CRS_CLIENT_SECRET: 's' });
    const inner = await openStore('sqlite::memory:');
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let appendStarted!: () => void;
    const started = new Promise<void>((r) => (appendStarted = r));
    let appends = 0;
    const store = Object.assign(Object.create(inner) as EventStore, {
      append: async (events: Parameters<EventStore['append']>[0]) => {
        appends++;
        appendStarted();
        await gate;
        return inner.append(events);
      },
    });
    const app = await buildApp({ config, store, logger: createLogger({ level: 'silent' }), metrics: createMetrics({ defaultMetrics: false }) });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as { port: number };
    const body = JSON.stringify(event({ id: 'closing-1' }));
    const request = `POST /webhooks/campaign/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;

    // Connection A: one request held in its commit. Connection B: pipelines two requests, the second
    // only after close() began, so it reaches the handler while closing on a busy keep-alive socket.
    const a = rawExchange(port, [request]);
    await started;
    const bAnswers: string[] = [];
    const b = connect(port, '127.0.0.1');
    b.on('data', (c: Buffer) => bAnswers.push(c.toString('utf8')));
    const bClosed = new Promise<void>((r) => b.on('close', () => r()));
    b.write(request); // held at the gate too
    await new Promise((r) => setTimeout(r, 50));
    const closed = app.close();
    await new Promise((r) => setTimeout(r, 20));
    b.write(request); // arrives while closing
    release();
    expect(statusOf(await a)).toBe(200);
    await bClosed;
    const bText = bAnswers.join('');
    const statuses = [...bText.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
    expect(statuses).toEqual([200, 503]);
    expect(bText.toLowerCase()).toContain('connection: close');
    expect(bText).toContain('{"error":"service is shutting down, retry later"}');
    expect(appends).toBe(2); // the 503 request never reached the store
    await closed;
    await inner.close();
  });
});

describe('a sender that stalls in the middle of a request', () => {
  it('is cut off with 408 after the request timeout, and nothing is stored', async () => {
    const config = loadConfig({ CRS_WEBHOOK_AUTH: 'none', CRS_DATAVERSE_URL: 'https://org.example', CRS_TENANT_ID: 't', CRS_CLIENT_ID: 'c', CRS_CLIENT_SECRET: 's' });
    const store = await openStore('sqlite::memory:');
    const app = await buildApp({ config, store, logger: createLogger({ level: 'silent' }), metrics: createMetrics({ defaultMetrics: false }), requestTimeoutMs: 300 });
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as { port: number };
    const body = JSON.stringify(event({ id: 'stalled-1' }));
    const started = performance.now();
    const answer = await rawExchange(port, [
      `POST /webhooks/campaign/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 10)}`,
    ]);
    expect(statusOf(answer)).toBe(408);
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    expect((await store.counts()).pending).toBe(0);
    await app.close();
    await store.close();
  });
});
