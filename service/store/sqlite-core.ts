/**
 * The synchronous SQLite engine behind the event store (better-sqlite3, WAL). It runs on the store's
 * writer thread (sqlite-writer.ts), never on the HTTP event loop: better-sqlite3 blocks the thread it
 * runs on for every statement and every commit's fsync. Every method is one transaction; `now` is
 * passed in by the caller (the store's clock lives on the main thread).
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { NormalizedEvent } from '../events.js';
import {
  EVENT_COLUMNS, assertState, bounceCounts, checkOutcomes, checkPurge, countsByState, isStoreId, lastOutcomePerId, toRequeueRow,
  toStoredEvent as rowToStoredEvent,
} from './rows.js';
import type { EventRow as SharedEventRow, NewEventRow } from './rows.js';
import type {
  AggregateItem, AggregateValue, AppendResult, EventState, IncomingEvent, LeaseOptions, Outcome, StoreCounts, StoredEvent,
} from './types.js';

/** FULL: every commit is fsynced (survives power loss). NORMAL: in WAL mode survives a process crash only. */
export type SqliteSynchronous = 'FULL' | 'NORMAL' | 'EXTRA';

export interface SqliteCoreOptions {
  /** File path, or ':memory:' (tests). The parent directory is created. */
  path: string;
  synchronous?: SqliteSynchronous;
  /** How long a writer waits for another process holding the write lock (e.g. a CLI next to the service). */
  busyTimeoutMs?: number;
}

/** A row as better-sqlite3 returns it: times are stored as epoch milliseconds. */
type EventRow = SharedEventRow<number>;

export const MIGRATIONS: { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'events, response aggregates, key/value state',
    sql: `
      CREATE TABLE crs_events (
        id                 INTEGER PRIMARY KEY AUTOINCREMENT,
        client_id          TEXT    NOT NULL,
        dedup_key          TEXT    UNIQUE,
        raw                TEXT    NOT NULL,
        normalized         TEXT,
        state              TEXT    NOT NULL CHECK (state IN ('pending','applied','ignored','unmatched','quarantined','deadLetter')),
        priority           INTEGER NOT NULL,
        attempts           INTEGER NOT NULL DEFAULT 0,
        last_error         TEXT,
        received_at        INTEGER NOT NULL,
        next_attempt_at    INTEGER NOT NULL,
        first_unmatched_at INTEGER,
        lease_owner        TEXT,
        lease_expires_at   INTEGER,
        applied_at         INTEGER,
        event_type         TEXT,
        email              TEXT,
        bounce_kind        TEXT
      );
      CREATE INDEX crs_events_due ON crs_events (priority, id) WHERE state IN ('pending','unmatched');
      CREATE INDEX crs_events_state ON crs_events (state, id);
      CREATE INDEX crs_events_bounces ON crs_events (client_id, email) WHERE event_type = 'bounce';
      CREATE INDEX crs_events_applied_at ON crs_events (applied_at) WHERE applied_at IS NOT NULL;
      CREATE TABLE crs_response_events (
        response_key TEXT NOT NULL,
        event_key    TEXT NOT NULL,
        occurred_at  TEXT NOT NULL,
        PRIMARY KEY (response_key, event_key)
      ) WITHOUT ROWID;
      CREATE TABLE crs_kv (
        key        TEXT PRIMARY KEY,
        value      TEXT NOT NULL,
        updated_at INTEGER NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    version: 2,
    name: 'ready and deferred lease indexes',
    // Events waiting for a retry time (unmatched back-off) no longer sit in the index every lease walks.
    sql: `
      ALTER TABLE crs_events ADD COLUMN deferred INTEGER NOT NULL DEFAULT 0;
      UPDATE crs_events SET deferred = 1 WHERE state IN ('pending','unmatched') AND next_attempt_at > received_at;
      DROP INDEX IF EXISTS crs_events_due;
      DROP INDEX IF EXISTS crs_events_lease_owner;
      CREATE INDEX crs_events_ready ON crs_events (priority, id) WHERE state IN ('pending','unmatched') AND deferred = 0;
      CREATE INDEX crs_events_deferred ON crs_events (next_attempt_at) WHERE state IN ('pending','unmatched') AND deferred = 1;
    `,
  },
  {
    version: 3,
    name: 'per-state counters kept by triggers',
    // counts() runs on every metrics scrape; a GROUP BY over millions of rows would block the event loop
    // (better-sqlite3 is synchronous). SQLite has one writer at a time, so counters cost no contention.
    sql: `
      CREATE TABLE crs_state_counts (state TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
      INSERT INTO crs_state_counts (state, n)
        SELECT s.value, (SELECT count(*) FROM crs_events WHERE state = s.value)
        FROM json_each('["pending","applied","ignored","unmatched","quarantined","deadLetter"]') AS s;
      CREATE TRIGGER crs_events_count_insert AFTER INSERT ON crs_events BEGIN
        UPDATE crs_state_counts SET n = n + 1 WHERE state = NEW.state;
      END;
      CREATE TRIGGER crs_events_count_update AFTER UPDATE OF state ON crs_events WHEN OLD.state <> NEW.state BEGIN
        UPDATE crs_state_counts SET n = n - 1 WHERE state = OLD.state;
        UPDATE crs_state_counts SET n = n + 1 WHERE state = NEW.state;
      END;
      CREATE TRIGGER crs_events_count_delete AFTER DELETE ON crs_events BEGIN
        UPDATE crs_state_counts SET n = n - 1 WHERE state = OLD.state;
      END;
    `,
  },
  {
    version: 4,
    name: 'append counts its inserts once per transaction',
    // The per-row insert trigger cost a quarter of append throughput; append() now adds its totals itself.
    sql: `DROP TRIGGER crs_events_count_insert;`,
  },
  {
    version: 5,
    name: 'retention purge index',
    // purge() reads the purgeable events oldest first from this range instead of scanning the table. Partial:
    // pending events (every append) and bounces (kept for countBounces) are not in it. The expression must
    // stay identical to the one in the purge statement, or SQLite does not use the index.
    sql: `
      CREATE INDEX crs_events_purge ON crs_events (COALESCE(applied_at, received_at))
        WHERE state IN ('applied','ignored') AND event_type IS NOT 'bounce';
    `,
  },
  {
    version: 6,
    name: 'natural dedup keys clustered by time',
    // rows.ts storedDedupKey: occurredAt in front of natural keys keeps the UNIQUE index's inserts together.
    sql: `
      UPDATE crs_events SET dedup_key = substr(json_extract(normalized, '$.occurredAt'), 1, 19) || '|' || dedup_key
        WHERE dedup_key LIKE 'nk:%' AND normalized IS NOT NULL;
    `,
  },
  {
    version: 7,
    name: 'event id keys beside natural keys',
    // rows.ts storedKeys: dedup_key holds the natural key of every new event, id_key its event id key.
    // Rows stored before keep their id key in dedup_key and get it in id_key too, so the same id stays one event.
    // Partial: events without an id (the usual case) cost this index nothing.
    sql: `
      ALTER TABLE crs_events ADD COLUMN id_key TEXT;
      UPDATE crs_events SET id_key = dedup_key WHERE dedup_key LIKE 'id:%';
      CREATE UNIQUE INDEX crs_events_id_key ON crs_events (id_key) WHERE id_key IS NOT NULL;
    `,
  },
];

const toStoredEvent = (r: EventRow): StoredEvent => rowToStoredEvent(r, (ms) => new Date(ms).toISOString());

const byPriorityThenId = (a: StoredEvent, b: StoredEvent): number =>
  a.priority - b.priority || Number(a.id) - Number(b.id);

/** One append() call: its events and the time it was issued. */
export interface AppendGroup {
  events: IncomingEvent[];
  now: number;
}

export class SqliteCore {
  private readonly db: Database.Database;
  private statements: ReturnType<SqliteCore['prepare']> | undefined;

  constructor(opts: SqliteCoreOptions) {
    if (opts.path !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(opts.path)), { recursive: true });
    this.db = new Database(opts.path);
    this.db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 5000))}`);
    if (opts.path !== ':memory:') this.db.pragma('journal_mode = WAL');
    this.db.pragma(`synchronous = ${opts.synchronous ?? 'FULL'}`);
  }

  /** Effective PRAGMA values (documented durability; asserted by tests). */
  pragmas(): { journalMode: string; synchronous: number } {
    return {
      journalMode: String(this.db.pragma('journal_mode', { simple: true })),
      synchronous: Number(this.db.pragma('synchronous', { simple: true })),
    };
  }

  migrate(now: number): void {
    // IMMEDIATE takes the write lock first, so two processes starting at once migrate one after the other.
    this.db.transaction(() => {
      this.db.exec(`CREATE TABLE IF NOT EXISTS crs_schema_migrations (
        version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`);
      const applied = new Set(
        (this.db.prepare('SELECT version FROM crs_schema_migrations').all() as { version: number }[]).map((r) => r.version),
      );
      for (const m of MIGRATIONS) {
        if (applied.has(m.version)) continue;
        this.db.exec(m.sql);
        this.db.prepare('INSERT INTO crs_schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, now);
      }
    }).immediate();
  }

  /** Statements are prepared on first use (after migrate() created the tables). */
  private prepare() {
    const { db } = this;
    return {
      // No conflict target: a repeat of either key (dedup_key, or the partial unique id_key) is skipped.
      insert: db.prepare(`INSERT INTO crs_events
          (client_id, dedup_key, id_key, raw, normalized, state, priority, last_error, received_at, next_attempt_at, event_type, email, bounce_kind)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
          ON CONFLICT DO NOTHING`),
      // crs_state_counts: inserts are added here once per transaction (updates and deletes by triggers)
      addToCount: db.prepare('UPDATE crs_state_counts SET n = n + ? WHERE state = ?'),
      // Two bounded index scans instead of one over every waiting event: "ready" events (due since they
      // arrived; backlog order) and "deferred" events whose retry time has come (unmatched back-off, retries).
      lease: db.prepare(`UPDATE crs_events
          SET lease_owner = @owner, lease_expires_at = @expires, attempts = attempts + 1
          WHERE id IN (
            SELECT id FROM (
              SELECT id, priority FROM (
                SELECT id, priority FROM crs_events INDEXED BY crs_events_ready
                WHERE state IN ('pending','unmatched') AND deferred = 0
                  AND (lease_expires_at IS NULL OR lease_expires_at <= @now)
                ORDER BY priority, id LIMIT @limit)
              UNION ALL
              SELECT id, priority FROM (
                SELECT id, priority FROM crs_events INDEXED BY crs_events_deferred
                WHERE state IN ('pending','unmatched') AND deferred = 1 AND next_attempt_at <= @now
                  AND (lease_expires_at IS NULL OR lease_expires_at <= @now)
                ORDER BY next_attempt_at LIMIT @limit))
            ORDER BY priority, id LIMIT @limit)
          RETURNING ${EVENT_COLUMNS}`),
      complete: db.prepare(`UPDATE crs_events SET
            state = @state,
            last_error = @error,
            next_attempt_at = @next,
            deferred = @next > @now,
            first_unmatched_at = CASE WHEN @state = 'unmatched' THEN COALESCE(first_unmatched_at, @now) ELSE first_unmatched_at END,
            applied_at = CASE WHEN @state = 'applied' THEN @now ELSE applied_at END,
            lease_owner = NULL, lease_expires_at = NULL
          WHERE id = @id AND lease_owner = @owner AND lease_expires_at > @now`),
      // Leases exist only on pending / unmatched events (no index on lease_owner: a lease writes no index).
      releaseAll: db.prepare(`UPDATE crs_events SET lease_owner = NULL, lease_expires_at = NULL
          WHERE state IN ('pending','unmatched') AND lease_owner = ?`),
      counts: db.prepare('SELECT state, n FROM crs_state_counts'),
      oldestPending: db.prepare("SELECT received_at AS t FROM crs_events WHERE state = 'pending' ORDER BY id LIMIT 1"),
      lastReceived: db.prepare('SELECT received_at AS t FROM crs_events ORDER BY id DESC LIMIT 1'),
      lastApplied: db.prepare('SELECT max(applied_at) AS t FROM crs_events WHERE applied_at IS NOT NULL'),
      list: db.prepare(`SELECT ${EVENT_COLUMNS} FROM crs_events WHERE state = ? ORDER BY id DESC LIMIT ? OFFSET ?`),
      get: db.prepare(`SELECT ${EVENT_COLUMNS} FROM crs_events WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id`),
      keyOwner: db.prepare('SELECT id FROM crs_events WHERE (dedup_key = @dedupKey OR id_key = @idKey) AND id <> @id LIMIT 1'),
      requeue: db.prepare(`UPDATE crs_events SET
            dedup_key = @dedupKey, id_key = @idKey, normalized = @normalized, state = @state, priority = @priority, last_error = @lastError,
            event_type = @eventType, email = @email, bounce_kind = @bounceKind, attempts = 0, next_attempt_at = @now,
            deferred = 0, first_unmatched_at = NULL, lease_owner = NULL, lease_expires_at = NULL
          WHERE id = @id`),
      markReplayDuplicate: db.prepare(`UPDATE crs_events SET
            state = 'ignored', last_error = @error, lease_owner = NULL, lease_expires_at = NULL
          WHERE id = @id`),
      countBounces: db.prepare(`SELECT bounce_kind AS kind, count(*) AS n FROM crs_events
          WHERE client_id = ? AND email = ? AND event_type = 'bounce' AND state <> 'quarantined' GROUP BY bounce_kind`),
      aggregateInsert: db.prepare(`INSERT INTO crs_response_events (response_key, event_key, occurred_at) VALUES (?, ?, ?)
          ON CONFLICT DO NOTHING`),
      aggregateRead: db.prepare(`SELECT count(*) AS n, min(occurred_at) AS first, max(occurred_at) AS last
          FROM crs_response_events WHERE response_key = ?`),
      // Finished = applied_at for applied events; ignored outcomes record no time (complete() sets applied_at only
      // for applied), so they age from received_at (an ignored event re-delivered after its purge is ignored again).
      // The crs_events_count_delete trigger keeps crs_state_counts right.
      purge: db.prepare(`DELETE FROM crs_events WHERE id IN (
            SELECT id FROM crs_events INDEXED BY crs_events_purge
            WHERE state IN ('applied','ignored') AND event_type IS NOT 'bounce' AND COALESCE(applied_at, received_at) < @before
            ORDER BY COALESCE(applied_at, received_at) LIMIT @limit)`),
      getState: db.prepare('SELECT value FROM crs_kv WHERE key = ?'),
      setState: db.prepare(`INSERT INTO crs_kv (key, value, updated_at) VALUES (?, ?, ?)
          ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`),
    };
  }

  private get stmt() {
    this.statements ??= this.prepare();
    return this.statements;
  }

  /** Writes several append() calls in ONE transaction (one commit, one fsync) and returns each call's counts. */
  insertGroups(groups: { rows: NewEventRow[]; now: number }[]): AppendResult[] {
    const { insert, addToCount } = this.stmt;
    return this.db.transaction(() => {
      let accepted = 0;
      let quarantined = 0;
      const results = groups.map(({ rows, now }) => {
        const result: AppendResult = { accepted: 0, duplicates: 0, quarantined: 0 };
        for (const r of rows) {
          const { changes } = insert.run(
            r.clientId, r.dedupKey, r.idKey, r.raw, r.normalized, r.state, r.priority, r.lastError, now, now, r.eventType, r.email, r.bounceKind,
          );
          if (r.state === 'quarantined') result.quarantined += 1;
          else if (changes === 1) result.accepted += 1;
          else result.duplicates += 1;
        }
        accepted += result.accepted;
        quarantined += result.quarantined;
        return result;
      });
      if (accepted > 0) addToCount.run(accepted, 'pending');
      if (quarantined > 0) addToCount.run(quarantined, 'quarantined');
      return results;
    }).immediate();
  }

  lease(opts: LeaseOptions, now: number): StoredEvent[] {
    const limit = Math.max(0, Math.floor(opts.limit));
    if (limit === 0) return [];
    const rows = this.stmt.lease.all({ owner: opts.owner, expires: now + Math.max(0, opts.leaseMs), now, limit }) as EventRow[];
    return rows.map(toStoredEvent).sort(byPriorityThenId);
  }

  complete(owner: string, outcomes: Outcome[], now: number): number {
    checkOutcomes(outcomes);
    const { complete } = this.stmt;
    return this.db.transaction(() => {
      let recorded = 0;
      for (const o of lastOutcomePerId(outcomes)) {
        recorded += complete.run({
          id: Number(o.id), owner, now, state: o.state, error: o.error ?? null,
          next: o.nextAttemptAt ? o.nextAttemptAt.getTime() : now,
        }).changes;
      }
      return recorded;
    }).immediate();
  }

  releaseAll(owner: string): void {
    this.stmt.releaseAll.run(owner);
  }

  counts(): StoreCounts {
    return countsByState(this.stmt.counts.all() as { state: EventState; n: number }[]);
  }

  oldestPendingReceivedAt(): Date | null {
    return timeOf(this.stmt.oldestPending.get());
  }

  lastReceivedAt(): Date | null {
    return timeOf(this.stmt.lastReceived.get());
  }

  lastAppliedAt(): Date | null {
    return timeOf(this.stmt.lastApplied.get());
  }

  list(state: EventState, limit: number, offset = 0): StoredEvent[] {
    assertState(state);
    const rows = this.stmt.list.all(state, Math.max(0, Math.floor(limit)), Math.max(0, Math.floor(offset))) as EventRow[];
    return rows.map(toStoredEvent);
  }

  get(ids: string[]): StoredEvent[] {
    const wanted = ids.filter(isStoreId).map(Number);
    if (wanted.length === 0) return [];
    return (this.stmt.get.all(JSON.stringify(wanted)) as EventRow[]).map(toStoredEvent);
  }

  requeue(items: { id: string; normalized?: NormalizedEvent; quarantineReason?: string }[], now: number): number {
    const { requeue, keyOwner, markReplayDuplicate } = this.stmt;
    const rows = items.filter((i) => isStoreId(i.id)).map(toRequeueRow);
    return this.db.transaction(() => {
      let requeued = 0;
      for (const row of rows) {
        const id = Number(row.id);
        const other = row.dedupKey === null ? undefined : (keyOwner.get({ dedupKey: row.dedupKey, idKey: row.idKey, id }) as { id: number } | undefined);
        if (other) {
          // The re-derived event is one we already hold under another id (R9): it must not run twice.
          markReplayDuplicate.run({ id, error: `replay: duplicate of event ${other.id}` });
          continue;
        }
        requeued += requeue.run({ ...row, id, now }).changes;
      }
      return requeued;
    }).immediate();
  }

  countBounces(clientId: string, email: string): { hard: number; soft: number } {
    return bounceCounts(this.stmt.countBounces.all(clientId, email.toLowerCase()) as { kind: string | null; n: number }[]);
  }

  addToAggregate(responseKey: string, eventKey: string, occurredAt: string): AggregateValue {
    return this.addToAggregates([{ responseKey, eventKey, occurredAt }]).get(responseKey)!;
  }

  /** All pairs inserted (or ignored) in one transaction, then one aggregate per distinct response key. */
  addToAggregates(items: AggregateItem[]): Map<string, AggregateValue> {
    const { aggregateInsert, aggregateRead } = this.stmt;
    return this.db.transaction(() => {
      for (const i of items) aggregateInsert.run(i.responseKey, i.eventKey, i.occurredAt);
      const result = new Map<string, AggregateValue>();
      for (const key of new Set(items.map((i) => i.responseKey))) {
        const r = aggregateRead.get(key) as { n: number; first: string; last: string };
        result.set(key, { count: r.n, firstAt: r.first, lastAt: r.last });
      }
      return result;
    }).immediate();
  }

  /** One DELETE of at most `limit` rows: a purge holds the write lock only briefly; the caller loops. */
  purge(opts: { before: number; limit: number }): number {
    const { before, limit } = checkPurge({ before: new Date(opts.before), limit: opts.limit });
    if (limit === 0) return 0;
    return this.stmt.purge.run({ before: before.getTime(), limit }).changes;
  }

  getState(key: string): string | null {
    const row = this.stmt.getState.get(key) as { value: string } | undefined;
    return row ? row.value : null;
  }

  setState(key: string, value: string, now: number): void {
    this.stmt.setState.run(key, value, now);
  }

  close(): void {
    this.db.close();
  }
}

function timeOf(row: unknown): Date | null {
  const t = (row as { t: number | null } | undefined)?.t;
  return t === undefined || t === null ? null : new Date(t);
}
