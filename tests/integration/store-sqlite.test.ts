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
});
