/** The event store conformance suite on PostgreSQL (database `test`, one schema per test, dropped afterwards). */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../../service/store/index.js';
import { MIGRATIONS } from '../../service/store/postgres.js';
import { normalizeEvent } from '../../service/ingest/normalize.js';
import { describeEventStoreConformance, incoming } from './store-conformance.js';

const BASE = 'postgres://postgres@127.0.0.1:5432/test';
const prefix = `crs_test_${randomBytes(4).toString('hex')}`;
const admin = new pg.Pool({ connectionString: BASE, max: 2 });
afterAll(async () => {
  const { rows } = await admin.query<{ nspname: string }>('SELECT nspname FROM pg_namespace WHERE nspname LIKE $1', [`${prefix}%`]);
  for (const { nspname } of rows) await admin.query(`DROP SCHEMA ${nspname} CASCADE`);
  await admin.end();
});

let n = 0;
let schema = '';
describeEventStoreConformance('postgres', {
  open: (clock) => {
    schema = `${prefix}_${++n}`;
    return openStore(`${BASE}?schema=${schema}`, { now: clock.now });
  },
  reopen: (clock) => openStore(`${BASE}?schema=${schema}`, { now: clock.now }),
  schemaVersions: MIGRATIONS.map((m) => m.version),
  migrationVersions: async () =>
    (await admin.query<{ version: number }>(`SELECT version FROM ${schema}.crs_schema_migrations ORDER BY version`)).rows.map((r) => r.version),
});

describe('PostgreSQL engine settings', () => {
  it('keeps the tables in the schema named by ?schema= or by options=-c search_path=', async () => {
    const a = `${prefix}_a`;
    const b = `${prefix}_b`;
    const storeA = await openStore(`${BASE}?schema=${a}`);
    const storeB = await openStore(`${BASE}?options=${encodeURIComponent(`-c search_path=${b}`)}`);
    try {
      await storeA.append([incoming('k1'), incoming('k2')]);
      await storeB.append([incoming('k1')]);
      const count = async (s: string) => Number((await admin.query(`SELECT count(*) AS n FROM ${s}.crs_events`)).rows[0].n);
      expect([await count(a), await count(b)]).toEqual([2, 1]);
    } finally {
      await storeA.close();
      await storeB.close();
    }
  });

  it('migrates a new schema safely when several processes start at the same moment', async () => {
    const s = `${prefix}_race`;
    const stores = await Promise.all(Array.from({ length: 4 }, () => openStore(`${BASE}?schema=${s}`)));
    try {
      const { rows } = await admin.query(`SELECT version FROM ${s}.crs_schema_migrations ORDER BY version`);
      expect(rows).toEqual(MIGRATIONS.map((m) => ({ version: m.version })));
    } finally {
      for (const store of stores) await store.close();
    }
  });

  it('upgrades a version-1 schema in place: stored events stay, waiting retries stay deferred', async () => {
    const s = `${prefix}_v1`;
    const result = normalizeEvent({ type: 'open', mailingId: 7, recipientId: 'r@example.com', timestamp: '2026-11-26T10:15:00Z' }, { pathClientId: '100', origin: 'webhook' });
    if (!result.ok) throw new Error(result.reason);
    const old = result.event;
    await admin.query(`CREATE SCHEMA ${s}`);
    const c = await admin.connect();
    try {
      await c.query(`SET search_path TO ${s}`);
      await c.query(MIGRATIONS[0]!.sql);
      await c.query(`CREATE TABLE crs_schema_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
        INSERT INTO crs_schema_migrations (version, name) VALUES (1, 'v1');
        INSERT INTO crs_events (client_id, dedup_key, raw, state, priority, received_at, next_attempt_at, first_unmatched_at)
          VALUES ('100', 'waiting', '{}', 'unmatched', 1, now(), '2100-01-01', now()), ('100', 'ready', '{}', 'pending', 1, now(), now(), NULL);`);
      // An event stored with a natural key before keys were clustered by time (migration 4).
      await c.query(`INSERT INTO crs_events (client_id, dedup_key, raw, normalized, state, priority, received_at, next_attempt_at)
        VALUES ('100', $1, '{}', $2, 'applied', 5, now(), now())`, [old.key, JSON.stringify(old)]);
      await c.query('RESET search_path');
    } finally {
      c.release();
    }
    const store = await openStore(`${BASE}?schema=${s}`);
    try {
      expect((await store.counts()).received).toBe(3);
      expect((await store.lease({ owner: 'w', limit: 10, leaseMs: 1000 })).map((e) => e.dedupKey)).toEqual(['ready']);
      const { rows } = await admin.query(`SELECT version FROM ${s}.crs_schema_migrations ORDER BY version`);
      expect(rows).toEqual(MIGRATIONS.map((m) => ({ version: m.version })));
      // The same event delivered again after the upgrade is still a duplicate.
      expect(await store.append([{ clientId: '100', raw: '{}', normalized: old }])).toEqual({ accepted: 0, duplicates: 1, quarantined: 0 });
      expect((await store.list('applied', 10)).map((e) => e.dedupKey)).toEqual([old.key]);
      const stored = await admin.query(`SELECT dedup_key FROM ${s}.crs_events WHERE state = 'applied'`);
      expect(stored.rows).toEqual([{ dedup_key: `2026-11-26T10:15:00|${old.key}` }]);
    } finally {
      await store.close();
    }
  });

  it('reports an unreachable server as a rejected open, not a crash', async () => {
    await expect(openStore('postgres://postgres@127.0.0.1:1/test')).rejects.toThrow(/ECONNREFUSED|connect/);
  });
});
