/**
 * OData $batch (multipart/mixed) as Dataverse implements it (reference dataverse-side.md §2.6):
 * change sets are atomic, GET is not allowed inside one, Content-ID references work within the
 * same change set, at most 1000 operations, and without `Prefer: odata.continue-on-error` the
 * first failure ends the batch and is the only part returned.
 */
import { randomUUID } from 'node:crypto';
import type { CoreRequest, CoreResponse, Engine } from './engine.js';
import { DvError, badRequest } from './errors.js';
import { parsePrefer } from './query.js';

export interface BatchPart {
  contentId?: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

export type BatchItem = { kind: 'op'; part: BatchPart } | { kind: 'changeset'; parts: BatchPart[] };

const MAX_OPS = 1000;

export function boundaryOf(contentType: string | undefined): string | null {
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType ?? '');
  return m ? (m[1] ?? m[2]!) : null;
}

/** Splits a multipart body into its parts (headers + content), tolerating CRLF or LF. */
function splitMultipart(body: string, boundary: string): string[] {
  const lines = body.split(/\r?\n/);
  const parts: string[] = [];
  let cur: string[] | null = null;
  for (const line of lines) {
    const l = line.trimEnd();
    if (l === `--${boundary}--`) {
      if (cur) parts.push(cur.join('\n'));
      return parts;
    }
    if (l === `--${boundary}`) {
      if (cur) parts.push(cur.join('\n'));
      cur = [];
      continue;
    }
    cur?.push(line);
  }
  throw badRequest(`The multipart body is missing its closing boundary '--${boundary}--'.`);
}

function splitHead(text: string): { headers: Record<string, string>; rest: string } {
  const lines = text.split('\n');
  const headers: Record<string, string> = {};
  let i = 0;
  for (; i < lines.length; i++) {
    const l = lines[i]!.replace(/\r$/, '');
    if (l === '') { i++; break; }
    const c = l.indexOf(':');
    if (c > 0) headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
  }
  return { headers, rest: lines.slice(i).join('\n') };
}

function parseHttpPart(text: string, mimeHeaders: Record<string, string>): BatchPart {
  const { rest } = { rest: text };
  const lines = rest.split('\n');
  let i = 0;
  while (i < lines.length && lines[i]!.trim() === '') i++;
  const requestLine = lines[i]?.trim() ?? '';
  const m = /^([A-Z]+)\s+(\S+)(\s+HTTP\/1\.[01])?$/.exec(requestLine);
  if (!m) throw badRequest(`The batch part request line '${requestLine}' is not valid.`);
  const inner = splitHead(lines.slice(i + 1).join('\n'));
  const part: BatchPart = { method: m[1]!, url: m[2]!, headers: inner.headers, body: inner.rest.replace(/\s+$/, '') };
  const cid = mimeHeaders['content-id'] ?? inner.headers['content-id'];
  if (cid) part.contentId = cid;
  return part;
}

export function parseBatch(body: string, contentType: string | undefined): BatchItem[] {
  const boundary = boundaryOf(contentType);
  if (!boundary || !/^multipart\/mixed/i.test(contentType ?? '')) throw badRequest("The batch request must have a 'Content-Type' of 'multipart/mixed' with a boundary.");
  const items: BatchItem[] = [];
  for (const raw of splitMultipart(body, boundary)) {
    const { headers, rest } = splitHead(raw);
    const ct = headers['content-type'] ?? '';
    if (/^multipart\/mixed/i.test(ct)) {
      const csb = boundaryOf(ct);
      if (!csb) throw badRequest('A change set needs a boundary.');
      const parts = splitMultipart(rest, csb).map((p) => {
        const h = splitHead(p);
        return parseHttpPart(h.rest, h.headers);
      });
      items.push({ kind: 'changeset', parts });
    } else if (/^application\/http/i.test(ct)) {
      items.push({ kind: 'op', part: parseHttpPart(rest, headers) });
    } else {
      throw badRequest(`The batch part content type '${ct}' is not supported; use application/http or multipart/mixed.`);
    }
  }
  return items;
}

const STATUS_TEXT: Record<number, string> = {
  200: 'OK', 201: 'Created', 204: 'No Content', 304: 'Not Modified', 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden',
  404: 'Not Found', 405: 'Method Not Allowed', 412: 'Precondition Failed', 413: 'Payload Too Large', 429: 'Too Many Requests',
  500: 'Internal Server Error', 501: 'Not Implemented', 503: 'Service Unavailable',
};

function formatHttp(res: CoreResponse, method: string): string {
  const lines = [`HTTP/1.1 ${res.status} ${STATUS_TEXT[res.status] ?? ''}`.trimEnd()];
  const headers: Record<string, string> = { ...res.headers };
  if (method === 'POST' && res.headers['OData-EntityId']) headers.Location = res.headers['OData-EntityId'];
  if (res.status >= 400) headers.REQ_ID = randomUUID();
  const body = res.body === undefined ? '' : typeof res.body === 'string' ? res.body : JSON.stringify(res.body);
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  return `${lines.join('\r\n')}\r\n\r\n${body}`;
}

function mimePart(http: string, contentId?: string): string {
  return `Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n${contentId ? `Content-ID: ${contentId}\r\n` : ''}\r\n${http}\r\n`;
}

/** Path of an inner request URL below the API root, and its query. */
function innerTarget(url: string): { path: string; query: string } {
  let u = url;
  const api = u.indexOf('/api/data/');
  if (api >= 0) u = u.slice(api).replace(/^\/api\/data\/v9\.\d\//, '');
  const q = u.indexOf('?');
  return q < 0 ? { path: u, query: '' } : { path: u.slice(0, q), query: u.slice(q + 1) };
}

export interface BatchResult {
  status: number;
  headers: Record<string, string>;
  body: string;
  writes: number;
  operations: number;
  /** Status of every operation that ran, in order (rolled-back change-set members keep theirs). */
  statuses: number[];
}

/** `operationFault` may answer an operation instead of the engine (scripted faults inside a batch). */
export function executeBatch(
  engine: Engine, req: { headers: Record<string, string | undefined>; body: string },
  operationFault?: (path: string) => CoreResponse | null,
): BatchResult {
  const items = parseBatch(req.body, req.headers['content-type']);
  const ops = items.reduce((n, it) => n + (it.kind === 'op' ? 1 : it.parts.length), 0);
  if (ops > MAX_OPS) throw badRequest(`The number of operations in the batch (${ops}) exceeds the maximum of ${MAX_OPS}.`);
  const continueOnError = parsePrefer(req.headers['prefer']).has('odata.continue-on-error');
  const boundary = `batchresponse_${randomUUID()}`;
  const out: string[] = [];
  let writes = 0;
  const statuses: number[] = [];
  const run = (p: BatchPart, contentIds: Map<string, string>): CoreResponse => {
    const r = runOne(p, contentIds);
    statuses.push(r.status);
    return r;
  };
  const runOne = (p: BatchPart, contentIds: Map<string, string>): CoreResponse => {
    const { path, query } = innerTarget(p.url);
    const cr: CoreRequest = { method: p.method, path, query, headers: p.headers, body: p.body, contentIds };
    if (path.replace(/^\//, '') === '$batch') return { status: 400, headers: {}, body: new DvError(400, '0x80060888', 'Nested batch requests are not supported.').body(), writes: 0 };
    const injected = operationFault?.(`/${path.replace(/^\//, '')}${query ? `?${query}` : ''}`);
    if (injected) return injected;
    const r = engine.handle(cr);
    writes += r.writes;
    return r;
  };
  const fail = (res: CoreResponse, method: string, contentId?: string): BatchResult => ({
    status: res.status,
    headers: { 'Content-Type': `multipart/mixed; boundary=${boundary}`, 'OData-Version': '4.0' },
    body: `--${boundary}\r\n${mimePart(formatHttp(res, method), contentId)}--${boundary}--\r\n`,
    writes, operations: ops, statuses,
  });

  for (const item of items) {
    if (item.kind === 'op') {
      const res = run(item.part, new Map());
      if (res.status >= 400 && !continueOnError) return fail(res, item.part.method, item.part.contentId);
      out.push(`--${boundary}\r\n${mimePart(formatHttp(res, item.part.method), item.part.contentId)}`);
      continue;
    }
    if (item.parts.some((p) => p.method === 'GET')) {
      const res: CoreResponse = { status: 400, headers: { 'Content-Type': 'application/json; odata.metadata=minimal', 'OData-Version': '4.0' }, body: badRequest('GET requests are not allowed inside a change set.').body(), writes: 0 };
      if (!continueOnError) return fail(res, 'GET');
      out.push(`--${boundary}\r\n${mimePart(formatHttp(res, 'GET'))}`);
      continue;
    }
    const csBoundary = `changesetresponse_${randomUUID()}`;
    const contentIds = new Map<string, string>();
    const tx = engine.store.begin();
    const parts: string[] = [];
    let failed: { res: CoreResponse; part: BatchPart } | null = null;
    const writesBefore = writes;
    for (const p of item.parts) {
      let res: CoreResponse;
      try {
        res = run(p, contentIds);
      } catch (e) {
        tx.rollback();
        throw e;
      }
      if (res.status >= 400) { failed = { res, part: p }; break; }
      if (p.contentId && res.entityPath) contentIds.set(p.contentId, res.entityPath);
      parts.push(`--${csBoundary}\r\n${mimePart(formatHttp(res, p.method), p.contentId)}`);
    }
    if (failed) {
      tx.rollback();
      writes = writesBefore;
      if (!continueOnError) return fail(failed.res, failed.part.method, failed.part.contentId);
      out.push(`--${boundary}\r\n${mimePart(formatHttp(failed.res, failed.part.method), failed.part.contentId)}`);
      continue;
    }
    tx.commit();
    out.push(`--${boundary}\r\nContent-Type: multipart/mixed; boundary=${csBoundary}\r\n\r\n${parts.join('')}--${csBoundary}--\r\n`);
  }
  return {
    status: 200,
    headers: { 'Content-Type': `multipart/mixed; boundary=${boundary}`, 'OData-Version': '4.0', ...(continueOnError ? { 'Preference-Applied': 'odata.continue-on-error' } : {}) },
    body: `${out.join('')}--${boundary}--\r\n`,
    writes, operations: ops, statuses,
  };
}
