/**
 * The Dataverse Web API client (v9.2 over undici): batched writes with one result per op,
 * pacing under the service-protection budgets (requests and execution time per sliding window),
 * client-wide Retry-After on 429, adaptive concurrency capped by x-ms-dop-hint, exponential
 * back-off with jitter on 5xx and network errors (p-retry), one token refresh on 401, paged queries.
 * Design notes and decisions: docs/dataverse-client.md.
 */
import { randomUUID } from 'node:crypto';
import pRetry from 'p-retry';
import { Agent, request, type Dispatcher } from 'undici';
import type { TokenProvider } from './auth.js';
import { buildBatchRequest, parseBatchResponse, type HttpPart } from './batch.js';
import { ServiceProtectionBudget, type BudgetLimits } from './budget.js';
import { AdaptiveLimiter, DATAVERSE_MAX_CONCURRENCY } from './concurrency.js';
import {
  API_PATH,
  dependencyGroups,
  invalidOpReason,
  isTransientStatus,
  packBatches,
  parseODataError,
  requestForOp,
  resultFromPart,
  targetBatchSize,
} from './ops.js';
import { parseRetryAfter, RetryAfterGate, systemClock, type Clock } from './throttle.js';
import type { DataverseClient, DataverseOp, DataverseRow, OpResult } from './types.js';

export type RequestKind = 'batch' | 'query' | 'retrieve';

/** Where the client reports what it does; service/metrics.ts adapts it to prom-client. */
export interface DataverseMetrics {
  /** One HTTP request to Dataverse answered (`status` = HTTP status, or 'network' for a transport failure). */
  request(kind: RequestKind, status: number | 'network'): void;
  /** The client held requests back for `ms` because of a 429 Retry-After. */
  throttleWait(ms: number): void;
  /** A 429 was received. */
  throttled(): void;
  /** The adaptive concurrency limit changed. */
  concurrency(limit: number): void;
  /** A request waited `ms` for the client's own service-protection budget (no 429 involved). */
  budgetWait?(ms: number): void;
}

export interface DataverseLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

const silentLogger: DataverseLogger = { debug: () => undefined, info: () => undefined, warn: () => undefined };
const noMetrics: DataverseMetrics = { request: () => undefined, throttleWait: () => undefined, throttled: () => undefined, concurrency: () => undefined };

export interface HttpDataverseClientOptions {
  /** Environment URL, e.g. https://contoso.crm4.dynamics.com (no /api path). */
  baseUrl: string;
  tokenProvider: TokenProvider;
  /** Upper bound of concurrent requests (also capped by x-ms-dop-hint and 52). Default 52. */
  maxConcurrency?: number;
  /** Starting concurrency. Default 4. */
  initialConcurrency?: number;
  /**
   * Ops per $batch: at least this many when there are enough ops. Default 25: every batch is one
   * request against the request-count limit (20/s), so a worker round of ~60 ops goes as 3 batches
   * rather than one per concurrency slot.
   */
  minBatchSize?: number;
  /** Ops per $batch at most. Default 100. */
  maxBatchSize?: number;
  /** Re-tries after 5xx / network errors before giving up on an op (result `retryable`). Default 6. */
  transientRetries?: number;
  /** Back-off bounds (exponential, factor 2, full jitter). Default 500 ms … 30 s. */
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** Longest a single call keeps waiting out 429s before reporting the ops as retryable. Default 10 min. */
  maxThrottleWaitMs?: number;
  /** Retry-After to assume when a 429 carries none. Default 5 s. */
  defaultRetryAfterMs?: number;
  /**
   * GETs issued in the same tick (the worker's parallel lookups) travel as one `$batch`, which
   * service protection counts as one request. Default true.
   */
  coalesceReads?: boolean;
  /**
   * The service-protection budgets the client paces itself under (per user, sliding window):
   * default 6,000 requests and 1,200,000 ms of execution time per 300,000 ms, using 95 % of each.
   * `false` turns pacing off (429s alone then limit the rate).
   */
  serviceProtection?: Partial<BudgetLimits> | false;
  /** Headers/body timeout per request. Default 120 s (Dataverse's own request limit is 2 min). */
  requestTimeoutMs?: number;
  logger?: DataverseLogger;
  metrics?: DataverseMetrics;
  clock?: Clock;
  /** undici dispatcher; by default the client owns an Agent with enough connections. */
  dispatcher?: Dispatcher;
}

interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

interface PendingRead {
  kind: RequestKind;
  url: string;
  headers: Record<string, string>;
  resolve(response: RawResponse): void;
  reject(error: unknown): void;
}

/** Most GETs one coalesced $batch carries. */
const MAX_COALESCED_READS = 100;

/** Dataverse or the token endpoint refused our credentials (configuration problem, not an op's fault). */
export class DataverseAuthError extends Error {
  override name = 'DataverseAuthError';
}

/** A failure worth retrying (5xx, network, outlasted throttling); carries the status for the op results. */
class TransientError extends Error {
  override name = 'TransientError';
  constructor(message: string, readonly status: number) {
    super(message);
  }
}

function headerMap(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

export class HttpDataverseClient implements DataverseClient {
  readonly baseUrl: string;
  private readonly origin: string;
  private readonly tokens: TokenProvider;
  private readonly limiter: AdaptiveLimiter;
  private readonly gate: RetryAfterGate;
  private readonly budget: ServiceProtectionBudget | undefined;
  private readonly clock: Clock;
  private readonly logger: DataverseLogger;
  private readonly metrics: DataverseMetrics;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly opts: Required<Pick<HttpDataverseClientOptions,
    'minBatchSize' | 'maxBatchSize' | 'transientRetries' | 'backoffMinMs' | 'backoffMaxMs' | 'maxThrottleWaitMs' | 'defaultRetryAfterMs' | 'requestTimeoutMs' | 'coalesceReads'>>;
  private pendingReads: PendingRead[] = [];
  private readFlushScheduled = false;

  constructor(options: HttpDataverseClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.origin = new URL(this.baseUrl).origin;
    this.tokens = options.tokenProvider;
    this.clock = options.clock ?? systemClock;
    this.gate = new RetryAfterGate(this.clock);
    this.budget = options.serviceProtection === false ? undefined : new ServiceProtectionBudget(options.serviceProtection ?? {}, this.clock);
    this.logger = options.logger ?? silentLogger;
    this.metrics = options.metrics ?? noMetrics;
    const maxConcurrency = Math.min(options.maxConcurrency ?? DATAVERSE_MAX_CONCURRENCY, DATAVERSE_MAX_CONCURRENCY);
    this.limiter = new AdaptiveLimiter(options.initialConcurrency ?? 4, maxConcurrency, (limit) => this.metrics.concurrency(limit));
    this.opts = {
      minBatchSize: options.minBatchSize ?? 25,
      maxBatchSize: Math.min(options.maxBatchSize ?? 100, 1000),
      transientRetries: options.transientRetries ?? 6,
      backoffMinMs: options.backoffMinMs ?? 500,
      backoffMaxMs: options.backoffMaxMs ?? 30_000,
      maxThrottleWaitMs: options.maxThrottleWaitMs ?? 10 * 60_000,
      defaultRetryAfterMs: options.defaultRetryAfterMs ?? 5_000,
      requestTimeoutMs: options.requestTimeoutMs ?? 120_000,
      coalesceReads: options.coalesceReads ?? true,
    };
    this.ownsDispatcher = !options.dispatcher;
    this.dispatcher = options.dispatcher ?? new Agent({
      connections: DATAVERSE_MAX_CONCURRENCY + 4,
      // Shorter than any server's idle timeout, so a kept-alive socket is never reused just as
      // the server closes it (undici also honours the server's Keep-Alive: timeout hint).
      keepAliveTimeout: 4_000,
      headersTimeout: this.opts.requestTimeoutMs,
      bodyTimeout: this.opts.requestTimeoutMs,
    });
  }

  /** Current adaptive concurrency limit (for metrics, tests and the benchmark). */
  get concurrencyLimit(): number {
    return this.limiter.limit;
  }

  get concurrencyCap(): number {
    return this.limiter.cap;
  }

  /** The pacing budget (undefined when turned off), for tests and the benchmark. */
  get serviceProtectionBudget(): ServiceProtectionBudget | undefined {
    return this.budget;
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  async checkAuth(): Promise<void> {
    await this.tokens.getToken();
  }

  // ---- writes ------------------------------------------------------------------------------

  async execute(ops: DataverseOp[]): Promise<OpResult[]> {
    const results: Array<OpResult | undefined> = new Array(ops.length);
    const valid: number[] = [];
    ops.forEach((op, i) => {
      const reason = invalidOpReason(op);
      if (reason) results[i] = { op, status: 0, ok: false, error: { code: 'InvalidOp', message: reason }, retryable: false };
      else valid.push(i);
    });
    if (valid.length > 0) {
      const validOps = valid.map((i) => ops[i]!);
      const groups = dependencyGroups(validOps).map((group) => group.map((k) => valid[k]!));
      const groupOf = new Map<number, number>();
      groups.forEach((group, g) => group.forEach((i) => groupOf.set(i, g)));
      const slots = Math.min(this.limiter.limit, this.budget?.sustainableConcurrency ?? Infinity);
      const size = targetBatchSize(valid.length, slots, this.opts.minBatchSize, this.opts.maxBatchSize);
      const { batches, sequential } = packBatches(groups, size);
      const runs = [
        ...batches.map((batch) => this.runBatch(ops, batch, groupOf, results)),
        ...sequential.map(async (slices) => {
          for (const slice of slices) await this.runBatch(ops, slice, groupOf, results);
        }),
      ];
      const settled = await Promise.allSettled(runs);
      const failure = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failure) throw failure.reason;
    }
    return results as OpResult[];
  }

  /**
   * Sends one batch; ops that failed transiently (and the later ops of their dependency group,
   * which ran against a missing predecessor) are re-sent with exponential back-off.
   */
  private async runBatch(ops: readonly DataverseOp[], indexes: number[], groupOf: Map<number, number>, results: Array<OpResult | undefined>): Promise<void> {
    let pending = indexes;
    const lastTransient = new Map<number, OpResult>();
    try {
      await pRetry(async () => {
        const parts = await this.sendBatch(pending.map((i) => ops[i]!));
        const retry: number[] = [];
        const brokenGroups = new Set<number>();
        pending.forEach((i, k) => {
          const op = ops[i]!;
          const part = parts[k];
          const result: OpResult = part
            ? resultFromPart(op, part)
            : { op, status: 0, ok: false, error: { code: '', message: 'no response part for this op' }, retryable: true };
          const group = groupOf.get(i)!;
          if (result.retryable || brokenGroups.has(group)) {
            brokenGroups.add(group);
            retry.push(i);
            if (result.retryable) lastTransient.set(i, result);
          } else {
            results[i] = result;
          }
        });
        if (retry.length > 0) {
          pending = retry;
          const first = lastTransient.get(retry.find((i) => lastTransient.has(i)) ?? -1);
          throw new TransientError(`${retry.length} op(s) failed transiently`, first?.status ?? 0);
        }
        pending = [];
      }, this.retryOptions());
    } catch (error) {
      if (error instanceof DataverseAuthError) throw error;
      const status = error instanceof TransientError ? error.status : 0;
      for (const i of pending) {
        results[i] = lastTransient.get(i) ?? {
          op: ops[i]!, status, ok: false, retryable: true,
          error: { code: '', message: (error as Error).message },
        };
      }
    }
  }

  private retryOptions(): Parameters<typeof pRetry>[1] {
    return {
      retries: this.opts.transientRetries,
      factor: 2,
      minTimeout: this.opts.backoffMinMs,
      maxTimeout: this.opts.backoffMaxMs,
      randomize: true,
      shouldRetry: ({ error }) => error instanceof TransientError,
      onFailedAttempt: ({ error, attemptNumber, retriesLeft }) => {
        if (error instanceof TransientError) {
          this.logger.warn({ err: error.message, status: error.status, attempt: attemptNumber, retriesLeft }, 'Dataverse transient failure, backing off');
        }
      },
    };
  }

  private async sendBatch(ops: readonly DataverseOp[]): Promise<HttpPart[]> {
    const batch = buildBatchRequest(ops.map(requestForOp), randomUUID());
    const response = await this.send('batch', 'POST', `${this.baseUrl}${API_PATH}/$batch`, {
      'Content-Type': batch.contentType,
      Prefer: 'odata.continue-on-error',
    }, batch.body);
    const contentType = response.headers['content-type'] ?? '';
    if (/^multipart\/mixed/i.test(contentType)) {
      const parts = parseBatchResponse(contentType, response.body);
      // Without continue-on-error semantics a failing batch holds only the failing part: the
      // ops after it never ran, so they get no part and are re-sent (resultFromPart stays per op).
      return parts;
    }
    // A refused batch as a whole (malformed, too large…): every op gets that answer.
    const error = parseODataError(response.body, response.status);
    return ops.map(() => ({ status: response.status, statusText: '', headers: {}, body: JSON.stringify({ error }) }));
  }

  // ---- reads -------------------------------------------------------------------------------

  async query(entitySet: string, query: string, opts: { maxPageSize?: number; maxRows?: number } = {}): Promise<DataverseRow[]> {
    const maxPageSize = Math.min(Math.max(1, opts.maxPageSize ?? 5000), 5000);
    const maxRows = opts.maxRows ?? Infinity;
    const rows: DataverseRow[] = [];
    let url: string | undefined = `${this.baseUrl}${API_PATH}/${entitySet}${query ? `?${query}` : ''}`;
    while (url && rows.length < maxRows) {
      const response = await this.read('query', url, { Prefer: `odata.maxpagesize=${maxPageSize}` });
      if (response.status !== 200) throw this.readError('query', entitySet, response);
      const page = JSON.parse(response.body) as { value?: DataverseRow[]; '@odata.nextLink'?: string };
      for (const row of page.value ?? []) {
        if (rows.length >= maxRows) break;
        rows.push(row);
      }
      const next = page['@odata.nextLink'];
      if (next && new URL(next, this.baseUrl).origin !== this.origin) {
        // Never send the bearer token to another host.
        throw new Error(`Dataverse nextLink points to another origin: ${new URL(next, this.baseUrl).origin}`);
      }
      url = next ? new URL(next, this.baseUrl).toString() : undefined;
    }
    return rows;
  }

  async retrieve(entitySet: string, id: string, select?: string[]): Promise<DataverseRow | null> {
    const query = select && select.length > 0 ? `?$select=${select.join(',')}` : '';
    const response = await this.read('retrieve', `${this.baseUrl}${API_PATH}/${entitySet}(${id})${query}`, {});
    if (response.status === 404) return null;
    if (response.status !== 200) throw this.readError('retrieve', entitySet, response);
    return JSON.parse(response.body) as DataverseRow;
  }

  private readError(kind: RequestKind, entitySet: string, response: RawResponse): Error {
    const error = parseODataError(response.body, response.status);
    return new Error(`Dataverse ${kind} ${entitySet} failed: HTTP ${response.status} ${error.code} ${error.message}`.trim());
  }

  /** One GET; with coalescing on, GETs of the same tick are sent together as one $batch. */
  private read(kind: RequestKind, url: string, headers: Record<string, string>): Promise<RawResponse> {
    if (!this.opts.coalesceReads) return this.readWithRetry(kind, url, headers);
    return new Promise<RawResponse>((resolve, reject) => {
      this.pendingReads.push({ kind, url, headers, resolve, reject });
      if (!this.readFlushScheduled) {
        this.readFlushScheduled = true;
        setImmediate(() => void this.flushReads());
      }
    });
  }

  private async flushReads(): Promise<void> {
    this.readFlushScheduled = false;
    const reads = this.pendingReads.splice(0, MAX_COALESCED_READS);
    if (this.pendingReads.length > 0) {
      this.readFlushScheduled = true;
      setImmediate(() => void this.flushReads());
    }
    const single = (r: PendingRead) => this.readWithRetry(r.kind, r.url, r.headers).then(r.resolve, r.reject);
    if (reads.length === 1) return single(reads[0]!);
    let parts: HttpPart[];
    try {
      parts = await pRetry(() => this.sendReadBatch(reads), this.retryOptions());
    } catch (error) {
      const failure = error instanceof TransientError ? new Error(`Dataverse reads failed after retries: ${error.message}`) : error;
      for (const r of reads) r.reject(failure);
      return;
    }
    await Promise.all(reads.map(async (r, i) => {
      const part = parts[i];
      // A part that failed transiently (or is missing) is read again on its own, with retries.
      if (!part || isTransientStatus(part.status)) return single(r);
      r.resolve({ status: part.status, headers: part.headers, body: part.body });
    }));
  }

  private async sendReadBatch(reads: readonly PendingRead[]): Promise<HttpPart[]> {
    const batch = buildBatchRequest(reads.map((r) => ({
      method: 'GET' as const,
      // As undici would put it on the wire: spaces and quotes of OData queries percent-encoded.
      path: ((u) => `${u.pathname}${u.search}`)(new URL(r.url)),
      headers: { Accept: 'application/json', 'If-None-Match': 'null', ...r.headers },
    })), randomUUID());
    const response = await this.send('query', 'POST', `${this.baseUrl}${API_PATH}/$batch`, {
      'Content-Type': batch.contentType,
      Prefer: 'odata.continue-on-error',
    }, batch.body);
    const contentType = response.headers['content-type'] ?? '';
    if (!/^multipart\/mixed/i.test(contentType)) {
      const error = parseODataError(response.body, response.status);
      throw new Error(`Dataverse refused a batch of reads: HTTP ${response.status} ${error.code} ${error.message}`.trim());
    }
    return parseBatchResponse(contentType, response.body);
  }

  private async readWithRetry(kind: RequestKind, url: string, headers: Record<string, string>): Promise<RawResponse> {
    try {
      return await pRetry(() => this.send(kind, 'GET', url, headers), this.retryOptions());
    } catch (error) {
      if (error instanceof TransientError) throw new Error(`Dataverse ${kind} failed after retries: ${error.message}`);
      throw error;
    }
  }

  // ---- one HTTP request: gate, concurrency, token, 429 and 401 handling ---------------------

  private async send(kind: RequestKind, method: 'GET' | 'POST', url: string, extraHeaders: Record<string, string>, body?: string): Promise<RawResponse> {
    await this.limiter.acquire();
    try {
      let refreshedToken = false;
      const throttleStart = this.clock.now();
      for (;;) {
        const waited = await this.gate.wait();
        if (waited > 0) this.metrics.throttleWait(waited);
        if (this.clock.now() - throttleStart > this.opts.maxThrottleWaitMs) {
          throw new TransientError(`still throttled after ${this.opts.maxThrottleWaitMs} ms`, 429);
        }
        let token: string;
        try {
          token = await this.tokens.getToken();
        } catch (error) {
          throw new DataverseAuthError(`cannot obtain a Dataverse token: ${(error as Error).message}`);
        }
        if (this.budget) {
          const paced = await this.budget.acquire();
          if (paced > 0) this.metrics.budgetWait?.(paced);
        }
        const sentAt = this.clock.now();
        let response: RawResponse;
        try {
          const res = await request(url, {
            method,
            dispatcher: this.dispatcher,
            headers: {
              Authorization: `Bearer ${token}`,
              Accept: 'application/json',
              'OData-MaxVersion': '4.0',
              'OData-Version': '4.0',
              ...(method === 'GET' ? { 'If-None-Match': 'null' } : {}),
              ...extraHeaders,
            },
            body,
          });
          response = { status: res.statusCode, headers: headerMap(res.headers), body: await res.body.text() };
        } catch (error) {
          this.budget?.settle(this.clock.now() - sentAt);
          this.metrics.request(kind, 'network');
          throw new TransientError(`network error: ${(error as Error).message}`, 0);
        }
        const remaining = response.headers['x-ms-ratelimit-time-remaining-xrm-requests'];
        this.budget?.settle(this.clock.now() - sentAt, remaining !== undefined && remaining.trim() !== '' ? Number(remaining) : undefined);
        this.metrics.request(kind, response.status);
        const hint = Number(response.headers['x-ms-dop-hint']);
        if (Number.isFinite(hint) && hint > 0) this.limiter.dopHint(hint);

        if (response.status === 429) {
          const waitMs = parseRetryAfter(response.headers['retry-after'], this.clock.now(), this.opts.defaultRetryAfterMs);
          this.gate.pause(waitMs);
          this.limiter.throttled(this.clock.now(), sentAt);
          this.metrics.throttled();
          this.logger.warn({ kind, retryAfterMs: waitMs, concurrency: this.limiter.limit, code: parseODataError(response.body, 429).code }, 'Dataverse throttled the client');
          continue;
        }
        if (response.status === 401) {
          if (refreshedToken) throw new DataverseAuthError('Dataverse rejected a freshly obtained token (401)');
          refreshedToken = true;
          this.tokens.invalidate();
          continue;
        }
        if (response.status >= 500 && isTransientStatus(response.status, parseODataError(response.body, response.status))) {
          throw new TransientError(`HTTP ${response.status}`, response.status);
        }
        this.limiter.healthy(this.clock.now());
        return response;
      }
    } finally {
      this.limiter.release();
    }
  }
}
