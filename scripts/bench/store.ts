/**
 * Micro-benchmark of the event store engines (no HTTP): append throughput one event per call
 * (sequential, and 64 calls in flight as concurrent webhook requests produce), append in 100-event
 * batches, and lease+complete throughput. Prints a Markdown table for docs/benchmarks.md.
 *
 *   npm run bench:store                      # SQLite (FULL and NORMAL) + PostgreSQL
 *   npm run bench:store -- --engine sqlite   # or postgres
 *   CRS_BENCH_PG=postgres://user@host/db npm run bench:store
 *
 * PostgreSQL runs in a throw-away schema (dropped at the end); SQLite in a temp directory.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { openStore } from '../../service/store/index.js';
import type { EventStore, IncomingEvent } from '../../service/store/types.js';
import type { EventType } from '../../service/events.js';

const { values: args } = parseArgs({
  options: {
    engine: { type: 'string', default: 'all' },
    singles: { type: 'string', default: '3000' },
    batches: { type: 'string', default: '300' },
  },
});
const SINGLES = Number(args.singles);
const BATCHES = Number(args.batches);
const WAITING = 10_000;
const PG_URL = process.env.CRS_BENCH_PG ?? 'postgres://postgres@127.0.0.1:5432/test';

let seq = 0;
function event(): IncomingEvent {
  const i = seq++;
  const type: EventType = i % 10 === 0 ? 'unsubscribe' : 'open';
  const key = `bench-${i}`;
  const normalized = {
    key, type, clientId: '100', mailingId: '4711', recipientId: `r${i}@example.com`, email: `r${i}@example.com`,
    occurredAt: '2026-11-26T10:00:00Z', origin: 'webhook' as const,
  };
  const raw = JSON.stringify({ eventType: type, mailingId: 4711, recipientId: normalized.email, timestamp: 1795687200000, id: key });
  return { clientId: '100', raw, normalized };
}

const rate = (n: number, ms: number): number => Math.round((n / ms) * 1000);

async function timed(fn: () => Promise<number>): Promise<{ n: number; ms: number }> {
  const t0 = performance.now();
  const n = await fn();
  return { n, ms: performance.now() - t0 };
}

interface Row { engine: string; measure: string; events: number; ms: number }

async function benchEngine(label: string, store: EventStore): Promise<Row[]> {
  const rows: Row[] = [];
  const add = (measure: string, r: { n: number; ms: number }) => rows.push({ engine: label, measure, events: r.n, ms: r.ms });

  add('append, 1 event per call, sequential', await timed(async () => {
    for (let i = 0; i < SINGLES; i++) await store.append([event()]);
    return SINGLES;
  }));
  add('append, 1 event per call, 64 in flight', await timed(async () => {
    let next = 0;
    const worker = async () => {
      while (next++ < SINGLES * 2) await store.append([event()]);
    };
    await Promise.all(Array.from({ length: 64 }, worker));
    return SINGLES * 2;
  }));
  add('append, 100 events per call, sequential', await timed(async () => {
    for (let i = 0; i < BATCHES; i++) await store.append(Array.from({ length: 100 }, event));
    return BATCHES * 100;
  }));
  add('append, 100 events per call, 8 in flight', await timed(async () => {
    let next = 0;
    const worker = async () => {
      while (next++ < BATCHES) await store.append(Array.from({ length: 100 }, event));
    };
    await Promise.all(Array.from({ length: 8 }, worker));
    return BATCHES * 100;
  }));
  // Realistic queue: part of the traffic has no CRM match yet and waits (R8 back-off) while the rest drains.
  const tomorrow = new Date(Date.now() + 86_400_000);
  for (let parked = 0; parked < WAITING;) {
    const batch = await store.lease({ owner: 'bench', limit: 100, leaseMs: 60_000 });
    parked += await store.complete('bench', batch.map((e) => ({ id: e.id, state: 'unmatched' as const, nextAttemptAt: tomorrow })));
  }
  add(`lease 100 + complete 100 (applied), one worker, ${WAITING} unmatched waiting`, await timed(async () => {
    let done = 0;
    for (;;) {
      const batch = await store.lease({ owner: 'bench', limit: 100, leaseMs: 60_000 });
      if (batch.length === 0) return done;
      done += await store.complete('bench', batch.map((e) => ({ id: e.id, state: 'applied' as const })));
    }
  }));
  return rows;
}

async function main(): Promise<void> {
  const engines = args.engine === 'all' ? ['sqlite', 'sqlite-normal', 'postgres'] : [args.engine];
  const rows: Row[] = [];
  for (const engine of engines) {
    if (engine === 'sqlite' || engine === 'sqlite-normal') {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crs-bench-store-'));
      const url = `sqlite:${path.join(dir, 'bench.sqlite')}${engine === 'sqlite-normal' ? '?synchronous=normal' : ''}`;
      const store = await openStore(url);
      try {
        rows.push(...(await benchEngine(engine === 'sqlite' ? 'SQLite (WAL, synchronous=FULL)' : 'SQLite (WAL, synchronous=NORMAL)', store)));
      } finally {
        await store.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
    } else if (engine === 'postgres') {
      const schema = `crs_bench_${randomBytes(4).toString('hex')}`;
      const store = await openStore(`${PG_URL}${PG_URL.includes('?') ? '&' : '?'}schema=${schema}`);
      try {
        rows.push(...(await benchEngine('PostgreSQL (pool of 10)', store)));
      } finally {
        await store.close();
        const admin = new pg.Client({ connectionString: PG_URL });
        await admin.connect();
        await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await admin.end();
      }
    } else {
      throw new Error(`unknown --engine "${engine}" (sqlite, sqlite-normal, postgres or all)`);
    }
  }
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  console.log(`\n${new Date().toISOString().slice(0, 10)} · ${os.cpus().length} cores (${cpu}) · Node ${process.version} · ${os.platform()}`);
  console.log('\n| engine | measure | events | seconds | events/s |\n|---|---|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.engine} | ${r.measure} | ${r.events} | ${(r.ms / 1000).toFixed(2)} | ${rate(r.events, r.ms)} |`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
