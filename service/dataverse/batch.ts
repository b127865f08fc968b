/**
 * OData `$batch` wire format for the Dataverse Web API (pure functions, no I/O).
 *
 * Request: every op is its own top-level part (no change set) and the batch is sent with
 * `Prefer: odata.continue-on-error`, so Dataverse runs every op, in order, each in its own
 * transaction, and answers 200 with one response part per op. A change set would make one bad op
 * roll back its neighbours, which is exactly what the DataverseClient contract forbids.
 *
 * Response: multipart/mixed, CRLF or LF, boundary quoted or not, change sets nested one level.
 * No maintained npm package parses multipart/mixed *HTTP response* parts (the form-data parsers
 * — busboy, @remix-run/multipart-parser — expect multipart/form-data and file streams), so this
 * is a small parser with table-driven tests (tests/unit/dataverse-batch.test.ts).
 */

export interface BatchPartRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  /** Absolute path including the API prefix, e.g. `/api/data/v9.2/contacts(…)`. */
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface BatchRequest {
  contentType: string;
  body: string;
}

export interface HttpPart {
  status: number;
  statusText: string;
  /** Header names lower-cased. */
  headers: Record<string, string>;
  body: string;
  contentId?: string;
}

export function buildBatchRequest(parts: readonly BatchPartRequest[], batchId: string): BatchRequest {
  const boundary = `batch_${batchId}`;
  const lines: string[] = [];
  for (const part of parts) {
    lines.push(`--${boundary}`, 'Content-Type: application/http', 'Content-Transfer-Encoding: binary', '');
    lines.push(`${part.method} ${part.path} HTTP/1.1`);
    const headers: Record<string, string> = { ...(part.headers ?? {}) };
    let body = '';
    if (part.body !== undefined) {
      headers['Content-Type'] = 'application/json; type=entry';
      body = JSON.stringify(part.body);
    }
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    lines.push('', body);
  }
  lines.push(`--${boundary}--`, '');
  return { contentType: `multipart/mixed; boundary=${boundary}`, body: lines.join('\r\n') };
}

/** Reads the boundary parameter of a multipart Content-Type (quoted or bare). */
export function boundaryOf(contentType: string): string {
  const match = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const boundary = match?.[1] ?? match?.[2];
  if (!boundary) throw new Error(`not a multipart content type: ${contentType}`);
  return boundary;
}

/** Splits a multipart body into the raw text of its parts (between the delimiters). */
export function splitMultipart(body: string, boundary: string): string[] {
  const delimiter = `--${boundary}`;
  const parts: string[] = [];
  // The first delimiter may start the body; every later one must start a line.
  let at = body.startsWith(delimiter) ? 0 : body.indexOf(`\n${delimiter}`) + 1;
  if (at <= 0 && !body.startsWith(delimiter)) throw new Error(`multipart body has no boundary ${boundary}`);
  for (;;) {
    const afterDelimiter = at + delimiter.length;
    if (body.startsWith('--', afterDelimiter)) return parts; // close delimiter
    const lineEnd = body.indexOf('\n', afterDelimiter);
    if (lineEnd < 0) throw new Error('multipart body ends inside a delimiter line');
    const next = body.indexOf(`\n${delimiter}`, lineEnd);
    if (next < 0) throw new Error('multipart body has no close delimiter');
    parts.push(stripTrailingNewline(body.slice(lineEnd + 1, next + 1)));
    at = next + 1;
  }
}

function stripTrailingNewline(text: string): string {
  if (text.endsWith('\r\n')) return text.slice(0, -2);
  if (text.endsWith('\n')) return text.slice(0, -1);
  return text;
}

/** Splits "headers, blank line, body"; header names lower-cased. */
export function splitHeaders(text: string): { headers: Record<string, string>; body: string; firstLine?: string } {
  const match = /\r?\n\r?\n/.exec(text);
  const head = match ? text.slice(0, match.index) : text;
  const body = match ? text.slice(match.index + match[0].length) : '';
  const headers: Record<string, string> = {};
  for (const line of head.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { headers, body };
}

function parseHttpResponse(text: string, contentId: string | undefined): HttpPart {
  const lineEnd = text.search(/\r?\n/);
  const statusLine = lineEnd < 0 ? text : text.slice(0, lineEnd);
  const match = /^HTTP\/\d(?:\.\d)?\s+(\d{3})\s*(.*)$/.exec(statusLine.trim());
  if (!match) throw new Error(`batch part has no HTTP status line: ${statusLine.slice(0, 80)}`);
  const rest = lineEnd < 0 ? '' : text.slice(lineEnd).replace(/^\r?\n/, '');
  // No headers: the status line is followed by the blank line (or by nothing at all).
  const { headers, body } = /^\r?\n/.test(rest) || rest.length === 0
    ? { headers: {}, body: rest.replace(/^\r?\n/, '') }
    : splitHeaders(rest);
  const part: HttpPart = { status: Number(match[1]), statusText: match[2] ?? '', headers, body: body.trim() };
  if (contentId !== undefined) part.contentId = contentId;
  return part;
}

/** Parses a `$batch` response into its HTTP parts, in order, change sets flattened. */
export function parseBatchResponse(contentType: string, body: string): HttpPart[] {
  const parts: HttpPart[] = [];
  for (const raw of splitMultipart(body, boundaryOf(contentType))) {
    const { headers, body: inner } = splitHeaders(raw);
    const type = headers['content-type'] ?? '';
    if (/^multipart\/mixed/i.test(type)) {
      parts.push(...parseBatchResponse(type, inner));
    } else {
      parts.push(parseHttpResponse(inner, headers['content-id']));
    }
  }
  return parts;
}
