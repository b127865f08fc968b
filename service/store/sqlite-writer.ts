/**
 * The SQLite store's writer thread (node:worker_threads). It owns the only database connection of
 * the store and runs every operation, so neither the inserts nor the fsync of a commit ever block the
 * HTTP event loop. Requests are handled in the order they were sent.
 *
 * Group commit: append requests are queued and written together by one transaction on the next turn
 * of this thread's event loop. Every append that arrives while a commit (fsync) is in flight is
 * therefore part of the next transaction. Each caller is answered only after COMMIT. Any other
 * request first commits the appends queued before it, so the caller's order is kept.
 */
import { parentPort, receiveMessageOnPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { decodeRows } from './row-frames.js';
import { SqliteCore } from './sqlite-core.js';
import type { SqliteCoreOptions } from './sqlite-core.js';
import type { NewEventRow } from './rows.js';

/** A request from the store (main thread). `now` is the store's clock (injectable in tests) at the call. */
export interface WriterRequest {
  id: number;
  op: string;
  args: unknown[];
  now: number;
}

/** Replies go back in batches (one message per group commit, not one per caller). */
export type WriterReply = { id: number; value: unknown } | { id: number; error: { message: string; code?: string } };

const port = parentPort as MessagePort;
let core: SqliteCore | undefined;
let openError: unknown;
try {
  core = new SqliteCore(workerData as SqliteCoreOptions);
} catch (error) {
  openError = error; // every request is answered with it (e.g. the directory is not writable)
}

let queue: { id: number; rows: NewEventRow[]; now: number }[] = [];
let outbox: WriterReply[] = [];
let flushScheduled = false;
let closed = false;

function errorOf(error: unknown): { message: string; code?: string } {
  const e = error as { message?: unknown; code?: unknown };
  return { message: String(e?.message ?? error), ...(typeof e?.code === 'string' ? { code: e.code } : {}) };
}

function engine(): SqliteCore {
  if (closed) throw new Error('event store is closed');
  if (!core) throw openError;
  return core;
}

function send(): void {
  if (outbox.length === 0) return;
  port.postMessage(outbox);
  outbox = [];
}

/** Commits every queued append in one transaction; if the group fails, retries each append alone, so only the faulty one fails. */
function commitAppends(): void {
  const batch = queue;
  queue = [];
  if (batch.length === 0) return;
  try {
    const results = engine().insertGroups(batch);
    batch.forEach((b, i) => outbox.push({ id: b.id, value: results[i] }));
  } catch (groupError) {
    if (batch.length === 1) {
      outbox.push({ id: batch[0]!.id, error: errorOf(groupError) });
      return;
    }
    for (const b of batch) {
      try {
        outbox.push({ id: b.id, value: engine().insertGroups([b])[0] });
      } catch (error) {
        outbox.push({ id: b.id, error: errorOf(error) });
      }
    }
  }
}

function flush(): void {
  flushScheduled = false;
  // Appends that arrived since this turn began join the same transaction.
  for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) for (const r of m.message as WriterRequest[]) handle(r);
  commitAppends();
  send();
}

function run(request: WriterRequest): unknown {
  const { args, now } = request;
  const db = engine();
  switch (request.op) {
    case 'migrate': return db.migrate(now);
    case 'pragmas': return db.pragmas();
    case 'lease': return db.lease(args[0] as Parameters<SqliteCore['lease']>[0], now);
    case 'complete': return db.complete(args[0] as string, args[1] as Parameters<SqliteCore['complete']>[1], now);
    case 'releaseAll': return db.releaseAll(args[0] as string);
    case 'counts': return db.counts();
    case 'oldestPendingReceivedAt': return db.oldestPendingReceivedAt();
    case 'lastReceivedAt': return db.lastReceivedAt();
    case 'lastAppliedAt': return db.lastAppliedAt();
    case 'list': return db.list(args[0] as Parameters<SqliteCore['list']>[0], args[1] as number, args[2] as number);
    case 'get': return db.get(args[0] as string[]);
    case 'requeue': return db.requeue(args[0] as Parameters<SqliteCore['requeue']>[0], now);
    case 'countBounces': return db.countBounces(args[0] as string, args[1] as string);
    case 'addToAggregate': return db.addToAggregate(args[0] as string, args[1] as string, args[2] as string);
    case 'addToAggregates': return db.addToAggregates(args[0] as Parameters<SqliteCore['addToAggregates']>[0]);
    case 'purge': return db.purge(args[0] as Parameters<SqliteCore['purge']>[0]);
    case 'getState': return db.getState(args[0] as string);
    case 'setState': return db.setState(args[0] as string, args[1] as string, now);
    // A real committed write: proves the file is writable and the disk accepts data (readiness).
    case 'ping': return db.setState('crs.store.ping', new Date(now).toISOString(), now);
    case 'close':
      closed = true;
      core?.close();
      return undefined;
    default: throw new Error(`unknown store operation "${request.op}"`);
  }
}

function handle(request: WriterRequest): void {
  if (request.op === 'append') {
    try {
      engine(); // closed or not opened: this append fails now
      queue.push({ id: request.id, rows: decodeRows(request.args[0] as string), now: request.now }); // framed by sqlite.ts
    } catch (error) {
      outbox.push({ id: request.id, error: errorOf(error) });
      return;
    }
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
    return;
  }
  commitAppends(); // appends sent before this request are written before it runs
  try {
    outbox.push({ id: request.id, value: run(request) });
  } catch (error) {
    outbox.push({ id: request.id, error: errorOf(error) });
  }
}

// The store sends the requests of one main-thread turn together, in call order.
port.on('message', (requests: WriterRequest[]) => {
  for (const request of requests) handle(request);
  if (queue.length === 0) send();
});
