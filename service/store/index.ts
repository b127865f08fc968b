/**
 * Opens the durable event store named by a store URL (CRS_STORE):
 *   sqlite:<path>                 embedded SQLite file (parent directory created), e.g. sqlite:./data/crs.sqlite
 *   sqlite:<path>?synchronous=normal   trade power-loss durability for speed (see docs/store.md)
 *   sqlite::memory:               in-memory SQLite (tests only: nothing survives the process)
 *   postgres://… / postgresql://… PostgreSQL; `?schema=<name>` isolates the tables in a schema
 */
import type { EventStore } from './types.js';
import type { SqliteSynchronous } from './sqlite.js';

export type { EventStore } from './types.js';

export type StoreLocation =
  | { engine: 'sqlite'; path: string; synchronous: SqliteSynchronous }
  | { engine: 'postgres'; connectionString: string; schema: string | null; options: string | null };

export interface OpenStoreOptions {
  /** Run migrate() before returning (default true; migrate is idempotent and concurrency-safe). */
  migrate?: boolean;
  /** Clock for lease expiry and timestamps (tests). */
  now?: () => Date;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;
const SYNCHRONOUS: Record<string, SqliteSynchronous> = { full: 'FULL', normal: 'NORMAL', extra: 'EXTRA' };

/** Parses a store URL; throws a one-line error that never echoes credentials. */
export function parseStoreUrl(url: string): StoreLocation {
  const value = url.trim();
  if (value.startsWith('sqlite:')) return parseSqlite(value.slice('sqlite:'.length));
  if (/^postgres(ql)?:\/\//i.test(value)) return parsePostgres(value);
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(value)?.[1];
  throw new Error(
    `unsupported store URL${scheme ? ` scheme "${scheme}:"` : ''}: use sqlite:<path>, sqlite::memory: or postgres://user@host:5432/db`,
  );
}

function parseSqlite(rest: string): StoreLocation {
  const q = rest.indexOf('?');
  let file = q < 0 ? rest : rest.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : rest.slice(q + 1));
  if (file.startsWith('//')) file = file.slice(2); // sqlite:///abs/path and sqlite://./rel
  if (file === '') throw new Error('store URL sqlite: needs a file path, e.g. sqlite:./data/crs.sqlite');
  let synchronous: SqliteSynchronous = 'FULL';
  for (const [key, v] of params) {
    if (key !== 'synchronous') throw new Error(`store URL sqlite: unknown parameter "${key}" (supported: synchronous)`);
    const s = SYNCHRONOUS[v.toLowerCase()];
    if (!s) throw new Error(`store URL sqlite: synchronous must be full, normal or extra, not "${v}"`);
    synchronous = s;
  }
  return { engine: 'sqlite', path: file, synchronous };
}

function parsePostgres(value: string): StoreLocation {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new Error('store URL postgres://… is not a valid URL');
  }
  let schema = url.searchParams.get('schema');
  let options = url.searchParams.get('options');
  url.searchParams.delete('schema');
  url.searchParams.delete('options'); // passed as client config so it merges with the schema's search_path
  if (schema === null && options) schema = /search_path=([^\s,]+)/.exec(options)?.[1] ?? null;
  else if (schema !== null) options = `${options ? `${options} ` : ''}-c search_path=${schema}`;
  if (schema !== null && !SCHEMA_NAME.test(schema)) {
    throw new Error(`store URL postgres: schema must match ${SCHEMA_NAME.source}, not "${schema}"`);
  }
  return { engine: 'postgres', connectionString: url.toString(), schema, options: options || null };
}

export async function openStore(url: string, opts: OpenStoreOptions = {}): Promise<EventStore> {
  const location = parseStoreUrl(url);
  let store: EventStore;
  if (location.engine === 'sqlite') {
    const { SqliteEventStore } = await import('./sqlite.js');
    store = new SqliteEventStore({ path: location.path, synchronous: location.synchronous, ...(opts.now ? { now: opts.now } : {}) });
  } else {
    const { PostgresEventStore } = await import('./postgres.js');
    store = new PostgresEventStore({ ...location, ...(opts.now ? { now: opts.now } : {}) });
  }
  if (opts.migrate !== false) {
    try {
      await store.migrate();
    } catch (err) {
      await store.close().catch(() => undefined);
      throw err;
    }
  }
  return store;
}
