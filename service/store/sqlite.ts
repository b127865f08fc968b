/**
 * SQLite engine of the event store (better-sqlite3, WAL). The embedded default for a single node.
 *
 * better-sqlite3 is synchronous: every statement and every commit's fsync blocks the thread it runs
 * on. So the database lives on a writer thread (sqlite-writer.ts, node:worker_threads) that owns the
 * store's only connection; this class sends it each call and resolves the promise with its answer.
 * The HTTP event loop keeps parsing and answering requests while a commit waits for the disk.
 * Group commit happens on the writer thread: all appends that arrive while a commit is in flight go
 * into the next transaction (one fsync), and each caller's promise resolves only after COMMIT.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { NormalizedEvent } from '../events.js';
import { checkPurge } from './rows.js';
import { encodeRows } from './row-frames.js';
import { toNewEventRow } from './rows.js';
import type { SqliteCoreOptions, SqliteSynchronous } from './sqlite-core.js';
import type { WriterReply, WriterRequest } from './sqlite-writer.js';
import type {
  AggregateItem, AggregateValue, AppendResult, EventState, EventStore, IncomingEvent, LeaseOptions, Outcome, PurgeOptions, StoreCounts,
  StoredEvent,
} from './types.js';

export { MIGRATIONS } from './sqlite-core.js';
export type { SqliteSynchronous } from './sqlite-core.js';

export interface SqliteStoreOptions {
  /** File path, or ':memory:' (tests). The parent directory is created. */
  path: string;
  synchronous?: SqliteSynchronous;
  now?: () => Date;
  /** How long a writer waits for another process holding the write lock (e.g. a CLI next to the service). */
  busyTimeoutMs?: number;
}

interface PendingCall {
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
}

const WRITER = new URL(`./sqlite-writer${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);

/**
 * Starts the writer thread. The sources are TypeScript run through tsx without a build step; a worker
 * thread does not inherit tsx's loader in every way the service is started (`crs` registers it in
 * code, vitest has its own), so the thread registers tsx itself before importing the writer.
 */
function startWriter(options: SqliteCoreOptions): Worker {
  if (!WRITER.pathname.endsWith('.ts')) return new Worker(WRITER, { workerData: options });
  // The ESM entry of tsx's API (import.meta.resolve is missing under vitest; require.resolve names the CommonJS twin).
  const tsxApi = import.meta.resolve?.('tsx/esm/api')
    ?? pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then(({ register }) => { register(); return import(${JSON.stringify(WRITER.href)}); })`;
  return new Worker(bootstrap, { eval: true, workerData: options });
}

function toError(error: { message: string; code?: string }): Error {
  return Object.assign(new Error(error.message), error.code ? { code: error.code } : {});
}

export class SqliteEventStore implements EventStore {
  readonly engine = 'sqlite' as const;
  private readonly now: () => Date;
  private readonly worker: Worker;
  private readonly calls = new Map<number, PendingCall>();
  private readonly outbox: WriterRequest[] = [];
  // Mutable fields in one object: wrappers made with Object.create(store) (tests) share them.
  private readonly status: { nextId: number; closed: boolean; failure: Error | undefined; closing: Promise<void> | undefined } = {
    nextId: 1, closed: false, failure: undefined, closing: undefined,
  };

  constructor(opts: SqliteStoreOptions) {
    this.now = opts.now ?? (() => new Date());
    this.worker = startWriter({
      path: opts.path,
      synchronous: opts.synchronous ?? 'FULL',
      ...(opts.busyTimeoutMs !== undefined ? { busyTimeoutMs: opts.busyTimeoutMs } : {}),
    });
    // The thread keeps the process alive only while calls are in flight (like a socket with a request).
    this.worker.unref();
    this.worker.on('message', (replies: WriterReply[]) => {
      for (const reply of replies) {
        const call = this.calls.get(reply.id);
        if (!call) continue;
        this.calls.delete(reply.id);
        if ('error' in reply) call.reject(toError(reply.error));
        else call.resolve(reply.value);
      }
      if (this.outbox.length > 0 && this.writerIdle()) this.postOutbox();
      if (this.calls.size === 0) this.worker.unref();
    });
    this.worker.on('error', (error) => this.fail(new Error(`event store writer thread failed: ${error.message}`)));
    this.worker.on('exit', (code) => {
      if (!this.status.closed) this.fail(new Error(`event store writer thread exited (code ${code})`));
    });
  }

  private fail(error: Error): void {
    this.status.failure ??= error;
    for (const call of this.calls.values()) call.reject(error);
    this.calls.clear();
  }

  private send<T>(op: string, args: unknown[] = []): Promise<T> {
    if (this.status.failure) return Promise.reject(this.status.failure);
    const id = this.status.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.calls.set(id, { resolve: resolve as (value: unknown) => void, reject });
      if (this.calls.size === 1) this.worker.ref();
      this.outbox.push({ id, op, args, now: this.now().getTime() });
      if (this.writerIdle()) this.postOutbox();
    });
  }

  /** Every request posted to the writer has been answered (the unanswered rest are still in the outbox). */
  private writerIdle(): boolean {
    return this.calls.size === this.outbox.length;
  }

  /**
   * Adaptive batching, like Nagle's algorithm: a request goes to the writer at once when the writer
   * has nothing of ours, so a lone webhook waits for nothing; while the writer works (a commit and its
   * fsync), new requests collect here and go as ONE message the moment it answers (the message
   * handler), where the writer commits them in one transaction. A postMessage per request cost more
   * main-thread time than parsing the request; sending once per event-loop turn instead made a
   * request wait for the end of a long turn while the writer sat idle.
   */
  private readonly postOutbox = (): void => {
    const requests = this.outbox.splice(0);
    if (requests.length > 0 && !this.status.failure) this.worker.postMessage(requests);
  };

  private call<T>(op: string, args: unknown[] = []): Promise<T> {
    if (this.status.closed) return Promise.reject(new Error('event store is closed'));
    return this.send<T>(op, args);
  }

  /** Effective PRAGMA values of the writer's connection (documented durability; asserted by tests). */
  pragmas(): Promise<{ journalMode: string; synchronous: number }> {
    return this.call('pragmas');
  }

  migrate(): Promise<void> {
    return this.call('migrate');
  }

  append(events: IncomingEvent[]): Promise<AppendResult> {
    if (this.status.closed) return Promise.reject(new Error('event store is closed'));
    if (events.length === 0) return Promise.resolve({ accepted: 0, duplicates: 0, quarantined: 0 });
    let frame: string;
    try {
      // One framed string of rows (row-frames.ts): the cheapest hand-off measured, on both threads.
      frame = encodeRows(events.map(toNewEventRow));
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
    return this.send('append', [frame]);
  }

  lease(opts: LeaseOptions): Promise<StoredEvent[]> {
    return this.call('lease', [{ owner: opts.owner, limit: opts.limit, leaseMs: opts.leaseMs }]);
  }

  complete(owner: string, outcomes: Outcome[]): Promise<number> {
    return this.call('complete', [owner, outcomes]);
  }

  releaseAll(owner: string): Promise<void> {
    return this.call('releaseAll', [owner]);
  }

  counts(): Promise<StoreCounts> {
    return this.call('counts');
  }

  oldestPendingReceivedAt(): Promise<Date | null> {
    return this.call('oldestPendingReceivedAt');
  }

  lastReceivedAt(): Promise<Date | null> {
    return this.call('lastReceivedAt');
  }

  lastAppliedAt(): Promise<Date | null> {
    return this.call('lastAppliedAt');
  }

  list(state: EventState, limit: number, offset = 0): Promise<StoredEvent[]> {
    return this.call('list', [state, limit, offset]);
  }

  get(ids: string[]): Promise<StoredEvent[]> {
    return this.call('get', [ids]);
  }

  requeue(items: { id: string; normalized?: NormalizedEvent; quarantineReason?: string }[]): Promise<number> {
    return this.call('requeue', [items]);
  }

  countBounces(clientId: string, email: string): Promise<{ hard: number; soft: number }> {
    return this.call('countBounces', [clientId, email]);
  }

  addToAggregate(responseKey: string, eventKey: string, occurredAt: string): Promise<AggregateValue> {
    return this.call('addToAggregate', [responseKey, eventKey, occurredAt]);
  }

  addToAggregates(items: AggregateItem[]): Promise<Map<string, AggregateValue>> {
    if (items.length === 0) return this.status.closed ? this.call('addToAggregates', [items]) : Promise.resolve(new Map());
    return this.call('addToAggregates', [items.map((i) => ({ responseKey: i.responseKey, eventKey: i.eventKey, occurredAt: i.occurredAt }))]);
  }

  async purge(opts: PurgeOptions): Promise<number> {
    const { before, limit } = checkPurge(opts);
    return this.call('purge', [{ before: before.getTime(), limit }]);
  }

  getState(key: string): Promise<string | null> {
    return this.call('getState', [key]);
  }

  setState(key: string, value: string): Promise<void> {
    return this.call('setState', [key, value]);
  }

  ping(): Promise<void> {
    return this.call('ping');
  }

  /** Appends already sent are committed first (the writer handles requests in order), then the thread ends. */
  close(): Promise<void> {
    this.status.closing ??= (async () => {
      this.status.closed = true;
      try {
        if (!this.status.failure) await this.send('close');
      } finally {
        await this.worker.terminate();
      }
    })();
    return this.status.closing;
  }
}
