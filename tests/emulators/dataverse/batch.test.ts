/** $batch on the wire: multipart parsing, change sets, Content-ID, continue-on-error, limits. */
import { describe, expect, it } from 'vitest';
import { DEMO_IDS } from './demo-seed.js';
import { useDemoHarness } from './helpers.js';

const h = useDemoHarness();

interface Op { method: string; url: string; body?: unknown; contentId?: string; headers?: Record<string, string> }

function httpPart(op: Op, eol: string): string {
  const lines = ['Content-Type: application/http', 'Content-Transfer-Encoding: binary'];
  if (op.contentId) lines.push(`Content-ID: ${op.contentId}`);
  lines.push('', `${op.method} ${op.url} HTTP/1.1`);
  if (op.body !== undefined) lines.push('Content-Type: application/json; type=entry');
  for (const [k, v] of Object.entries(op.headers ?? {})) lines.push(`${k}: ${v}`);
  lines.push('', op.body !== undefined ? JSON.stringify(op.body) : '');
  return lines.join(eol);
}

/** Builds a batch body; an array item is a change set. */
function batchBody(items: (Op | Op[])[], eol = '\r\n'): { body: string; contentType: string } {
  const b = 'batch_7a9b';
  const parts: string[] = [];
  items.forEach((it, i) => {
    if (Array.isArray(it)) {
      const cs = `changeset_${i}`;
      const inner = it.map((op) => `--${cs}${eol}${httpPart(op, eol)}`).join(eol);
      parts.push(`--${b}${eol}Content-Type: multipart/mixed; boundary=${cs}${eol}${eol}${inner}${eol}--${cs}--`);
    } else parts.push(`--${b}${eol}${httpPart(it, eol)}`);
  });
  return { body: `${parts.join(eol)}${eol}--${b}--${eol}`, contentType: `multipart/mixed; boundary="${b}"` };
}

async function sendBatch(items: (Op | Op[])[], opts: { eol?: string; prefer?: string } = {}): Promise<{ status: number; text: string; contentType: string }> {
  const { body, contentType } = batchBody(items, opts.eol);
  const r = await h.api('POST', '$batch', { raw: body, headers: { 'Content-Type': contentType, ...(opts.prefer ? { Prefer: opts.prefer } : {}) } });
  return { status: r.status, text: r.text, contentType: r.headers.get('content-type') ?? '' };
}

const API = '/api/data/v9.2/';

describe('$batch', () => {
  it('runs GETs and a change set; answers with batchresponse/changesetresponse parts, Location and Content-ID', async () => {
    const r = await sendBatch([
      { method: 'GET', url: `${API}contacts?$select=fullname&$top=1` },
      [
        { method: 'POST', url: `${API}campaigns`, body: { name: 'CS campaign' }, contentId: '1' },
        { method: 'POST', url: `${API}crs_campaignmailings`, body: { crs_name: 'CS mailing', crs_mailingid: '5005', 'crs_campaignid@odata.bind': '$1', 'crs_campaignclientid@odata.bind': `/crs_campaignclients(${DEMO_IDS.client1234})` }, contentId: '2' },
        { method: 'PATCH', url: '$1', body: { codename: 'CS1' }, contentId: '3' },
      ],
    ]);
    expect(r.status).toBe(200);
    expect(r.contentType).toMatch(/^multipart\/mixed; boundary=batchresponse_[0-9a-f-]{36}$/);
    expect(r.text).toMatch(/--changesetresponse_[0-9a-f-]{36}/);
    expect(r.text).toContain('HTTP/1.1 200 OK');
    expect(r.text.match(/HTTP\/1\.1 204 No Content/g)).toHaveLength(3);
    expect(r.text).toMatch(/Location: https:\/\/127\.0\.0\.1:\d+\/api\/data\/v9\.2\/campaigns\([0-9a-f-]{36}\)/);
    expect(r.text).toContain('Content-ID: 2');
    const campaign = h.emu.rows('campaign').find((c) => c.name === 'CS campaign')!;
    expect(campaign.codename).toBe('CS1');
    expect(h.emu.rows('crs_campaignmailing').find((m) => m.crs_mailingid === '5005')?._crs_campaignid_value).toBe(campaign.campaignid);
  });

  it('tolerates LF line endings and absolute inner URLs', async () => {
    const r = await sendBatch([{ method: 'POST', url: `${h.emu.url}${API}contacts`, body: { lastname: 'LF' } }], { eol: '\n' });
    expect(r.status).toBe(200);
    expect(h.emu.rows('contact').some((c) => c.lastname === 'LF')).toBe(true);
  });

  it('rolls a failing change set back and, without continue-on-error, returns only the failing part with its status', async () => {
    const r = await sendBatch([
      { method: 'POST', url: `${API}contacts`, body: { lastname: 'Before' } },
      [
        { method: 'POST', url: `${API}campaigns`, body: { name: 'Atomic' } },
        { method: 'POST', url: `${API}contacts`, body: { contactid: DEMO_IDS.contactAnna, lastname: 'dup' } },
      ],
      { method: 'POST', url: `${API}contacts`, body: { lastname: 'After' } },
    ]);
    expect(r.status).toBe(412);
    expect(r.text.match(/HTTP\/1\.1 /g)).toHaveLength(1);
    expect(r.text).toContain('HTTP/1.1 412 Precondition Failed');
    expect(r.text).toMatch(/REQ_ID: [0-9a-f-]{36}/);
    expect(r.text).toContain('0x80040237');
    expect(h.emu.rows('campaign').some((c) => c.name === 'Atomic')).toBe(false);
    expect(h.emu.rows('contact').some((c) => c.lastname === 'Before')).toBe(true);
    expect(h.emu.rows('contact').some((c) => c.lastname === 'After')).toBe(false);
  });

  it('with Prefer: odata.continue-on-error answers 200 with every part in order', async () => {
    const r = await sendBatch([
      { method: 'POST', url: `${API}contacts`, body: { lastname: 'x'.repeat(51) } },
      { method: 'POST', url: `${API}contacts`, body: { lastname: 'Fine' } },
    ], { prefer: 'odata.continue-on-error' });
    expect(r.status).toBe(200);
    const statuses = [...r.text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
    expect(statuses).toEqual(['400', '204']);
    expect(h.emu.journal().at(-1)!.operationStatuses).toEqual([400, 204]);
    expect(h.emu.rows('contact').some((c) => c.lastname === 'Fine')).toBe(true);
  });

  it('rejects GET inside a change set and forward Content-ID references', async () => {
    const get = await sendBatch([[{ method: 'GET', url: `${API}contacts` }]]);
    expect(get.status).toBe(400);
    const fwd = await sendBatch([[
      { method: 'POST', url: `${API}crs_newsletters`, body: { crs_name: 'n', 'crs_campaignclientid@odata.bind': '$2' }, contentId: '1' },
      { method: 'POST', url: `${API}crs_campaignclients`, body: { crs_name: 'c', crs_clientid: '42' }, contentId: '2' },
    ]]);
    expect(fwd.status).toBe(400);
    expect(fwd.text).toContain("Content-ID Reference: '$2' does not exist in the batch context.");
  });

  it('rejects more than 1000 operations', async () => {
    const ops = Array.from({ length: 1001 }, () => ({ method: 'GET', url: `${API}WhoAmI` }));
    expect((await sendBatch(ops)).status).toBe(400);
  });

  it('counts a batch as one request in the journal, with its operation count', async () => {
    await sendBatch([{ method: 'GET', url: `${API}WhoAmI` }, { method: 'GET', url: `${API}WhoAmI` }]);
    const entries = h.emu.journal().filter((e) => e.path.includes('$batch'));
    expect(entries).toHaveLength(1);
    expect(entries[0]!.operations).toBe(2);
    expect(entries[0]!.operationStatuses).toEqual([200, 200]);
  });
});
