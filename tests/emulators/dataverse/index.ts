/**
 * A Dataverse Web API emulator for tests and demo mode: HTTPS with a committed test certificate,
 * its own OAuth authority (so @azure/msal-node runs unchanged), the product's tables from
 * solution/model, service protection limits, latency, fault injection and a request journal.
 * docs/emulator.md lists every behaviour with its source, or says that it has none.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Authority } from './auth.js';
import { executeBatch } from './batch.js';
import { Engine } from './engine.js';
import { DvError } from './errors.js';
import { DEFAULT_LIMITS, Protection, type Limits } from './protection.js';
import { buildSchema, type SchemaCustomization } from './schema.js';

export { demoSeed } from './demo-seed.js';

export const DEFAULT_TENANT_ID = '7c0b5d2e-3f4a-4c1b-9e8d-6a5f4e3d2c1b';
export const DEFAULT_CLIENT_ID = '5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9';
export const DEFAULT_CLIENT_SECRET = 'emulator-test-secret';

const CERT_DIR = fileURLToPath(new URL('./certs/', import.meta.url));
export const CA_CERT_PATH = `${CERT_DIR}ca.pem`;

/** Initial rows per table (logical name or entity set name); Web API body form or stored form (`_x_value`). */
export type EmulatorSeed = Record<string, Record<string, unknown>[]>;

export interface DataverseEmulatorOptions {
  port?: number;
  host?: string;
  tenantId?: string;
  clientId?: string;
  clientSecret?: string;
  /** More app registrations; each is its own caller for the service protection limits. */
  extraClients?: { clientId: string; clientSecret: string }[];
  tokenLifetimeSeconds?: number;
  latencyMs?: number;
  operationCostMs?: number;
  limits?: Partial<Limits>;
  seed?: EmulatorSeed;
  /** Reject activity-party masks not allowed for the activity (default true). */
  strictPartyMasks?: boolean;
  /** Enforce ApplicationRequired columns on create (default false, like Dataverse). */
  enforceApplicationRequired?: boolean;
  /** Journal capacity (oldest entries are dropped; default 100,000). */
  journalLimit?: number;
  /** Extra columns, choice values, alternate keys or tables of a customer's org. */
  customize?: SchemaCustomization;
  /** Reject alternate-key values with / < > * % & : \\ ? + in URLs, like Dataverse (default true). */
  keyCharacterBreakage?: boolean;
}

export interface FaultOptions {
  retryAfterSeconds?: number;
  /** Only requests (or $batch operations) whose path contains this text fail. */
  match?: string;
  /** Error code and message of the answer (defaults depend on the status). */
  code?: string;
  message?: string;
}

export interface JournalEntry {
  /** Epoch milliseconds when the request arrived. */
  at: number;
  method: string;
  /** Path and query as requested. */
  path: string;
  status: number;
  /** Client id of the token (app id), or 'anonymous'. */
  caller: string;
  retryAfterSeconds?: number;
  durationMs: number;
  /** Selected request headers (Prefer, If-Match, If-None-Match, MSCRM.*); never Authorization. */
  headers: Record<string, string>;
  /** $batch: number of operations inside, and the status of each one that ran. */
  operations?: number;
  operationStatuses?: number[];
  /** Error code of an error answer. */
  errorCode?: string;
}

/** What a client needs to reach a running emulator: its Web API, its OAuth authority and the app registration. */
export interface EmulatorConnection {
  url: string;
  authorityHost: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  caCertPath: string;
}

export interface DataverseEmulator extends EmulatorConnection {
  seed(data: EmulatorSeed): void;
  rows(logicalName: string): Record<string, unknown>[];
  reset(): void;
  journal(): JournalEntry[];
  faults: {
    /** The next n Web API requests (or, with `match`, matching requests and $batch operations) fail. */
    failNext(n: number, status: 503 | 500 | 429 | 400 | 404 | 412, opts?: FaultOptions): void;
    throttleFor(ms: number, retryAfterSeconds: number): void;
    /** Destroys the connection of the next n Web API requests without an answer. */
    dropNext(n: number): void;
    /** Delays the next n Web API requests by ms (slow answers, client timeouts). */
    delayNext(n: number, ms: number): void;
    clear(): void;
  };
  /** Requests consumed (each $batch operation counts, as for entitlement limits), and per caller. */
  usage(): { requests: number; operations: number; byCaller: Record<string, number> };
  /** Invalidates every token issued so far: the next Web API call with one gets 401. */
  revokeTokens(): void;
  close(): Promise<void>;
}

const JOURNAL_HEADERS = ['prefer', 'if-match', 'if-none-match', 'content-type', 'mscrm.suppressduplicatedetection', 'mscrm.bypasscustompluginexecution', 'consistency'];

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const sleep = (ms: number): Promise<void> => (ms > 0 ? new Promise((r) => setTimeout(r, ms)) : Promise.resolve());

interface Answer { status: number; headers: Record<string, string>; body: string; errorCode?: string; retryAfterSeconds?: number; operations?: number; operationStatuses?: number[] }

function json(status: number, body: unknown, headers: Record<string, string> = {}): Answer {
  return { status, headers: { 'Content-Type': 'application/json; charset=utf-8', ...headers }, body: body === undefined ? '' : JSON.stringify(body) };
}

function dvErrorAnswer(e: DvError, extra: Record<string, string> = {}): Answer {
  return {
    status: e.status, errorCode: e.code,
    headers: { 'Content-Type': 'application/json; odata.metadata=minimal', 'OData-Version': '4.0', ...e.headers, ...extra },
    body: JSON.stringify(e.body()),
  };
}

export async function startDataverseEmulator(opts: DataverseEmulatorOptions = {}): Promise<DataverseEmulator> {
  const host = opts.host ?? '127.0.0.1';
  const tenantId = opts.tenantId ?? DEFAULT_TENANT_ID;
  const clientId = opts.clientId ?? DEFAULT_CLIENT_ID;
  const clientSecret = opts.clientSecret ?? DEFAULT_CLIENT_SECRET;
  const limits: Limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const journalLimit = opts.journalLimit ?? 100_000;
  const server: Server = createServer({
    key: readFileSync(`${CERT_DIR}key.pem`),
    cert: readFileSync(`${CERT_DIR}cert.pem`),
    keepAlive: true,
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const origin = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;

  const schema = buildSchema(opts.customize ?? {});
  const engineOpts = {
    baseUrl: origin,
    strictPartyMasks: opts.strictPartyMasks ?? true,
    keyCharacterBreakage: opts.keyCharacterBreakage ?? true,
    enforceApplicationRequired: opts.enforceApplicationRequired ?? false,
    userId: '00000000-0000-0000-0000-0000000000a1',
    businessUnitId: '00000000-0000-0000-0000-0000000000b1',
    organizationId: '00000000-0000-0000-0000-0000000000c1',
  };
  const engine = new Engine(schema, engineOpts);
  const authority = new Authority({
    origin, tenantId, clientId, clientSecret, tokenLifetimeSeconds: opts.tokenLifetimeSeconds ?? 3600, resource: origin,
    extraClients: opts.extraClients ?? [],
  });
  const protection = new Protection(limits);
  let journal: JournalEntry[] = [];
  const faultQueue: ({ status: number } & FaultOptions)[] = [];
  let dropCount = 0;
  const delays: number[] = [];
  let usage = { requests: 0, operations: 0, byCaller: {} as Record<string, number> };
  let throttle: { until: number; retryAfterSeconds: number } | null = null;

  const seed = (data: EmulatorSeed): void => {
    for (const [table, rows] of Object.entries(data)) engine.seedRows(table, rows);
  };
  const reset = (): void => {
    engine.store.reset();
    journal = [];
    protection.reset();
    faultQueue.length = 0;
    throttle = null;
    dropCount = 0;
    delays.length = 0;
    usage = { requests: 0, operations: 0, byCaller: {} };
    if (opts.seed) seed(opts.seed);
  };
  if (opts.seed) seed(opts.seed);

  const record = (e: JournalEntry): void => {
    journal.push(e);
    // Trim in chunks so a long benchmark does not pay an O(n) splice per request.
    if (journal.length > journalLimit + Math.max(1, journalLimit >> 3)) journal.splice(0, journal.length - journalLimit);
  };

  const faults: DataverseEmulator['faults'] = {
    failNext(n, status, o = {}) {
      for (let i = 0; i < n; i++) faultQueue.push({ ...o, status });
    },
    throttleFor(ms, retryAfterSeconds) {
      throttle = { until: Date.now() + ms, retryAfterSeconds };
    },
    dropNext(n) {
      dropCount += n;
    },
    delayNext(n, ms) {
      for (let i = 0; i < n; i++) delays.push(ms);
    },
    clear() {
      faultQueue.length = 0;
      throttle = null;
      dropCount = 0;
      delays.length = 0;
    },
  };

  const apiPrefix = /^\/api\/data\/v9\.[012]\//;

  /** Takes the first queued fault that applies to `path` (request level: unmatched faults too). */
  function takeFault(path: string, operationLevel: boolean): DvError | null {
    const i = faultQueue.findIndex((f) => (f.match === undefined ? !operationLevel : path.includes(f.match)));
    if (i < 0) return null;
    const f = faultQueue.splice(i, 1)[0]!;
    const code = f.code ?? (f.status === 429 ? '0x80072322' : f.status === 412 ? '0x80040237' : f.status === 404 ? '0x80040217' : f.status === 400 ? '0x80040203' : '0x80040216');
    const msg = f.message ?? (f.status === 429
      ? `Number of requests exceeded the limit of ${limits.requestsPerWindow} over time window of ${Math.round(limits.windowMs / 1000)} seconds.`
      : f.status === 503 ? 'The service is temporarily unavailable (injected fault).' : `Injected fault ${f.status}.`);
    const h: Record<string, string> = {};
    if (f.retryAfterSeconds !== undefined) h['Retry-After'] = String(f.retryAfterSeconds);
    else if (f.status === 429) h['Retry-After'] = '1';
    return new DvError(f.status, code, msg, h);
  }

  async function webApi(req: IncomingMessage, url: URL, body: string, caller: string, headers: Record<string, string | undefined>): Promise<Answer | 'drop'> {
    const now = Date.now();
    if (dropCount > 0) { dropCount--; return 'drop'; }
    if (throttle && now < throttle.until) {
      return dvErrorAnswer(new DvError(429, '0x80072322', `Number of requests exceeded the limit of ${limits.requestsPerWindow} over time window of ${Math.round(limits.windowMs / 1000)} seconds.`, { 'Retry-After': String(throttle.retryAfterSeconds) }));
    }
    const fault = takeFault(url.pathname + url.search, false) ?? takeFault(url.pathname + url.search, true);
    if (fault) return dvErrorAnswer(fault);
    const verdict = protection.admit(caller, now);
    if (!verdict.ok) {
      return dvErrorAnswer(new DvError(429, verdict.code, verdict.message, { 'Retry-After': String(verdict.retryAfterSeconds) }));
    }
    let execMs = 0;
    try {
      await sleep((opts.latencyMs ?? 0) + (delays.shift() ?? 0));
      const started = performance.now();
      const path = url.pathname.replace(apiPrefix, '');
      let answer: Answer;
      let writes: number;
      if (path === '$batch') {
        if (req.method !== 'POST') throw new DvError(405, '0x80040227', 'The $batch endpoint accepts POST only.');
        const r = executeBatch(engine, { headers, body }, (path) => {
          const f = faultQueue.length ? takeFault(path, true) : null;
          return f ? { status: f.status, headers: { 'Content-Type': 'application/json; odata.metadata=minimal', 'OData-Version': '4.0', ...f.headers }, body: f.body(), writes: 0 } : null;
        });
        answer = { status: r.status, headers: r.headers, body: r.body, operations: r.operations, operationStatuses: r.statuses };
        writes = r.writes;
        usage.operations += r.operations - 1;
      } else {
        const r = engine.handle({ method: req.method ?? 'GET', path, query: url.search.slice(1), headers, body });
        const errorCode = r.status >= 400 ? (r.body as { error?: { code?: string } } | undefined)?.error?.code : undefined;
        const text = r.body === undefined ? '' : typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
        answer = { status: r.status, headers: r.headers, body: text, ...(errorCode ? { errorCode } : {}) };
        writes = r.writes;
      }
      const cost = (opts.operationCostMs ?? 0) * writes;
      execMs = performance.now() - started + cost;
      await sleep(cost);
      return answer;
    } catch (e) {
      if (e instanceof DvError) return dvErrorAnswer(e);
      throw e;
    } finally {
      protection.release(caller, Date.now(), execMs);
    }
  }

  async function control(req: IncomingMessage, url: URL, body: string): Promise<Answer> {
    const [, , what, arg] = url.pathname.split('/');
    const parsed = (): Record<string, unknown> => (body.trim() ? (JSON.parse(body) as Record<string, unknown>) : {});
    switch (`${req.method} ${what}`) {
      case 'GET info':
        return json(200, { url: origin, authorityHost: origin, tenantId, clientId, clientSecret, caCertPath: CA_CERT_PATH, limits, usage });
      case 'POST seed':
        seed(parsed() as EmulatorSeed);
        return json(204, undefined);
      case 'GET dump':
        if (arg) return json(200, engine.rows(arg));
        return json(200, Object.fromEntries([...schema.tables.keys()].map((t) => [t, engine.rows(t)])));
      case 'POST reset':
        reset();
        return json(204, undefined);
      case 'GET journal':
        return json(200, journal);
      case 'DELETE journal':
        journal = [];
        return json(204, undefined);
      case 'POST faults': {
        const b = parsed();
        const fn = b.failNext as ({ n: number; status: 503 | 500 | 429 } & FaultOptions) | undefined;
        if (fn) {
          const { n, status, ...o } = fn;
          faults.failNext(n, status, o);
        }
        const tf = b.throttleFor as { ms: number; retryAfterSeconds: number } | undefined;
        if (tf) faults.throttleFor(tf.ms, tf.retryAfterSeconds);
        if (typeof b.dropNext === 'number') faults.dropNext(b.dropNext);
        const dn = b.delayNext as { n: number; ms: number } | undefined;
        if (dn) faults.delayNext(dn.n, dn.ms);
        if (b.clear) faults.clear();
        return json(204, undefined);
      }
      case 'DELETE faults':
        faults.clear();
        return json(204, undefined);
      case 'POST revoke-tokens':
        authority.revokeAll();
        return json(204, undefined);
      default:
        return json(404, { error: { code: '0x80060888', message: `Unknown emulator control endpoint ${req.method} ${url.pathname}` } });
    }
  }

  async function dispatch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    const url = new URL(req.url ?? '/', origin);
    const body = await readBody(req);
    const headers: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(req.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    let caller = 'anonymous';
    let answer: Answer | 'drop';
    let journaled = true;
    const p = url.pathname;
    if (p.startsWith('/_emulator/')) {
      journaled = false;
      answer = await control(req, url, body);
    } else if (apiPrefix.test(p)) {
      const claims = authority.verify(headers.authorization);
      if (!claims) {
        answer = { status: 401, headers: { 'WWW-Authenticate': authority.wwwAuthenticate() }, body: '' };
      } else {
        caller = claims.appid;
        usage.requests++;
        usage.operations++;
        usage.byCaller[caller] = (usage.byCaller[caller] ?? 0) + 1;
        answer = await webApi(req, url, body, caller, headers);
      }
    } else if (p === `/${tenantId}/v2.0/.well-known/openid-configuration` || p === `/${tenantId}/.well-known/openid-configuration`) {
      answer = json(200, authority.openIdConfiguration());
      journaled = false;
    } else if (p === '/common/discovery/instance' || p === `/${tenantId}/discovery/instance`) {
      answer = json(200, authority.instanceDiscovery());
      journaled = false;
    } else if (p === `/${tenantId}/discovery/v2.0/keys`) {
      answer = json(200, { keys: [] });
      journaled = false;
    } else if (req.method === 'POST' && p === `/${tenantId}/oauth2/v2.0/token`) {
      const form = new URLSearchParams(body);
      const r = authority.token(form, headers.authorization);
      caller = form.get('client_id') ?? 'anonymous';
      answer = json(r.status, r.body, { 'Cache-Control': 'no-store, no-cache', Pragma: 'no-cache' });
    } else {
      answer = json(404, { error: { code: '0x80060888', message: `Resource not found for the segment '${p}'.` } });
    }
    if (answer === 'drop') {
      record({ at, method: req.method ?? '', path: p + url.search, status: 0, caller, durationMs: Date.now() - at, headers: {} });
      req.socket.destroy();
      return;
    }
    const out: Record<string, string> = { ...answer.headers };
    if (apiPrefix.test(p)) {
      out['x-ms-dop-hint'] = String(limits.dopHint);
      out['REQ_ID'] = randomUUID();
      if (caller !== 'anonymous') {
        const rem = protection.remaining(caller);
        out['x-ms-ratelimit-burst-remaining-xrm-requests'] = String(rem.requests);
        out['x-ms-ratelimit-time-remaining-xrm-requests'] = String(rem.timeMs);
      }
    }
    res.writeHead(answer.status, { ...out, 'Content-Length': String(Buffer.byteLength(answer.body)) });
    res.end(answer.body);
    if (journaled) {
      const jh: Record<string, string> = {};
      for (const h of JOURNAL_HEADERS) if (headers[h] !== undefined) jh[h] = headers[h]!;
      const ra = answer.headers['Retry-After'];
      const entry: JournalEntry = { at, method: req.method ?? '', path: p + url.search, status: answer.status, caller, durationMs: Date.now() - at, headers: jh };
      if (ra !== undefined) entry.retryAfterSeconds = Number(ra);
      if (answer.operations !== undefined) entry.operations = answer.operations;
      if (answer.operationStatuses) entry.operationStatuses = answer.operationStatuses;
      if (answer.errorCode) entry.errorCode = answer.errorCode;
      record(entry);
    }
  }

  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    dispatch(req, res).catch((e: unknown) => {
      if (!res.headersSent) {
        const body = JSON.stringify({ error: { code: '0x80040216', message: `Emulator failure: ${(e as Error).message}` } });
        res.writeHead(500, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) });
        res.end(body);
      } else res.destroy();
    });
  });

  return {
    url: origin,
    authorityHost: origin,
    tenantId, clientId, clientSecret,
    caCertPath: CA_CERT_PATH,
    seed,
    rows: (t) => engine.rows(t),
    reset,
    journal: () => journal.slice(),
    faults,
    revokeTokens: () => authority.revokeAll(),
    usage: () => ({ ...usage, byCaller: { ...usage.byCaller } }),
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
