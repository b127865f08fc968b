/**
 * A tiny local Dataverse stand-in for the client's unit tests (node:http): parses `$batch`
 * requests into their parts and lets each test decide every part's answer. Not the emulator —
 * only enough wire format to exercise the client's behaviour.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { boundaryOf, splitHeaders, splitMultipart } from '../../service/dataverse/batch.js';

export interface StubPartRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Record<string, unknown> | undefined;
}

export interface StubRequest {
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  arrivedAt: number;
  /** For $batch: its parts. */
  parts?: StubPartRequest[];
}

export interface StubPartResponse {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface StubAnswer {
  status: number;
  headers?: Record<string, string>;
  /** For $batch: one response per part (continue-on-error). */
  parts?: StubPartResponse[];
  body?: unknown;
  /** Destroy the socket instead of answering (network error). */
  destroy?: boolean;
  /** Answer after this many ms. */
  delayMs?: number;
}

export type StubHandler = (req: StubRequest) => StubAnswer | Promise<StubAnswer>;

export function parseBatchRequest(contentType: string, body: string): StubPartRequest[] {
  return splitMultipart(body, boundaryOf(contentType)).map((raw) => {
    const { body: http } = splitHeaders(raw);
    const lineEnd = http.indexOf('\r\n');
    const [method = '', path = ''] = http.slice(0, lineEnd).split(' ');
    const { headers, body: json } = splitHeaders(http.slice(lineEnd + 2));
    return { method, path, headers, body: json.trim() ? (JSON.parse(json) as Record<string, unknown>) : undefined };
  });
}

export function batchResponseBody(boundary: string, parts: StubPartResponse[]): string {
  const lines: string[] = [];
  for (const part of parts) {
    lines.push(`--${boundary}`, 'Content-Type: application/http', 'Content-Transfer-Encoding: binary', '');
    lines.push(`HTTP/1.1 ${part.status} X`);
    const headers = { 'OData-Version': '4.0', ...(part.body !== undefined ? { 'Content-Type': 'application/json; odata.metadata=minimal' } : {}), ...(part.headers ?? {}) };
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    lines.push('', part.body !== undefined ? JSON.stringify(part.body) : '');
  }
  lines.push(`--${boundary}--`, '');
  return lines.join('\r\n');
}

export const odataError = (code: string, message = 'error') => ({ error: { code, message } });

export class DataverseStub {
  readonly requests: StubRequest[] = [];
  inFlight = 0;
  maxInFlight = 0;
  private server: Server;
  url = '';

  constructor(public handler: StubHandler) {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  get batches(): StubRequest[] {
    return this.requests.filter((r) => r.parts);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body = Buffer.concat(chunks).toString('utf8');
      const request: StubRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body, arrivedAt: Date.now() };
      const contentType = String(req.headers['content-type'] ?? '');
      if (req.url?.endsWith('/$batch')) request.parts = parseBatchRequest(contentType, body);
      this.requests.push(request);
      const answer = await this.handler(request);
      if (answer.delayMs) await new Promise((r) => setTimeout(r, answer.delayMs));
      if (answer.destroy) {
        req.socket.destroy();
        return;
      }
      if (answer.parts) {
        const boundary = `batchresponse_${this.requests.length}`;
        res.writeHead(answer.status, { 'Content-Type': `multipart/mixed; boundary=${boundary}`, 'OData-Version': '4.0', ...(answer.headers ?? {}) });
        res.end(batchResponseBody(boundary, answer.parts));
        return;
      }
      res.writeHead(answer.status, { 'Content-Type': 'application/json; odata.metadata=minimal', ...(answer.headers ?? {}) });
      res.end(answer.body !== undefined ? JSON.stringify(answer.body) : '');
    } finally {
      this.inFlight -= 1;
    }
  }
}

/** A stand-in Dataverse table store answering creates/updates like Dataverse does. */
export class RowStore {
  readonly rows = new Map<string, Record<string, unknown>>();

  answer(part: StubPartRequest): StubPartResponse {
    const m = /\/api\/data\/v9\.2\/([a-z_]+)(?:\(([0-9a-f-]{36})\))?$/.exec(part.path);
    if (!m) return { status: 400, body: odataError('0x80040203', `bad path ${part.path}`) };
    const [, set, idInPath] = m;
    if (part.body && 'bad_column' in part.body) return { status: 400, body: odataError('0x80040203', "Invalid property 'bad_column'") };
    if (part.method === 'POST') {
      const id = Object.entries(part.body ?? {}).find(([k]) => k.endsWith('id') && !k.includes('@'))?.[1] as string;
      const key = `${set}(${id})`;
      if (this.rows.has(key)) return { status: 412, body: odataError('0x80040237', 'A record with matching key values already exists.') };
      this.rows.set(key, { ...part.body });
      return { status: 204, headers: { 'OData-EntityId': `https://org/api/data/v9.2/${key}` } };
    }
    const key = `${set}(${idInPath})`;
    const existing = this.rows.get(key);
    if (part.method === 'PATCH' && part.headers['if-match'] && !existing) {
      return { status: 404, body: odataError('0x80040217', `${set} With Id = ${idInPath} Does Not Exist`) };
    }
    this.rows.set(key, { ...(existing ?? {}), ...part.body });
    return { status: 204 };
  }
}
