/**
 * PostgreSQL engine of the event store (pg Pool): for scale-out, several service processes share one
 * queue. Leases are taken with `FOR UPDATE SKIP LOCKED`, so two processes never get the same event at
 * once; outcomes are recorded only while the lease is still held. Every statement commits before its
 * promise resolves (synchronous_commit as configured on the server; `on` by default).
 */
import pg from 'pg';
import type { NormalizedEvent } from '../events.js';
import {
  EVENT_COLUMNS, assertState, bounceCounts, checkOutcomes, checkPurge, countsByState, insertedRowKey, isStoreId, lastOutcomePerId, splitGroupResults,
  toNewEventRow, toRequeueRow, toStoredEvent as rowToStoredEvent,
} from './rows.js';
import type { EventRow as SharedEventRow, NewEventRow } from './rows.js';
import type {
  AggregateItem, AggregateValue, AppendResult, EventState, EventStore, IncomingEvent, LeaseOptions, Outcome, PurgeOptions, StoreCounts,
  StoredEvent,
} from './types.js';

export interface PostgresStoreOptions {
  connectionString: string;
  /** Schema holding the tables (created by migrate()); null = the server's search_path (usually public). */
  schema: string | null;
  /** libpq `options` startup parameter, e.g. `-c search_path=crs`. */
  options: string | null;
  now?: () => Date;
  poolSize?: number;
}

/** A row as pg returns it: timestamptz columns arrive as Date. */
type EventRow = SharedEventRow<Date>;

export const MIGRATIONS: { version: number; name: string; sql: string }[] = [
  {
    version: 1,
    name: 'events, response aggregates, key/value state',
    // normalized is text, not jsonb: jsonb rejects \u0000 in strings, and bad input must never fail a write.
    sql: `
      CREATE TABLE crs_events (
        id                 bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        client_id          text        NOT NULL,
        dedup_key          text        UNIQUE,
        raw                text        NOT NULL,
        normalized         text,
        state              text        NOT NULL CHECK (state IN ('pending','applied','ignored','unmatched','quarantined','deadLetter')),
        priority           smallint    NOT NULL,
        attempts           integer     NOT NULL DEFAULT 0,
        last_error         text,
        received_at        timestamptz NOT NULL,
        next_attempt_at    timestamptz NOT NULL,
        first_unmatched_at timestamptz,
        lease_owner        text,
        lease_expires_at   timestamptz,
        applied_at         timestamptz,
        event_type         text,
        email              text,
        bounce_kind        text
      ) WITH (
        -- room on each page, so a lease (no indexed column changes) is a HOT update: no new index entries
        fillfactor = 90,
        -- a queue table: leases and outcomes leave dead row versions that slow the due-index scan until vacuumed
        autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 1000,
        autovacuum_analyze_scale_factor = 0.02, autovacuum_analyze_threshold = 1000
      );
      CREATE INDEX crs_events_due ON crs_events (priority, id) WHERE state IN ('pending','unmatched');
      CREATE INDEX crs_events_state ON crs_events (state, id);
      CREATE INDEX crs_events_bounces ON crs_events (client_id, email) WHERE event_type = 'bounce';
      CREATE INDEX crs_events_applied_at ON crs_events (applied_at) WHERE applied_at IS NOT NULL;
      CREATE TABLE crs_response_events (
        response_key text NOT NULL,
        event_key    text NOT NULL,
        occurred_at  text COLLATE "C" NOT NULL,
        PRIMARY KEY (response_key, event_key)
      );
      CREATE TABLE crs_kv (
        key        text PRIMARY KEY,
        value      text NOT NULL,
        updated_at timestamptz NOT NULL
      );
    `,
  },
  {
    version: 2,
    name: 'ready and deferred lease indexes',
    // Events waiting for a retry time (unmatched back-off) no longer sit in the index every lease walks.
    sql: `
      ALTER TABLE crs_events ADD COLUMN deferred boolean NOT NULL DEFAULT false;
      UPDATE crs_events SET deferred = true WHERE state IN ('pending','unmatched') AND next_attempt_at > received_at;
      DROP INDEX IF EXISTS crs_events_due;
      DROP INDEX IF EXISTS crs_events_lease_owner;
      CREATE INDEX crs_events_ready ON crs_events (priority, id) WHERE state IN ('pending','unmatched') AND NOT deferred;
      CREATE INDEX crs_events_deferred ON crs_events (next_attempt_at) WHERE state IN ('pending','unmatched') AND deferred;
    `,
  },
  {
    version: 3,
    name: 'retention purge index',
    // purge() reads the purgeable events oldest first from this range instead of scanning the table. Partial:
    // pending events and bounces (kept for countBounces) are not in it. The planner matches the expression
    // and predicate of the purge statement textually; keep them identical.
    sql: `
      CREATE INDEX crs_events_purge ON crs_events ((COALESCE(applied_at, received_at)))
        WHERE state IN ('applied','ignored') AND event_type IS DISTINCT FROM 'bounce';
    `,
  },
  {
    version: 4,
    name: 'natural dedup keys clustered by time',
    // rows.ts storedDedupKey: occurredAt in front of natural keys keeps the UNIQUE index's inserts together.
    sql: `
      UPDATE crs_events SET dedup_key = substr((normalized::json)->>'occurredAt', 1, 19) || '|' || dedup_key
        WHERE dedup_key LIKE 'nk:%' AND normalized IS NOT NULL;
    `,
  },
  {
    version: 5,
    name: 'event id keys beside natural keys',
    // rows.ts storedKeys: dedup_key holds the natural key of every new event, id_key its event id key.
    // Rows stored before keep their id key in dedup_key and get it in id_key too, so the same id stays one event.
    sql: `
      ALTER TABLE crs_events ADD COLUMN id_key text;
      UPDATE crs_events SET id_key = dedup_key WHERE dedup_key LIKE 'id:%';
      CREATE UNIQUE INDEX crs_events_id_key ON crs_events (id_key) WHERE id_key IS NOT NULL;
    `,
  },
];

interface PendingAppend {
  rows: NewEventRow[];
  resolve: (r: AppendResult) => void;
  reject: (e: unknown) => void;
}

/** Inserts running at once (each holds a pool connection; the rest of the pool serves leases and queries). */
const MAX_CONCURRENT_FLUSHES = 4;
const MAX_ROWS_PER_FLUSH = 5_000;

/** Advisory lock namespaces (first key of the two-key form). */
const LOCK_MIGRATE = 0x435253_01;
const LOCK_AGGREGATE = 0x435253_02;

const toStoredEvent = (r: EventRow): StoredEvent => rowToStoredEvent(r, (d) => d.toISOString());

const byPriorityThenId = (a: StoredEvent, b: StoredEvent): number =>
  a.priority - b.priority || (BigInt(a.id) < BigInt(b.id) ? -1 : BigInt(a.id) > BigInt(b.id) ? 1 : 0);

export class PostgresEventStore implements EventStore {
  readonly engine = 'postgres' as const;
  private readonly pool: pg.Pool;
  private readonly schema: string | null;
  private readonly now: () => Date;
  private closed = false;
  private readonly inflight = new Set<Promise<unknown>>();
  private appendQueue: PendingAppend[] = [];
  private flushScheduled = false;
  private activeFlushes = 0;

  constructor(opts: PostgresStoreOptions) {
    this.schema = opts.schema;
    this.now = opts.now ?? (() => new Date());
    this.pool = new pg.Pool({
      connectionString: opts.connectionString,
      ...(opts.options ? { options: opts.options } : {}),
      max: opts.poolSize ?? 10,
      application_name: 'campaign-response-sync',
    });
    // An idle client losing its connection must not crash the process; the next query reports the problem.
    this.pool.on('error', () => undefined);
  }

  /** Work started before close() finishes before the pool ends (an accepted append is never cut off). */
  private track<T>(work: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new Error('event store is closed'));
    const p = work();
    this.inflight.add(p);
    const done = () => this.inflight.delete(p);
    p.then(done, done);
    return p;
  }

  private query<R extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<pg.QueryResult<R>> {
    return this.track(() => this.pool.query<R>(text, values));
  }

  private inTransaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    return this.track(() => this.transaction(fn));
  }

  private async transaction<T>(fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const result = await fn(client);
      await client.query('COMMIT');
      return result;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  async migrate(): Promise<void> {
    await this.inTransaction(async (c) => {
      // One migrator per schema at a time, across processes; the lock ends with the transaction.
      await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_MIGRATE, this.schema ?? '']);
      if (this.schema) {
        await c.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
        await c.query(`SET LOCAL search_path TO ${this.schema}`);
      }
      await c.query(`CREATE TABLE IF NOT EXISTS crs_schema_migrations (
        version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
      const { rows } = await c.query<{ version: number }>('SELECT version FROM crs_schema_migrations');
      const applied = new Set(rows.map((r) => r.version));
      for (const m of MIGRATIONS) {
        if (applied.has(m.version)) continue;
        await c.query(m.sql);
        await c.query('INSERT INTO crs_schema_migrations (version, name) VALUES ($1, $2)', [m.version, m.name]);
      }
    });
  }

  append(events: IncomingEvent[]): Promise<AppendResult> {
    if (this.closed) return Promise.reject(new Error('event store is closed'));
    if (events.length === 0) return Promise.resolve({ accepted: 0, duplicates: 0, quarantined: 0 });
    let rows: NewEventRow[];
    try {
      rows = events.map(toNewEventRow);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<AppendResult>((resolve, reject) => {
      this.appendQueue.push({ rows, resolve, reject });
      this.scheduleFlush();
    });
  }

  /**
   * Group commit: appends queue up while up to MAX_CONCURRENT_FLUSHES inserts are running; the next insert
   * takes everything queued (one statement, one commit). Under load this turns many one-event webhook
   * requests into few transactions; idle, an append is written on the next event-loop turn.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled || this.activeFlushes >= MAX_CONCURRENT_FLUSHES || this.appendQueue.length === 0) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.startFlush();
    });
  }

  private startFlush(): void {
    if (this.activeFlushes >= MAX_CONCURRENT_FLUSHES || this.appendQueue.length === 0) return;
    const batch: PendingAppend[] = [];
    let size = 0;
    while (this.appendQueue.length > 0 && (batch.length === 0 || size + this.appendQueue[0]!.rows.length <= MAX_ROWS_PER_FLUSH)) {
      const next = this.appendQueue.shift()!;
      size += next.rows.length;
      batch.push(next);
    }
    this.activeFlushes += 1;
    const flushing = this.flushBatch(batch).finally(() => {
      this.activeFlushes -= 1;
      this.scheduleFlush();
    });
    this.inflight.add(flushing);
    void flushing.then(() => this.inflight.delete(flushing));
  }

  /** Writes one batch; when the group fails, retries each append alone so one bad call fails alone. */
  private async flushBatch(batch: PendingAppend[]): Promise<void> {
    try {
      const results = await this.insertGroups(batch.map((b) => b.rows));
      batch.forEach((b, i) => b.resolve(results[i]!));
    } catch (groupError) {
      if (batch.length === 1) {
        batch[0]!.reject(groupError);
        return;
      }
      for (const b of batch) {
        try {
          b.resolve((await this.insertGroups([b.rows]))[0]!);
        } catch (err) {
          b.reject(err);
        }
      }
    }
  }

  private async insertGroups(groups: NewEventRow[][]): Promise<AppendResult[]> {
    const rows = groups.flat();
    const now = this.now();
    // One statement = one transaction; ON CONFLICT DO NOTHING also skips a repeat inside the statement
    // (rows are inserted in input order, so the first occurrence is the one stored).
    // No conflict target: a repeat of either key (dedup_key, or the partial unique id_key) is skipped.
    const { rows: inserted } = await this.pool.query<{ dedup_key: string | null; id_key: string | null }>(
      `INSERT INTO crs_events
         (client_id, dedup_key, id_key, raw, normalized, state, priority, last_error, event_type, email, bounce_kind, received_at, next_attempt_at)
       SELECT u.client_id, u.dedup_key, u.id_key, u.raw, u.normalized, u.state, u.priority, u.last_error, u.event_type, u.email, u.bounce_kind, $12, $12
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::smallint[], $8::text[], $9::text[], $10::text[], $11::text[])
            WITH ORDINALITY AS u(client_id, dedup_key, id_key, raw, normalized, state, priority, last_error, event_type, email, bounce_kind, ord)
       ORDER BY u.ord
       ON CONFLICT DO NOTHING
       RETURNING dedup_key, id_key`,
      [
        rows.map((r) => r.clientId), rows.map((r) => r.dedupKey), rows.map((r) => r.idKey), rows.map((r) => r.raw), rows.map((r) => r.normalized),
        rows.map((r) => r.state), rows.map((r) => r.priority), rows.map((r) => r.lastError), rows.map((r) => r.eventType),
        rows.map((r) => r.email), rows.map((r) => r.bounceKind), now,
      ],
    );
    const keys = new Set<string>();
    for (const r of inserted) if (r.dedup_key !== null) keys.add(insertedRowKey(r.dedup_key, r.id_key));
    return splitGroupResults(groups, keys);
  }

  async lease(opts: LeaseOptions): Promise<StoredEvent[]> {
    const limit = Math.max(0, Math.floor(opts.limit));
    if (limit === 0) return [];
    const now = this.now();
    const expires = new Date(now.getTime() + Math.max(0, opts.leaseMs));
    // Two bounded index scans: "ready" events (due since they arrived; backlog order) and "deferred" events
    // whose retry time has come. SKIP LOCKED: rows another process is leasing right now are passed over, not
    // waited for; a row whose state changed meanwhile is re-checked against the WHERE clause after the lock.
    const { rows } = await this.query<EventRow>(
      `WITH ready AS (
         SELECT id, priority FROM crs_events
         WHERE state IN ('pending','unmatched') AND NOT deferred
           AND (lease_expires_at IS NULL OR lease_expires_at <= $1)
         ORDER BY priority, id
         LIMIT $2
         FOR UPDATE SKIP LOCKED),
       retry AS (
         SELECT id, priority FROM crs_events
         WHERE state IN ('pending','unmatched') AND deferred AND next_attempt_at <= $1
           AND (lease_expires_at IS NULL OR lease_expires_at <= $1)
         ORDER BY next_attempt_at
         LIMIT $2
         FOR UPDATE SKIP LOCKED),
       chosen AS (
         SELECT id FROM (SELECT * FROM ready UNION ALL SELECT * FROM retry) candidates
         ORDER BY priority, id
         LIMIT $2)
       UPDATE crs_events e SET lease_owner = $3, lease_expires_at = $4, attempts = e.attempts + 1
       FROM chosen WHERE e.id = chosen.id
       RETURNING ${EVENT_COLUMNS.split(', ').map((c) => `e.${c}`).join(', ')}`,
      [now, limit, opts.owner, expires],
    );
    return rows.map(toStoredEvent).sort(byPriorityThenId);
  }

  async complete(owner: string, outcomes: Outcome[]): Promise<number> {
    checkOutcomes(outcomes);
    const list = lastOutcomePerId(outcomes);
    if (list.length === 0) return 0;
    const now = this.now();
    const { rowCount } = await this.query(
      `UPDATE crs_events e SET
         state = o.state,
         last_error = o.error,
         next_attempt_at = COALESCE(o.next_at, $5),
         deferred = COALESCE(o.next_at > $5, false),
         first_unmatched_at = CASE WHEN o.state = 'unmatched' THEN COALESCE(e.first_unmatched_at, $5) ELSE e.first_unmatched_at END,
         applied_at = CASE WHEN o.state = 'applied' THEN $5 ELSE e.applied_at END,
         lease_owner = NULL, lease_expires_at = NULL
       FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[]) AS o(id, state, error, next_at)
       WHERE e.id = o.id AND e.lease_owner = $6 AND e.lease_expires_at > $5`,
      [list.map((o) => o.id), list.map((o) => o.state), list.map((o) => o.error ?? null), list.map((o) => o.nextAttemptAt ?? null), now, owner],
    );
    return rowCount ?? 0;
  }

  async releaseAll(owner: string): Promise<void> {
    // Leases exist only on pending / unmatched events, so the due index finds them (no index on lease_owner,
    // which keeps the lease update HOT).
    await this.query(
      `UPDATE crs_events SET lease_owner = NULL, lease_expires_at = NULL
       WHERE state IN ('pending','unmatched') AND lease_owner = $1`,
      [owner],
    );
  }

  async counts(): Promise<StoreCounts> {
    const { rows } = await this.query<{ state: EventState; n: string }>('SELECT state, count(*) AS n FROM crs_events GROUP BY state');
    return countsByState(rows);
  }

  private async time(sql: string): Promise<Date | null> {
    const { rows } = await this.query<{ t: Date | null }>(sql);
    return rows[0]?.t ?? null;
  }

  async oldestPendingReceivedAt(): Promise<Date | null> {
    return this.time("SELECT received_at AS t FROM crs_events WHERE state = 'pending' ORDER BY id LIMIT 1");
  }

  async lastReceivedAt(): Promise<Date | null> {
    return this.time('SELECT received_at AS t FROM crs_events ORDER BY id DESC LIMIT 1');
  }

  async lastAppliedAt(): Promise<Date | null> {
    return this.time('SELECT max(applied_at) AS t FROM crs_events WHERE applied_at IS NOT NULL');
  }

  async list(state: EventState, limit: number, offset = 0): Promise<StoredEvent[]> {
    assertState(state);
    const { rows } = await this.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM crs_events WHERE state = $1 ORDER BY id DESC LIMIT $2 OFFSET $3`,
      [state, Math.max(0, Math.floor(limit)), Math.max(0, Math.floor(offset))],
    );
    return rows.map(toStoredEvent);
  }

  async get(ids: string[]): Promise<StoredEvent[]> {
    const wanted = ids.filter(isStoreId);
    if (wanted.length === 0) return [];
    const { rows } = await this.query<EventRow>(
      `SELECT ${EVENT_COLUMNS} FROM crs_events WHERE id = ANY($1::bigint[]) ORDER BY id`,
      [wanted],
    );
    return rows.map(toStoredEvent);
  }

  async requeue(items: { id: string; normalized?: NormalizedEvent; quarantineReason?: string }[]): Promise<number> {
    const rows = items.filter((i) => isStoreId(i.id)).map(toRequeueRow);
    if (rows.length === 0) return 0;
    const now = this.now();
    return this.inTransaction(async (c) => {
      let requeued = 0;
      for (const row of rows) {
        if (row.dedupKey !== null) {
          const other = await c.query<{ id: string }>(
            'SELECT id FROM crs_events WHERE (dedup_key = $1 OR id_key = $3) AND id <> $2 LIMIT 1', [row.dedupKey, row.id, row.idKey],
          );
          if (other.rows[0]) {
            // The re-derived event is one we already hold under another id (R9): it must not run twice.
            await c.query(
              `UPDATE crs_events SET state = 'ignored', last_error = $2, lease_owner = NULL, lease_expires_at = NULL WHERE id = $1`,
              [row.id, `replay: duplicate of event ${other.rows[0].id}`],
            );
            continue;
          }
        }
        const r = await c.query(
          `UPDATE crs_events SET
             dedup_key = $2, normalized = $3, state = $4, priority = $5, last_error = $6, event_type = $7, email = $8,
             bounce_kind = $9, attempts = 0, next_attempt_at = $10, deferred = false, first_unmatched_at = NULL,
             lease_owner = NULL, lease_expires_at = NULL, id_key = $11
           WHERE id = $1`,
          [row.id, row.dedupKey, row.normalized, row.state, row.priority, row.lastError, row.eventType, row.email, row.bounceKind, now, row.idKey],
        );
        requeued += r.rowCount ?? 0;
      }
      return requeued;
    });
  }

  async countBounces(clientId: string, email: string): Promise<{ hard: number; soft: number }> {
    const { rows } = await this.query<{ kind: string | null; n: string }>(
      `SELECT bounce_kind AS kind, count(*) AS n FROM crs_events
       WHERE client_id = $1 AND email = $2 AND event_type = 'bounce' AND state <> 'quarantined' GROUP BY bounce_kind`,
      [clientId, email.toLowerCase()],
    );
    return bounceCounts(rows);
  }

  async addToAggregate(responseKey: string, eventKey: string, occurredAt: string): Promise<{ count: number; firstAt: string; lastAt: string }> {
    // Serialized per response key, so concurrent callers see each other's events (counts only grow in commit order).
    return this.inTransaction(async (c) => {
      await c.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [LOCK_AGGREGATE, responseKey]);
      await c.query(
        `INSERT INTO crs_response_events (response_key, event_key, occurred_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
        [responseKey, eventKey, occurredAt],
      );
      const { rows } = await c.query<{ n: string; first: string; last: string }>(
        'SELECT count(*) AS n, min(occurred_at) AS first, max(occurred_at) AS last FROM crs_response_events WHERE response_key = $1',
        [responseKey],
      );
      const r = rows[0]!;
      return { count: Number(r.n), firstAt: r.first, lastAt: r.last };
    });
  }

  async addToAggregates(items: AggregateItem[]): Promise<Map<string, AggregateValue>> {
    if (this.closed) throw new Error('event store is closed');
    if (items.length === 0) return new Map();
    const keys = [...new Set(items.map((i) => i.responseKey))];
    return this.inTransaction(async (c) => {
      // The same per-key advisory locks as addToAggregate, taken in one fixed order (hash, then key), so two
      // batches sharing keys wait for each other instead of deadlocking.
      await c.query(
        `SELECT pg_advisory_xact_lock($1, h) FROM (
           SELECT DISTINCT hashtext(k) AS h FROM unnest($2::text[]) AS k ORDER BY h) AS locks`,
        [LOCK_AGGREGATE, keys],
      );
      await c.query(
        `INSERT INTO crs_response_events (response_key, event_key, occurred_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING`,
        [items.map((i) => i.responseKey), items.map((i) => i.eventKey), items.map((i) => i.occurredAt)],
      );
      const { rows } = await c.query<{ key: string; n: string; first: string; last: string }>(
        `SELECT response_key AS key, count(*) AS n, min(occurred_at) AS first, max(occurred_at) AS last
         FROM crs_response_events WHERE response_key = ANY($1::text[]) GROUP BY response_key`,
        [keys],
      );
      return new Map(rows.map((r) => [r.key, { count: Number(r.n), firstAt: r.first, lastAt: r.last }]));
    });
  }

  async purge(opts: PurgeOptions): Promise<number> {
    const { before, limit } = checkPurge(opts);
    if (limit === 0) return 0;
    // Finished = applied_at for applied events; ignored outcomes record no time (complete() sets applied_at only
    // for applied), so they age from received_at (an ignored event re-delivered after its purge is ignored again).
    // FOR UPDATE re-checks each row's state after locking it, so an event a replay (requeue) just made pending
    // is not deleted; SKIP LOCKED lets purges of several processes share the work instead of waiting.
    // counts() is a GROUP BY over the rows, so it needs no upkeep here. `= ANY(ARRAY(…))`, not `IN (…)`: with IN
    // the planner may hash-join the chosen ids against a scan of the whole table.
    const { rowCount } = await this.query(
      `DELETE FROM crs_events WHERE id = ANY(ARRAY(
         SELECT id FROM crs_events
         WHERE state IN ('applied','ignored') AND event_type IS DISTINCT FROM 'bounce' AND COALESCE(applied_at, received_at) < $1
         ORDER BY COALESCE(applied_at, received_at)
         LIMIT $2
         FOR UPDATE SKIP LOCKED))`,
      [before, limit],
    );
    return rowCount ?? 0;
  }

  async getState(key: string): Promise<string | null> {
    const { rows } = await this.query<{ value: string }>('SELECT value FROM crs_kv WHERE key = $1', [key]);
    return rows[0]?.value ?? null;
  }

  async setState(key: string, value: string): Promise<void> {
    await this.query(
      `INSERT INTO crs_kv (key, value, updated_at) VALUES ($1, $2, $3)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`,
      [key, value, this.now()],
    );
  }

  async ping(): Promise<void> {
    // A committed write: fails on a read-only standby or a full disk, not only on a lost connection.
    await this.setState('crs.store.ping', this.now().toISOString());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Appends accepted before close are written, not dropped; then in-flight work ends before the pool does.
    for (;;) {
      while (this.appendQueue.length > 0 && this.activeFlushes < MAX_CONCURRENT_FLUSHES) this.startFlush();
      if (this.inflight.size === 0 && this.appendQueue.length === 0) break;
      await Promise.allSettled([...this.inflight]);
    }
    await this.pool.end();
  }
}
