/** openStore / parseStoreUrl: which engine a store URL names, and one-line errors for the rest. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore, parseStoreUrl } from '../../service/store/index.js';

describe('parseStoreUrl', () => {
  it.each([
    ['sqlite:./data/crs.sqlite', { engine: 'sqlite', path: './data/crs.sqlite', synchronous: 'FULL' }],
    ['sqlite:/var/lib/crs/crs.sqlite', { engine: 'sqlite', path: '/var/lib/crs/crs.sqlite', synchronous: 'FULL' }],
    ['sqlite:///var/lib/crs.sqlite', { engine: 'sqlite', path: '/var/lib/crs.sqlite', synchronous: 'FULL' }],
    ['sqlite::memory:', { engine: 'sqlite', path: ':memory:', synchronous: 'FULL' }],
    ['  sqlite:crs.sqlite?synchronous=normal ', { engine: 'sqlite', path: 'crs.sqlite', synchronous: 'NORMAL' }],
    ['sqlite:crs.sqlite?synchronous=EXTRA', { engine: 'sqlite', path: 'crs.sqlite', synchronous: 'EXTRA' }],
    ['postgres://u:p@db:5432/crs', { engine: 'postgres', connectionString: 'postgres://u:p@db:5432/crs', schema: null, options: null }],
    ['postgresql://db/crs?schema=crs_test_1&sslmode=require', {
      engine: 'postgres', connectionString: 'postgresql://db/crs?sslmode=require', schema: 'crs_test_1', options: '-c search_path=crs_test_1',
    }],
    ['postgres://db/crs?options=-c%20search_path%3Dcrs', { engine: 'postgres', connectionString: 'postgres://db/crs', schema: 'crs', options: '-c search_path=crs' }],
    ['postgres://db/crs?options=-c%20statement_timeout%3D5000&schema=s1', {
      engine: 'postgres', connectionString: 'postgres://db/crs', schema: 's1', options: '-c statement_timeout=5000 -c search_path=s1',
    }],
  ])('%s', (url, expected) => {
    expect(parseStoreUrl(url)).toEqual(expected);
  });

  it.each([
    ['mysql://root:s3cret@db/crs', /^unsupported store URL scheme "mysql:": use sqlite:<path>, sqlite::memory: or postgres:/],
    ['./data/crs.sqlite', /^unsupported store URL: use sqlite:<path>/],
    ['', /^unsupported store URL: use/],
    ['sqlite:', /needs a file path/],
    ['sqlite:x.db?synchronous=off', /synchronous must be full, normal or extra, not "off"/],
    ['sqlite:x.db?cache=shared', /unknown parameter "cache"/],
    ['postgres://u:s3cret@db/crs?schema=Bad-Name', /schema must match/],
    ['postgres://u:s3cret@[db/crs', /not a valid URL/],
  ])('rejects %j with one clear line that never echoes the password', (url, message) => {
    let error: Error | undefined;
    try {
      parseStoreUrl(url);
    } catch (e) {
      error = e as Error;
    }
    expect(error?.message).toMatch(message);
    expect(error?.message).not.toMatch(/s3cret|\n/);
  });
});

describe('openStore', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crs-store-factory-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('opens a migrated SQLite store, creating the parent directory', async () => {
    const file = path.join(dir, 'a', 'b', 'crs.sqlite');
    const store = await openStore(`sqlite:${file}`);
    try {
      expect(store.engine).toBe('sqlite');
      expect(await store.counts()).toMatchObject({ received: 0 });
      expect(fs.existsSync(file)).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('leaves migration to the caller when asked', async () => {
    const store = await openStore(`sqlite:${path.join(dir, 'unmigrated.sqlite')}`, { migrate: false });
    try {
      await expect(store.counts()).rejects.toThrow(/no such table/);
      await store.migrate();
      expect((await store.counts()).received).toBe(0);
    } finally {
      await store.close();
    }
  });

  it('rejects an unsupported URL before touching anything', async () => {
    await expect(openStore('redis://localhost')).rejects.toThrow(/unsupported store URL scheme "redis:"/);
  });
});
