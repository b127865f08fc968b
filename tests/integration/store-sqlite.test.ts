/** The event store conformance suite on SQLite (temp files), plus SQLite-only durability settings. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../../service/store/index.js';
import { MIGRATIONS, SqliteEventStore } from '../../service/store/sqlite.js';
import { normalizeEvent } from '../../service/ingest/normalize.js';
import type { NormalizedEvent } from '../../service/events.js';
import { describeEventStoreConformance, incoming, normalized, quarantinedElement } from './store-conformance.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crs-store-sqlite-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

let n = 0;
let current = '';
describeEventStoreConformance('sqlite', {
  open: (clock) => {
    current = path.join(dir, `store-${++n}.sqlite`);
    return openStore(`sqlite:${current}`, { now: clock.now });
  },
  reopen: (clock) => openStore(`sqlite:${current}`, { now: clock.now }),
  schemaVersions: MIGRATIONS.map((m) => m.version),
  migrationVersions: async () => {
    const db = new Database(current, { readonly: true });
    try {
      return (db.prepare('SELECT version FROM crs_schema_migrations ORDER BY version').all() as { version: number }[]).map((r) => r.version);
    } finally {
      db.close();
    }
  },
});

describe('SQLite engine settings', () => {
  it('creates the parent directory and runs WAL with synchronous=FULL by default', async () => {
    const file = path.join(dir, 'nested', 'deeper', 'crs.sqlite');
    const store = await openStore(`sqlite:${file}`);
    try {
      expect(fs.existsSync(file)).toBe(true);
      expect(await (store as SqliteEventStore).pragmas()).toEqual({ journalMode: 'wal', synchronous: 2 });
    } finally {
      await store.close();
    }
  });

  it('takes synchronous=normal when the URL asks for it', async () => {
    const store = await openStore(`sqlite:${path.join(dir, 'normal.sqlite')}?synchronous=normal`);
    try {
      expect(await (store as SqliteEventStore).pragmas()).toEqual({ journalMode: 'wal', synchronous: 1 });
    } finally {
      await store.close();
    }
  });

  it('works in memory for tests', async () => {
    const store = await openStore('sqlite::memory:');
    try {
      expect(await store.append([incoming('k1')])).toEqual({ accepted: 1, duplicates: 0, quarantined: 0 });
      expect(fs.existsSync(':memory:')).toBe(false);
    } finally {
      await store.close();
    }
  });
});

describe('SQLite per-state counters', () => {
  it('always equal a count of the rows, through every kind of transition (purge included)', async () => {
    const file = path.join(dir, 'counters.sqlite');
    const store = await openStore(`sqlite:${file}`);
    try {
      await store.append([incoming('a'), incoming('b'), incoming('a'), incoming('c', 'unsubscribe'), quarantinedElement('{}')]);
      const leased = await store.lease({ owner: 'w', limit: 3, leaseMs: 60_000 });
      await store.complete('w', [
        { id: leased[0]!.id, state: 'applied' }, { id: leased[1]!.id, state: 'unmatched' }, { id: leased[2]!.id, state: 'pending' },
      ]);
      const [q] = await store.list('quarantined', 1);
      await store.requeue([{ id: q!.id, normalized: normalized('d') }, { id: leased[0]!.id, quarantineReason: 'x' }]);
      await store.append([incoming('e'), incoming('f')]);
      const more = await store.lease({ owner: 'w', limit: 10, leaseMs: 60_000 });
      const outcome = (key: string, state: 'applied' | 'ignored') => ({ id: more.find((x) => x.dedupKey === key)!.id, state });
      await store.complete('w', [outcome('e', 'applied'), outcome('f', 'ignored')]);
      expect(await store.purge({ before: new Date(Date.now() + 86_400_000), limit: 10 })).toBe(2); // the delete trigger
      const db = new Database(file, { readonly: true });
      const actual = Object.fromEntries(db.prepare('SELECT state, count(*) AS n FROM crs_events GROUP BY state').raw().all() as [string, number][]);
      db.close();
      const counts = await store.counts();
      expect(counts).toEqual({ received: 4, pending: 0, applied: 0, ignored: 0, unmatched: 0, quarantined: 0, deadLetter: 0, ...actual });
      expect(actual).toEqual({ pending: 2, unmatched: 1, quarantined: 1 });
    } finally {
      await store.close();
    }
  });
});

/** A real normalizer output with a natural (`nk:`) key. */
function naturalEvent(): NormalizedEvent {
  const result = normalizeEvent({ type: 'open', mailingId: 7, recipientId: 'r@example.com', timestamp: '2026-11-26T10:15:00Z' }, { pathClientId: '100', origin: 'webhook' });
  if (!result.ok) throw new Error(result.reason);
  return result.event;
}

describe('SQLite schema upgrade', () => {
  it('upgrades a version-1 file in place: stored events stay, waiting retries stay deferred', async () => {
    const file = path.join(dir, 'v1.sqlite');
    const db = new Database(file);
    db.exec(MIGRATIONS[0]!.sql);
    db.exec(`CREATE TABLE crs_schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL);
      INSERT INTO crs_schema_migrations VALUES (1, 'v1', 0);
      INSERT INTO crs_events (client_id, dedup_key, raw, state, priority, received_at, next_attempt_at, first_unmatched_at)
        VALUES ('100', 'waiting', '{}', 'unmatched', 1, 1000, 4102444800000, 1000), ('100', 'ready', '{}', 'pending', 1, 2000, 2000, NULL);`);
    // An event stored with a natural key before keys were clustered by time (migration 6).
    const old = naturalEvent();
    db.prepare(`INSERT INTO crs_events (client_id, dedup_key, raw, normalized, state, priority, received_at, next_attempt_at)
      VALUES ('100', ?, '{}', ?, 'applied', 5, 500, 500)`).run(old.key, JSON.stringify(old));
    db.close();
    const store = await openStore(`sqlite:${file}`);
    try {
      expect((await store.counts()).received).toBe(3);
      expect((await store.lease({ owner: 'w', limit: 10, leaseMs: 1000 })).map((e) => e.dedupKey)).toEqual(['ready']);
      // The same event delivered again after the upgrade is still a duplicate.
      expect(await store.append([{ clientId: '100', raw: '{}', normalized: old }])).toEqual({ accepted: 0, duplicates: 1, quarantined: 0 });
      expect((await store.list('applied', 10)).map((e) => e.dedupKey)).toEqual([old.key]);
      const check = new Database(file, { readonly: true });
      expect(check.prepare('SELECT version FROM crs_schema_migrations ORDER BY version').pluck().all()).toEqual(MIGRATIONS.map((m) => m.version));
      expect(check.prepare("SELECT dedup_key FROM crs_events WHERE state = 'applied'").pluck().get()).toBe(`2026-11-26T10:15:00|${old.key}`);
      check.close();
    } finally {
      await store.close();
    }
  });
});
