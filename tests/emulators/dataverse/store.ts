/**
 * In-memory rows with alternate-key indexes and an undo log (change sets and bulk actions roll back
 * as a whole). Rows hold column logical names; lookups as `_x_value`, their target table beside it.
 */
import type { EmuTable, Schema } from './schema.js';
import { DvError, CODES } from './errors.js';

export interface Row {
  values: Record<string, unknown>;
  /** lookup column name → target logical name (for polymorphic lookups and annotations). */
  lookupTypes: Record<string, string>;
}

type Undo = () => void;

export const lookupKey = (column: string): string => `_${column}_value`;

/** Alternate-key values compare case-insensitively, like the SQL collation behind them. */
function keyPart(v: unknown): string {
  return typeof v === 'string' ? v.toLowerCase() : String(v);
}

const EMPTY: ReadonlySet<string> = new Set();
const eqNorm = (v: unknown): unknown => (typeof v === 'string' ? v.toLowerCase() : v ?? null);
function addTo(idx: Map<unknown, Set<string>>, v: unknown, id: string): void {
  let set = idx.get(v);
  if (!set) { set = new Set(); idx.set(v, set); }
  set.add(id);
}

export class Store {
  private readonly data = new Map<string, Map<string, Row>>();
  private readonly keyIndex = new Map<string, Map<string, string>>();
  /** Equality indexes built on first use by queries: table → stored column → value → ids. */
  private readonly eqIndex = new Map<string, Map<string, Map<unknown, Set<string>>>>();
  private undoLog: Undo[] | null = null;
  private version = 1_000_000;

  constructor(readonly schema: Schema) {
    this.reset();
  }

  reset(): void {
    this.data.clear();
    this.keyIndex.clear();
    this.eqIndex.clear();
    for (const t of this.schema.tables.values()) {
      this.data.set(t.logicalName, new Map());
      for (const k of t.alternateKeys) this.keyIndex.set(`${t.logicalName}/${k.name}`, new Map());
    }
  }

  nextVersion(): number {
    return ++this.version;
  }

  table(logicalName: string): Map<string, Row> {
    const m = this.data.get(logicalName);
    if (!m) throw new Error(`no table ${logicalName}`);
    return m;
  }

  get(t: EmuTable, id: string): Row | undefined {
    return this.table(t.logicalName).get(id);
  }

  /** Value of a column for key purposes (lookups are stored as _x_value). */
  private keyValue(t: EmuTable, row: Row, column: string): unknown {
    const c = t.columns.get(column);
    return c?.type === 'lookup' || c?.type === 'customer' ? row.values[lookupKey(column)] : row.values[column];
  }

  private keyString(t: EmuTable, row: Row, columns: readonly string[]): string | null {
    const parts: string[] = [];
    for (const c of columns) {
      const v = this.keyValue(t, row, c);
      // Rows with an empty key column are not indexed (no uniqueness among them).
      if (v === null || v === undefined) return null;
      parts.push(keyPart(v));
    }
    return JSON.stringify(parts);
  }

  findByKey(t: EmuTable, values: Record<string, unknown>): Row | undefined {
    const cols = Object.keys(values);
    const key = t.alternateKeys.find((k) => k.columns.length === cols.length && k.columns.every((c) => cols.includes(c)));
    if (!key) return undefined;
    const ks = JSON.stringify(key.columns.map((c) => keyPart(values[c])));
    const id = this.keyIndex.get(`${t.logicalName}/${key.name}`)!.get(ks);
    return id ? this.get(t, id) : undefined;
  }

  /** Throws 412 0x80060892 when `row` would break an alternate key held by another row. */
  checkKeys(t: EmuTable, id: string, row: Row): void {
    for (const k of t.alternateKeys) {
      const ks = this.keyString(t, row, k.columns);
      if (ks === null) continue;
      const holder = this.keyIndex.get(`${t.logicalName}/${k.name}`)!.get(ks);
      if (holder !== undefined && holder !== id) {
        throw new DvError(412, CODES.duplicateEntityKey,
          `Entity Key ${k.name} violated. A record with the same value for ${k.columns.join(',')} already exists. A duplicate record cannot be created. Please ensure that the key values are unique.`);
      }
    }
  }

  /** Ids of rows whose stored `column` equals `value` (strings compared case-insensitively). */
  candidates(t: EmuTable, column: string, value: unknown): ReadonlySet<string> {
    let byCol = this.eqIndex.get(t.logicalName);
    if (!byCol) { byCol = new Map(); this.eqIndex.set(t.logicalName, byCol); }
    let idx = byCol.get(column);
    if (!idx) {
      idx = new Map();
      byCol.set(column, idx);
      for (const [id, row] of this.table(t.logicalName)) addTo(idx, eqNorm(row.values[column]), id);
    }
    return idx.get(eqNorm(value)) ?? EMPTY;
  }

  private index(t: EmuTable, id: string, row: Row, add: boolean): void {
    const byCol = this.eqIndex.get(t.logicalName);
    if (byCol) {
      for (const [column, idx] of byCol) {
        const v = eqNorm(row.values[column]);
        if (add) addTo(idx, v, id);
        else idx.get(v)?.delete(id);
      }
    }
    for (const k of t.alternateKeys) {
      const ks = this.keyString(t, row, k.columns);
      if (ks === null) continue;
      const idx = this.keyIndex.get(`${t.logicalName}/${k.name}`)!;
      if (add) idx.set(ks, id);
      else if (idx.get(ks) === id) idx.delete(ks);
    }
  }

  insert(t: EmuTable, id: string, row: Row): void {
    this.checkKeys(t, id, row);
    this.table(t.logicalName).set(id, row);
    this.index(t, id, row, true);
    this.undoLog?.push(() => {
      this.index(t, id, row, false);
      this.table(t.logicalName).delete(id);
    });
  }

  replace(t: EmuTable, id: string, next: Row): void {
    const prev = this.get(t, id)!;
    this.checkKeys(t, id, next);
    this.index(t, id, prev, false);
    this.table(t.logicalName).set(id, next);
    this.index(t, id, next, true);
    this.undoLog?.push(() => {
      this.index(t, id, next, false);
      this.table(t.logicalName).set(id, prev);
      this.index(t, id, prev, true);
    });
  }

  delete(t: EmuTable, id: string): void {
    const prev = this.get(t, id);
    if (!prev) return;
    this.index(t, id, prev, false);
    this.table(t.logicalName).delete(id);
    this.undoLog?.push(() => {
      this.table(t.logicalName).set(id, prev);
      this.index(t, id, prev, true);
    });
  }

  /** Runs `fn` atomically: on a throw every change it made is undone. Nested calls join the outer one. */
  atomic<T>(fn: () => T): T {
    if (this.undoLog) return fn();
    this.undoLog = [];
    try {
      const r = fn();
      return r;
    } catch (e) {
      for (const u of this.undoLog.reverse()) u();
      throw e;
    } finally {
      this.undoLog = null;
    }
  }

  /** Starts an atomic section that the caller ends explicitly (a $batch change set spans several requests). */
  begin(): { commit(): void; rollback(): void } {
    if (this.undoLog) throw new Error('nested transaction');
    this.undoLog = [];
    return {
      commit: () => { this.undoLog = null; },
      rollback: () => {
        const log = this.undoLog ?? [];
        this.undoLog = null;
        for (const u of log.reverse()) u();
      },
    };
  }
}
