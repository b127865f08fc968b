/** The event store conformance suite on SQLite (temp files), plus SQLite-only durability settings. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../../service/store/index.js';
import { SqliteEventStore } from '../../service/store/sqlite.js';
import { describeEventStoreConformance, incoming } from './store-conformance.js';

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
      expect((store as SqliteEventStore).pragmas()).toEqual({ journalMode: 'wal', synchronous: 2 });
    } finally {
      await store.close();
    }
  });

  it('takes synchronous=normal when the URL asks for it', async () => {
    const store = await openStore(`sqlite:${path.join(dir, 'normal.sqlite')}?synchronous=normal`);
    try {
      expect((store as SqliteEventStore).pragmas()).toEqual({ journalMode: 'wal', synchronous: 1 });
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

  it('groups appends issued in the same tick into one transaction and still answers each caller separately', async () => {
    const store = await openStore(`sqlite:${path.join(dir, 'group.sqlite')}`);
    try {
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.append([incoming(`k${i % 25}`), incoming(`own${i}`)])));
      expect(results.slice(0, 25).every((r) => r.accepted === 2 && r.duplicates === 0)).toBe(true);
      expect(results.slice(25).every((r) => r.accepted === 1 && r.duplicates === 1)).toBe(true);
      expect((await store.counts()).received).toBe(75);
    } finally {
      await store.close();
    }
  });

  it('fails only the append whose transaction fails when a group cannot be committed', async () => {
    const store = await openStore(`sqlite:${path.join(dir, 'fail.sqlite')}`);
    try {
      const bad = { clientId: null as unknown as string, raw: '{}', quarantineReason: 'x' }; // violates NOT NULL
      const [ok, failed] = await Promise.allSettled([store.append([incoming('k1')]), store.append([bad])]);
      expect(ok).toEqual({ status: 'fulfilled', value: { accepted: 1, duplicates: 0, quarantined: 0 } });
      expect(failed.status).toBe('rejected');
      expect((await store.counts()).received).toBe(1);
    } finally {
      await store.close();
    }
  });
});
