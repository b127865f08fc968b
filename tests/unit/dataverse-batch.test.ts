import { describe, expect, it } from 'vitest';
import { boundaryOf, buildBatchRequest, parseBatchResponse, splitHeaders, splitMultipart } from '../../service/dataverse/batch.js';

const CRLF = '\r\n';

/** A Dataverse-shaped batch response (continue-on-error: one part per request). */
function responseText(eol: string, boundary: string, parts: string[]): string {
  return parts.map((p) => `--${boundary}${eol}${p}${eol}`).join('') + `--${boundary}--${eol}`;
}

const created = [
  'Content-Type: application/http',
  'Content-Transfer-Encoding: binary',
  '',
  'HTTP/1.1 204 No Content',
  'OData-Version: 4.0',
  'Location: https://org.crm.dynamics.com/api/data/v9.2/tasks(11111111-1111-1111-1111-111111111111)',
  'OData-EntityId: https://org.crm.dynamics.com/api/data/v9.2/tasks(11111111-1111-1111-1111-111111111111)',
  '',
  '',
];
const failed = [
  'Content-Type: application/http',
  'Content-Transfer-Encoding: binary',
  '',
  'HTTP/1.1 412 Precondition Failed',
  'REQ_ID: 5e7b1b0a-0000-0000-0000-000000000000',
  'Content-Type: application/json; odata.metadata=minimal',
  'OData-Version: 4.0',
  '',
  '{"error":{"code":"0x80040237","message":"A record with matching key values already exists."}}',
];

describe('buildBatchRequest', () => {
  it('writes one top-level application/http part per request with CRLF and a close delimiter', () => {
    const { contentType, body } = buildBatchRequest(
      [
        { method: 'POST', path: '/api/data/v9.2/tasks', body: { subject: 'a\r\n--batch_x' } },
        { method: 'PATCH', path: '/api/data/v9.2/tasks(1)', headers: { 'If-Match': '*' }, body: { subject: 'b' } },
      ],
      'abc',
    );
    expect(contentType).toBe('multipart/mixed; boundary=batch_abc');
    const parts = splitMultipart(body, 'batch_abc');
    expect(parts).toHaveLength(2);
    expect(parts[0]).toContain('Content-Type: application/http');
    expect(parts[0]).toContain('POST /api/data/v9.2/tasks HTTP/1.1');
    // JSON.stringify escapes the CRLF, so a body can never contain a delimiter line.
    expect(parts[0]).toContain('{"subject":"a\\r\\n--batch_x"}');
    expect(parts[1]).toContain('If-Match: *');
    expect(parts[1]).toContain('Content-Type: application/json; type=entry');
    expect(body.endsWith(`--batch_abc--${CRLF}`)).toBe(true);
    expect(body.split('\n').every((line, i, all) => i === all.length - 1 || line.endsWith('\r'))).toBe(true);
  });
});

describe('boundaryOf', () => {
  it.each([
    ['multipart/mixed; boundary=batchresponse_1', 'batchresponse_1'],
    ['multipart/mixed; boundary="batchresponse_2"', 'batchresponse_2'],
    ['multipart/mixed;boundary=b3; charset=utf-8', 'b3'],
    ['Multipart/Mixed; BOUNDARY=b4', 'b4'],
  ])('%s → %s', (contentType, expected) => {
    expect(boundaryOf(contentType)).toBe(expected);
  });
  it('rejects a content type without boundary', () => {
    expect(() => boundaryOf('application/json')).toThrow(/not a multipart/);
  });
});

describe('parseBatchResponse', () => {
  it.each([
    ['CRLF', CRLF],
    ['LF', '\n'],
  ])('parses statuses, headers and bodies in order (%s)', (_name, eol) => {
    const text = responseText(eol, 'batchresponse_x', [created.join(eol), failed.join(eol)]);
    const parts = parseBatchResponse('multipart/mixed; boundary=batchresponse_x', text);
    expect(parts.map((p) => p.status)).toEqual([204, 412]);
    expect(parts[0]!.headers['odata-entityid']).toMatch(/tasks\(11111111/);
    expect(parts[0]!.body).toBe('');
    expect(parts[1]!.statusText).toBe('Precondition Failed');
    expect(JSON.parse(parts[1]!.body)).toEqual({ error: { code: '0x80040237', message: 'A record with matching key values already exists.' } });
  });

  it('flattens change sets and keeps Content-ID', () => {
    const changeset = [
      'Content-Type: multipart/mixed; boundary=changesetresponse_y',
      '',
      `--changesetresponse_y`,
      'Content-Type: application/http',
      'Content-Transfer-Encoding: binary',
      'Content-ID: 1',
      '',
      'HTTP/1.1 204 No Content',
      'OData-Version: 4.0',
      '',
      '',
      `--changesetresponse_y`,
      'Content-Type: application/http',
      'Content-Transfer-Encoding: binary',
      'Content-ID: 2',
      '',
      'HTTP/1.1 200 OK',
      'Content-Type: application/json',
      '',
      '{"@odata.etag":"W/\\"42\\"","value":1}',
      `--changesetresponse_y--`,
    ].join(CRLF);
    const text = responseText(CRLF, 'batchresponse_z', [changeset, created.join(CRLF)]);
    const parts = parseBatchResponse('multipart/mixed; boundary="batchresponse_z"', text);
    expect(parts.map((p) => [p.status, p.contentId])).toEqual([[204, '1'], [200, '2'], [204, undefined]]);
    expect(JSON.parse(parts[1]!.body)['@odata.etag']).toBe('W/"42"');
  });

  it('accepts a part with a status line only, and a preamble before the first delimiter', () => {
    const text = `preamble${CRLF}--b${CRLF}Content-Type: application/http${CRLF}${CRLF}HTTP/1.1 204 No Content${CRLF}--b--`;
    expect(parseBatchResponse('multipart/mixed; boundary=b', text).map((p) => p.status)).toEqual([204]);
  });

  it('accepts a part with a body but no headers', () => {
    const text = `--b${CRLF}Content-Type: application/http${CRLF}${CRLF}HTTP/1.1 400 Bad Request${CRLF}${CRLF}{"error":{"code":"0x80040203","message":"x"}}${CRLF}--b--`;
    const [part] = parseBatchResponse('multipart/mixed; boundary=b', text);
    expect(part!.status).toBe(400);
    expect(part!.headers).toEqual({});
    expect(JSON.parse(part!.body).error.code).toBe('0x80040203');
  });

  it.each([
    ['no boundary at all', 'HTTP/1.1 200 OK'],
    ['no close delimiter', `--b${CRLF}Content-Type: application/http${CRLF}${CRLF}HTTP/1.1 204 No Content${CRLF}`],
    ['a part without a status line', `--b${CRLF}Content-Type: application/http${CRLF}${CRLF}garbage${CRLF}--b--`],
  ])('throws a clear error on %s', (_name, text) => {
    expect(() => parseBatchResponse('multipart/mixed; boundary=b', text)).toThrow(/boundary|delimiter|status line/);
  });

  it('round-trips through its own request builder (parts are split the same way the emulator reads them)', () => {
    const { body } = buildBatchRequest([{ method: 'GET', path: '/api/data/v9.2/WhoAmI' }], 'q');
    const [part] = splitMultipart(body, 'batch_q');
    const { headers, body: inner } = splitHeaders(part!);
    expect(headers['content-type']).toBe('application/http');
    expect(inner.startsWith('GET /api/data/v9.2/WhoAmI HTTP/1.1')).toBe(true);
  });
});
