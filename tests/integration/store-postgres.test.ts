/** The event store conformance suite on PostgreSQL (database `test`, one schema per test, dropped afterwards). */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../../service/store/index.js';
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
      const { rows } = await admin.query(`SELECT version FROM ${s}.crs_schema_migrations`);
      expect(rows).toEqual([{ version: 1 }]);
    } finally {
      for (const store of stores) await store.close();
    }
  });

  it('reports an unreachable server as a rejected open, not a crash', async () => {
    await expect(openStore('postgres://postgres@127.0.0.1:1/test')).rejects.toThrow(/ECONNREFUSED|connect/);
  });
});
