/**
 * Pure mapping between DataverseOps, Web API requests and OpResults, and the packing of ops into
 * batches. No I/O here; client.ts does the sending.
 */
import { allTables } from '../../solution/model/index.js';
import type { BatchPartRequest, HttpPart } from './batch.js';
import type { DataverseError, DataverseOp, OpResult } from './types.js';

export const API_PATH = '/api/data/v9.2';

/** Dataverse duplicate-key codes. 0x80040237 = DuplicateRecord (primary key already taken). */
export const DUPLICATE_RECORD = '0x80040237';

const primaryIdBySet = new Map(allTables.map((t) => [t.entitySetName, t.primaryIdAttribute]));

export function primaryIdAttributeOf(entitySet: string): string | undefined {
  return primaryIdBySet.get(entitySet);
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Why an op cannot even be sent (programming error in the op); undefined when it is well-formed. */
export function invalidOpReason(op: DataverseOp): string | undefined {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(op.entitySet)) return `invalid entity set name '${op.entitySet}'`;
  if (!GUID.test(op.id)) return `id '${op.id}' is not a GUID`;
  if (op.method === 'create' && !primaryIdAttributeOf(op.entitySet)) {
    return `entity set '${op.entitySet}' is not in the schema model (primary id column unknown)`;
  }
  return undefined;
}

/**
 * create: POST with the deterministic id in the body. Dataverse answers an existing id with the
 *         DuplicateRecord error (0x80040237; 412 per the docs, 400 "Cannot insert duplicate key"
 *         in some versions), which resultFromPart maps to `existed: true`.
 * update: PATCH with If-Match (the op's ETag, or `*` so a missing row is 404, never created).
 * upsert: PATCH with no condition.
 */
export function requestForOp(op: DataverseOp): BatchPartRequest {
  const rowPath = `${API_PATH}/${op.entitySet}(${op.id})`;
  switch (op.method) {
    case 'create': {
      const idColumn = primaryIdAttributeOf(op.entitySet) as string;
      return { method: 'POST', path: `${API_PATH}/${op.entitySet}`, body: { ...op.body, [idColumn]: op.id } };
    }
    case 'update':
      return { method: 'PATCH', path: rowPath, headers: { 'If-Match': op.ifMatch ?? '*' }, body: op.body };
    case 'upsert':
      return { method: 'PATCH', path: rowPath, body: op.body };
  }
}

/** Parses an OData error body (`{"error":{"code","message"}}`); tolerant of anything else. */
export function parseODataError(body: string, status: number): DataverseError {
  try {
    const parsed = JSON.parse(body) as { error?: { code?: unknown; message?: unknown } };
    if (parsed && typeof parsed === 'object' && parsed.error) {
      return { code: String(parsed.error.code ?? ''), message: String(parsed.error.message ?? '') };
    }
  } catch {
    // not JSON: fall through
  }
  return { code: '', message: body.slice(0, 500) || `HTTP ${status}` };
}

/**
 * A status the op cannot be blamed for: the same op may well succeed later. 401/429 inside a batch
 * are treated the same (the whole batch is normally refused instead, handled by the client).
 */
export function isTransientStatus(status: number, error?: DataverseError): boolean {
  if (status === 0 || status === 401 || status === 408 || status === 429) return true;
  if (status >= 500) {
    // Duplicate detection (0x80040333) is a 500 that will never go away by retrying.
    return error?.code !== '0x80040333';
  }
  return false;
}

export function isDuplicateRecord(status: number, error?: DataverseError): boolean {
  if (status !== 412 && status !== 400 && status !== 409) return false;
  if (error?.code?.toLowerCase() === DUPLICATE_RECORD) return true;
  // Some versions answer a duplicate primary key with an empty code and this message.
  return /duplicate key|matching key values already exists/i.test(error?.message ?? '');
}

export function etagOf(part: HttpPart): string | undefined {
  if (part.headers.etag) return part.headers.etag;
  if (part.body) {
    try {
      const parsed = JSON.parse(part.body) as Record<string, unknown>;
      if (typeof parsed['@odata.etag'] === 'string') return parsed['@odata.etag'];
    } catch {
      // no body etag
    }
  }
  return undefined;
}

export function resultFromPart(op: DataverseOp, part: Pick<HttpPart, 'status' | 'headers' | 'body'>): OpResult {
  const { status } = part;
  if (status >= 200 && status < 300) {
    const result: OpResult = { op, status, ok: true };
    if (op.method === 'create') result.existed = false;
    const etag = etagOf(part as HttpPart);
    if (etag) result.etag = etag;
    return result;
  }
  const error = parseODataError(part.body, status);
  if (op.method === 'create' && isDuplicateRecord(status, error)) {
    return { op, status, ok: true, existed: true };
  }
  return { op, status, ok: false, error, retryable: isTransientStatus(status, error) };
}

// ---- packing ------------------------------------------------------------------------------

const BIND_TARGET = /^\/?([A-Za-z_][A-Za-z0-9_]*)\(([0-9a-fA-F-]{36})\)$/;

/** Row keys (`set(id)`) that an op's body binds to, searched through nested deep inserts. */
export function boundRowKeys(body: unknown, out: string[] = []): string[] {
  if (Array.isArray(body)) {
    for (const item of body) boundRowKeys(item, out);
  } else if (body && typeof body === 'object') {
    for (const [key, value] of Object.entries(body)) {
      if (key.endsWith('@odata.bind') && typeof value === 'string') {
        const match = BIND_TARGET.exec(value.trim());
        if (match) out.push(`${match[1]}(${match[2]!.toLowerCase()})`);
      } else if (value && typeof value === 'object') {
        boundRowKeys(value, out);
      }
    }
  }
  return out;
}

export function rowKeyOf(op: DataverseOp): string {
  return `${op.entitySet}(${op.id.toLowerCase()})`;
}

/**
 * Groups op indexes that must run in order in one batch: ops on the same row, and an op together
 * with the op that creates a row it binds to (Dataverse runs a batch's parts sequentially, while
 * separate batches run concurrently). Groups keep the caller's order, inside and between them.
 */
export function dependencyGroups(ops: readonly DataverseOp[]): number[][] {
  const parent = ops.map((_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]!]!;
      i = parent[i]!;
    }
    return i;
  };
  const union = (a: number, b: number): void => {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
  };
  const firstByRow = new Map<string, number>();
  ops.forEach((op, i) => {
    const key = rowKeyOf(op);
    const seen = firstByRow.get(key);
    if (seen === undefined) firstByRow.set(key, i);
    else union(seen, i);
  });
  ops.forEach((op, i) => {
    for (const key of boundRowKeys(op.body)) {
      const target = firstByRow.get(key);
      if (target !== undefined) union(target, i);
    }
  });
  const groups = new Map<number, number[]>();
  ops.forEach((_, i) => {
    const root = find(i);
    const group = groups.get(root);
    if (group) group.push(i);
    else groups.set(root, [i]);
  });
  return [...groups.values()];
}

/**
 * How many ops go into one batch: enough batches to use the current concurrency, but never
 * fewer than `minBatch` ops per batch (each batch costs one request against the request-count
 * limit) nor more than `maxBatch`.
 */
export function targetBatchSize(opCount: number, concurrency: number, minBatch: number, maxBatch: number): number {
  if (opCount === 0) return maxBatch;
  const perSlot = Math.ceil(opCount / Math.max(1, concurrency));
  return Math.min(maxBatch, Math.max(minBatch, perSlot));
}

/**
 * Packs dependency groups into batches of about `size` ops (a group is never split unless it alone
 * exceeds `hardMax`, the Dataverse limit of 1000 parts; then its slices must run one after the
 * other, which the caller learns from `sequentialAfter`).
 */
export function packBatches(groups: readonly number[][], size: number, hardMax = 1000): { batches: number[][]; sequential: number[][][] } {
  const batches: number[][] = [];
  const sequential: number[][][] = [];
  let current: number[] = [];
  for (const group of groups) {
    if (group.length > hardMax) {
      const slices: number[][] = [];
      for (let i = 0; i < group.length; i += hardMax) slices.push(group.slice(i, i + hardMax));
      sequential.push(slices);
      continue;
    }
    if (current.length > 0 && current.length + group.length > size) {
      batches.push(current);
      current = [];
    }
    current.push(...group);
  }
  if (current.length > 0) batches.push(current);
  for (const batch of batches) batch.sort((a, b) => a - b);
  return { batches, sequential };
}
