/**
 * The pipeline parts of `npm run bench:delivery`: the real service pieces, assembled in this
 * process the way service/main.ts and service/sync/task.ts assemble them — the app's webhook handler,
 * SQLite event store, sync worker, Dataverse client (msal, the emulator's authority) — with the
 * store wrapped to note when each event is leased and when it is recorded as applied.
 *
 * An event counts as "in CRM" when the worker records it applied, which happens only after every
 * Dataverse write it caused has been answered with success: a conservative end point.
 */
import { join } from 'node:path';
import pg from 'pg';
import { Pool } from 'undici';
import { loadConfig } from '../../service/config.js';
import { createDataverseClient } from '../../service/dataverse/index.js';
import { buildApp } from '../../service/http/app.js';
import { createLogger } from '../../service/log.js';
import { createMetrics } from '../../service/metrics.js';
import { openStore } from '../../service/store/index.js';
import type { DataverseClient } from '../../service/dataverse/types.js';
import type { EventStore, Outcome, StoredEvent } from '../../service/store/types.js';
import { SyncWorker } from '../../service/sync/worker.js';
import type { EmulatorConnection } from '../../tests/emulators/dataverse/index.js';

export interface PipelineOptions {
  kind: 'steady' | 'backlog';
  emulator: Omit<EmulatorConnection, 'caCertPath'>;
  tmp: string;
  contacts: number;
  email: (n: number) => string;
  rate?: number;
  /** Steady load: events per webhook request (Campaign posts lists of events). */
  eventsPerRequest?: number;
  durationS?: number;
  backlog?: number;
  store?: 'sqlite' | 'postgres';
  /** The (scaled) budgets the emulator enforces, for the client to pace under; production defaults otherwise. */
  serviceProtection?: { requestsPerWindow: number; windowMs: number; executionMsPerWindow: number };
}

const TOKEN = 'bench-webhook-token';
const CLIENT = '1234'; // demo seed: client 1234, mailing 1001 (campaign management, newsletter list 5678)

/** Store wrapper: event key → leased / applied times (performance.now()). */
class TimedStore {
  readonly appliedAt = new Map<string, number>();
  readonly states = new Map<string, number>();
  /** Milliseconds spent in each store method (where the worker's time goes). */
  readonly timeIn = new Map<string, { calls: number; ms: number }>();
  noteCall(method: string, ms: number): void {
    this.note(method, ms);
  }
  private note(method: string, ms: number): void {
    const t = this.timeIn.get(method) ?? { calls: 0, ms: 0 };
    t.calls += 1;
    t.ms += ms;
    this.timeIn.set(method, t);
  }
  private readonly keyById = new Map<string, string>();
  constructor(readonly inner: EventStore) {}

  wrap(): EventStore {
    return new Proxy(this.inner, {
      get: (target, prop, receiver) => {
        if (prop === 'lease') {
          return async (...a: Parameters<EventStore['lease']>): Promise<StoredEvent[]> => {
            const t0 = performance.now();
            const events = await target.lease(...a);
            this.note('lease', performance.now() - t0);
            for (const e of events) {
              const key = (JSON.parse(e.raw) as { id?: string }).id;
              if (key) this.keyById.set(e.id, key);
            }
            return events;
          };
        }
        if (prop === 'complete') {
          return async (owner: string, outcomes: Outcome[]): Promise<void> => {
            const t0 = performance.now();
            await target.complete(owner, outcomes);
            const now = performance.now();
            this.note('complete', now - t0);
            for (const o of outcomes) {
              this.states.set(o.state, (this.states.get(o.state) ?? 0) + 1);
              const key = this.keyById.get(o.id);
              if (key && o.state === 'applied' && !this.appliedAt.has(key)) this.appliedAt.set(key, now);
            }
          };
        }
        const value = Reflect.get(target, prop, receiver) as unknown;
        if (typeof value !== 'function') return value;
        return (...a: unknown[]) => {
          const t0 = performance.now();
          const result = (value as (...x: unknown[]) => unknown).apply(target, a);
          if (result instanceof Promise) return result.finally(() => this.note(String(prop), performance.now() - t0));
          this.note(String(prop), performance.now() - t0);
          return result;
        };
      },
    });
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
const seconds = (ms: number): number => Number((ms / 1000).toFixed(2));
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

function event(type: 'open' | 'click' | 'unsubscribe', key: string, email: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: key, type, mailingId: '1001', recipientListId: '5678', recipientId: email, email, timestamp: new Date().toISOString(), ...extra };
}

export async function benchPipeline(opts: PipelineOptions): Promise<Record<string, unknown>> {
  // SQLite (the default store) in the temp dir, or a throw-away schema of a PostgreSQL database.
  const pgSchema = `crs_bench_${process.pid}_${opts.kind}`;
  const storeUrl = opts.store === 'postgres'
    ? `${process.env.CRS_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/test'}?schema=${pgSchema}`
    : `sqlite:${join(opts.tmp, `${opts.kind}.sqlite`)}`;
  try {
    const result = await runPipeline(opts, storeUrl);
    result.store = opts.store ?? 'sqlite';
    return result;
  } finally {
    if (opts.store === 'postgres') {
      const client = new pg.Client({ connectionString: process.env.CRS_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/test' });
      await client.connect();
      await client.query(`DROP SCHEMA IF EXISTS ${pgSchema} CASCADE`);
      await client.end();
    }
  }
}

async function runPipeline(opts: PipelineOptions, storeUrl: string): Promise<Record<string, unknown>> {
  const config = loadConfig({
    CRS_PORT: '0',
    CRS_HOST: '127.0.0.1',
    CRS_STORE: storeUrl,
    CRS_DATAVERSE_URL: opts.emulator.url,
    CRS_TENANT_ID: opts.emulator.tenantId,
    CRS_CLIENT_ID: opts.emulator.clientId,
    CRS_CLIENT_SECRET: opts.emulator.clientSecret,
    CRS_AUTHORITY_HOST: opts.emulator.authorityHost,
    CRS_WEBHOOK_TOKEN: TOKEN,
    CRS_POLL_INTERVAL: '0',
    CRS_LOG_LEVEL: 'warn',
    // Tuning knobs pass through from the environment (the defaults of config.ts otherwise).
    ...Object.fromEntries(['CRS_WORKER_BATCH_SIZE', 'CRS_WORKER_POLL_MS', 'CRS_DATAVERSE_MAX_CONCURRENCY', 'CRS_RESPONSE_GRANULARITY']
      .filter((name) => process.env[name] !== undefined).map((name) => [name, process.env[name]!])),
  });
  const logger = createLogger({ level: 'warn' });
  const timed = new TimedStore(await openStore(config.storeUrl));
  const store = timed.wrap();
  const metrics = createMetrics({ defaultMetrics: false });
  metrics.bindStore(store);
  const dataverse = createDataverseClient(config, { logger, metrics, ...(opts.serviceProtection ? { serviceProtection: opts.serviceProtection } : {}) });
  const timedCall = <T>(name: string, run: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    return run().finally(() => timed.noteCall(name, performance.now() - t0));
  };
  const dataverseTimed: DataverseClient = {
    execute: (ops) => timedCall('dataverse.execute', () => dataverse.execute(ops)),
    query: (set, q, o) => timedCall('dataverse.query', () => dataverse.query(set, q, o)),
    retrieve: (set, id, sel) => timedCall('dataverse.retrieve', () => dataverse.retrieve(set, id, sel)),
    checkAuth: () => dataverse.checkAuth(),
  };
  // As service/sync/task.ts builds it, with the production defaults of config.ts.
  const worker = new SyncWorker({
    store,
    dataverse: dataverseTimed,
    plan: { granularity: config.responseGranularity, spamComplaintOptOut: config.spamComplaintOptOut },
    bounceLimits: { hard: config.bounceHardLimit, soft: config.bounceSoftLimit },
    metrics,
    logger,
    batchSize: config.workerBatchSize,
    idlePollMs: config.workerPollMs,
    leaseMs: config.workerLeaseMs,
  });
  const app = await buildApp({ config, store, logger, metrics, tasks: [worker] });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const http = new Pool(`http://127.0.0.1:${port}`, { connections: 64 });
  const sentAt = new Map<string, number>();
  let postErrors = 0;
  const post = async (events: Record<string, unknown>[]): Promise<void> => {
    const t = performance.now();
    for (const e of events) sentAt.set(e.id as string, t);
    try {
      const res = await http.request({
        path: `/webhooks/campaign/${CLIENT}`, method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
        body: JSON.stringify(events),
      });
      await res.body.text();
      if (res.statusCode !== 200) postErrors += 1;
    } catch {
      postErrors += 1;
    }
  };

  await dataverse.checkAuth();
  await worker.start();
  try {
    const result = opts.kind === 'steady' ? await steady(opts, post, timed, sentAt, () => postErrors) : await backlog(opts, post, timed, sentAt, () => postErrors);
    const status = worker.status() as { rounds: number };
    result.workerRounds = status.rounds;
    result.workerBatchSize = config.workerBatchSize;
    result.secondsIn = Object.fromEntries([...timed.timeIn].sort((a, b) => b[1].ms - a[1].ms).map(([k, v]) => [k, { calls: v.calls, s: Number((v.ms / 1000).toFixed(2)) }]));
    return result;
  } finally {
    await worker.stop();
    await app.close();
    await http.close();
    await dataverse.close();
    await timed.inner.close();
  }
}

type Post = (events: Record<string, unknown>[]) => Promise<void>;

/** An open-model load at `rate` events/s in webhook requests of `eventsPerRequest`: 85 % opens, 10 % clicks, 5 % unsubscribes. */
async function steady(opts: PipelineOptions, post: Post, timed: TimedStore, sentAt: Map<string, number>, postErrors: () => number): Promise<Record<string, unknown>> {
  const rate = opts.rate ?? 200;
  const total = Math.round(rate * (opts.durationS ?? 60));
  const perRequest = opts.eventsPerRequest ?? 10;
  const start = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < total; i += perRequest) {
    await sleep(start + (i * 1000) / rate - performance.now());
    const events = [];
    for (let k = i; k < Math.min(total, i + perRequest); k += 1) {
      const kind = k % 20 === 0 ? 'unsubscribe' : k % 10 === 1 ? 'click' : 'open';
      events.push(event(kind, `steady-${k}`, opts.email(k % opts.contacts), kind === 'click' ? { url: `https://example.com/offer/${k}` } : {}));
    }
    inFlight.push(post(events));
  }
  await Promise.all(inFlight);
  const sendSeconds = (performance.now() - start) / 1000;
  // Let the queue drain (bounded), then measure.
  const drainUntil = performance.now() + 120_000;
  while (timed.appliedAt.size < total && performance.now() < drainUntil) await sleep(200);
  const latencies = [...sentAt.entries()].map(([key, t]) => (timed.appliedAt.get(key) ?? Number.NaN) - t).filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  return {
    events: total,
    ratePerSecond: rate,
    eventsPerRequest: perRequest,
    achievedPostRate: Number((total / sendSeconds).toFixed(1)),
    applied: latencies.length,
    outcomes: Object.fromEntries(timed.states),
    postErrors: postErrors(),
    latencySeconds: { p50: seconds(percentile(latencies, 50)), p95: seconds(percentile(latencies, 95)), p99: seconds(percentile(latencies, 99)), max: seconds(latencies[latencies.length - 1] ?? Number.NaN) },
  };
}

/** 100,000 opens queued, then one unsubscribe: how long until it is in CRM. */
async function backlog(opts: PipelineOptions, post: Post, timed: TimedStore, sentAt: Map<string, number>, postErrors: () => number): Promise<Record<string, unknown>> {
  const total = opts.backlog ?? 100_000;
  const perRequest = 1000;
  const start = performance.now();
  for (let i = 0; i < total; i += perRequest * 4) {
    // Four webhook requests of 1,000 events in flight: Campaign posts lists of events.
    await Promise.all([0, 1, 2, 3].map((k) => {
      const from = i + k * perRequest;
      const n = Math.max(0, Math.min(perRequest, total - from));
      return n > 0 ? post(Array.from({ length: n }, (_, j) => event('open', `backlog-${from + j}`, opts.email((from + j) % opts.contacts)))) : Promise.resolve();
    }));
  }
  const ingestSeconds = (performance.now() - start) / 1000;
  const appliedBefore = timed.appliedAt.size;
  const key = 'backlog-unsubscribe';
  const unsubscribedAt = performance.now();
  await post([event('unsubscribe', key, opts.email(opts.contacts - 1), { reason: 'bench: behind the backlog' })]);
  const deadline = performance.now() + 60_000;
  while (!timed.appliedAt.has(key) && performance.now() < deadline) await sleep(20);
  const appliedAt = timed.appliedAt.get(key);
  const appliedDuring = timed.appliedAt.size - appliedBefore;
  const windowS = (performance.now() - unsubscribedAt) / 1000;
  return {
    backlogEvents: total,
    ingestSeconds: Number(ingestSeconds.toFixed(1)),
    ingestRate: Math.round(total / ingestSeconds),
    openAppliedBeforeUnsubscribe: appliedBefore,
    unsubscribeToCrmSeconds: appliedAt !== undefined ? seconds(appliedAt - (sentAt.get(key) ?? unsubscribedAt)) : null,
    eventsAppliedMeanwhile: appliedDuring,
    drainRatePerSecond: Math.round(appliedDuring / Math.max(0.001, windowS)),
    outcomes: Object.fromEntries(timed.states),
    postErrors: postErrors(),
  };
}
