/** Shared helpers for the webhook integration tests: engines, HTTP calls, temporary stores. */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';
import { loadConfig } from '../../service/config.js';
import { buildApp } from '../../service/http/app.js';
import { createLogger } from '../../service/log.js';
import { createMetrics } from '../../service/metrics.js';
import type { EventStore } from '../../service/store/types.js';

export const PG_BASE = 'postgres://postgres@127.0.0.1:5432/test';

export interface TestEngine {
  name: 'sqlite' | 'postgres';
  /** Creates a fresh, empty store location; returns its URL and a cleanup. */
  create(): { url: string; cleanup: () => Promise<void> };
}

export const ENGINES: TestEngine[] = [
  {
    name: 'sqlite',
    create() {
      const dir = mkdtempSync(join(tmpdir(), 'crs-webhook-'));
      return { url: `sqlite:${join(dir, 'crs.sqlite')}`, cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
    },
  },
  {
    name: 'postgres',
    create() {
      const schema = `crs_test_${randomBytes(6).toString('hex')}`;
      return {
        url: `${PG_BASE}?schema=${schema}`,
        cleanup: async () => {
          const client = new pg.Client(PG_BASE);
          await client.connect();
          try {
            await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
          } finally {
            await client.end();
          }
        },
      };
    },
  },
];

/**
 * The HTTP app alone (no background tasks) over `store`, on a free loopback port, with webhook
 * Bearer auth `token` and a Dataverse configured, so it is not demo mode.
 */
export async function listenApp(store: EventStore, token: string): Promise<{ app: FastifyInstance; base: string }> {
  const config = loadConfig({ CRS_WEBHOOK_TOKEN: token, CRS_DATAVERSE_URL: 'https://org.example', CRS_TENANT_ID: 't', CRS_CLIENT_ID: 'c', CRS_CLIENT_SECRET: 's' });
  const app = await buildApp({ config, store, logger: createLogger({ level: 'silent' }), metrics: createMetrics({ defaultMetrics: false }) });
  await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, base: `http://127.0.0.1:${(app.server.address() as { port: number }).port}` };
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: unknown;
}

/**
 * A raw HTTP request (node:http, so any header or body can be sent). Resolves with the answer even
 * when the server answers early and closes the connection while we are still sending.
 */
export function send(
  baseUrl: string,
  opts: { method?: string; path: string; headers?: Record<string, string>; body?: string | Buffer },
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const url = new URL(opts.path, baseUrl);
    const req = request(url, { method: opts.method ?? 'POST', headers: { connection: 'close', ...opts.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
      res.on('error', reject);
    });
    // The server may answer 413/401 and close before the whole body is written.
    // Then an EPIPE/ECONNRESET may come before the answer is read: give the answer a moment.
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EPIPE' || err.code === 'ECONNRESET') setTimeout(() => reject(err), 1_000).unref();
      else reject(err);
    });
    if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}

export const JSON_HEADERS = { 'content-type': 'application/json' };

export function event(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type: 'open',
    mailingId: 4711,
    recipientId: 'max.mustermann@example.com',
    timestamp: '2026-11-26T10:00:00Z',
    ...overrides,
  };
}
