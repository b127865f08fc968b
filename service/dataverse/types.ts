/**
 * The seam between the pure planner and the Dataverse client: the planner returns DataverseOps,
 * the client executes them (auth, batching, throttling, retries).
 */

export interface DataverseOp {
  /**
   * create: POST with the deterministic id in the body and `If-None-Match: *` semantics —
   *         an existing row (412 / duplicate key) is reported as `existed`, not as an error.
   * update: PATCH /<set>(<id>) with `If-Match` (an ETag, or `*` so it never creates).
   * upsert: PATCH /<set>(<id>) without conditions (only for rows whose every column may be re-sent).
   */
  method: 'create' | 'update' | 'upsert';
  entitySet: string;
  id: string;
  body: Record<string, unknown>;
  ifMatch?: string;
  /** Correlation (e.g. the store event id) so a failure can be attributed to the event that caused it. */
  tag?: string;
}

export interface DataverseError {
  code: string;
  message: string;
}

export interface OpResult {
  op: DataverseOp;
  status: number;
  ok: boolean;
  /** create only: the row already existed (412 / 0x80040237 duplicate). */
  existed?: boolean;
  etag?: string;
  error?: DataverseError;
  /**
   * Set on failures the op is not to blame for (Dataverse unavailable, 5xx, network, throttling
   * that outlasted the client's patience): try the op again later. Absent/false: the op's fault.
   */
  retryable?: boolean;
}

export interface DataverseRow {
  [column: string]: unknown;
  '@odata.etag'?: string;
}

export interface DataverseClient {
  /** Executes ops in batches; each op gets its own result (one op failing never fails the others). */
  execute(ops: DataverseOp[]): Promise<OpResult[]>;
  /** GET /<entitySet>?<query>, following @odata.nextLink; `query` is an OData query string without '?'. */
  query(entitySet: string, query: string, opts?: { maxPageSize?: number; maxRows?: number }): Promise<DataverseRow[]>;
  /** GET /<entitySet>(<id>)?$select=…; null on 404. */
  retrieve(entitySet: string, id: string, select?: string[]): Promise<DataverseRow | null>;
  /** Obtains a token (readiness check). */
  checkAuth(): Promise<void>;
}
