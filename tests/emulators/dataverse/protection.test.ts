/** Service protection limits, fault injection, the journal, latency and the HTTP control API. */
import { afterEach, describe, expect, it } from 'vitest';
import { Protection, DEFAULT_LIMITS } from './protection.js';
import { demoSeed } from './index.js';
import { startHarness, type Harness } from './helpers.js';

describe('Protection (pure, injected clock)', () => {
  const limits = { ...DEFAULT_LIMITS, requestsPerWindow: 3, windowMs: 10_000, maxConcurrent: 2, executionMsPerWindow: 100 };

  it('counts requests per caller in a sliding window and tells when to retry', () => {
    const p = new Protection(limits);
    for (let t = 0; t < 3; t++) {
      expect(p.admit('a', t * 1000)).toEqual({ ok: true });
      p.release('a', t * 1000, 0);
    }
    const v = p.admit('a', 3000);
    // Rejected requests count too: two entries must leave the window before one more fits (t = 11 s).
    expect(v).toMatchObject({ ok: false, code: '0x80072322', retryAfterSeconds: 8, message: 'Number of requests exceeded the limit of 3 over time window of 10 seconds.' });
    expect(p.admit('b', 3000)).toEqual({ ok: true }); // another caller has its own budget
    expect(p.admit('a', 10_500).ok).toBe(false); // one entry left the window, the rejected one still counts
    expect(p.admit('a', 12_001).ok).toBe(true);
  });

  it('grows Retry-After while a throttled caller keeps sending', () => {
    const p = new Protection(limits);
    for (let t = 0; t < 3; t++) { p.admit('a', t * 1000); p.release('a', t * 1000, 0); }
    const waits: number[] = [];
    for (let t = 3000; t <= 3300; t += 100) {
      const v = p.admit('a', t);
      if (!v.ok) waits.push(v.retryAfterSeconds);
    }
    expect(waits.length).toBe(4);
    expect(waits[3]!).toBeGreaterThan(waits[0]!);
  });

  it('limits combined execution time', () => {
    const p = new Protection({ ...limits, requestsPerWindow: 100 });
    p.admit('a', 0); p.release('a', 0, 60);
    p.admit('a', 1000); p.release('a', 1000, 60);
    expect(p.admit('a', 2000)).toMatchObject({ ok: false, code: '0x80072321', retryAfterSeconds: 8 });
    expect(p.remaining('a').timeMs).toBe(0);
  });

  it('limits concurrency immediately', () => {
    const p = new Protection(limits);
    expect(p.admit('a', 0).ok).toBe(true);
    expect(p.admit('a', 0).ok).toBe(true);
    expect(p.admit('a', 0)).toMatchObject({ ok: false, code: '0x80072326', message: 'Number of concurrent requests exceeded the limit of 2.' });
    p.release('a', 1, 0);
    expect(p.admit('a', 1).ok).toBe(true);
  });
});

describe('over HTTP', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.emu.close();
    h = undefined;
  });

  it('429 with Retry-After when the request count is exceeded; headers carry x-ms-dop-hint and remaining budget', async () => {
    h = await startHarness({ limits: { requestsPerWindow: 3, windowMs: 60_000, dopHint: 7 } });
    const statuses: number[] = [];
    let last;
    for (let i = 0; i < 4; i++) {
      last = await h.api('GET', 'WhoAmI');
      statuses.push(last.status);
      if (i === 0) {
        expect(last.headers.get('x-ms-dop-hint')).toBe('7');
        expect(last.headers.get('x-ms-ratelimit-burst-remaining-xrm-requests')).toBe('2');
      }
    }
    expect(statuses).toEqual([200, 200, 200, 429]);
    expect(last!.json.error.code).toBe('0x80072322');
    expect(Number(last!.headers.get('retry-after'))).toBeGreaterThanOrEqual(59);
    const j = h.emu.journal().at(-1)!;
    expect(j).toMatchObject({ status: 429, caller: h.emu.clientId, errorCode: '0x80072322' });
    expect(j.retryAfterSeconds).toBe(Number(last!.headers.get('retry-after')));
  });

  it('limits each caller (app registration) separately', async () => {
    const second = { clientId: '0a0b0c0d-1111-4222-8333-944445555666', clientSecret: 'second-secret' };
    h = await startHarness({ limits: { requestsPerWindow: 1 }, extraClients: [second] });
    expect((await h.api('GET', 'WhoAmI')).status).toBe(200);
    expect((await h.api('GET', 'WhoAmI')).status).toBe(429);
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: second.clientId, client_secret: second.clientSecret, scope: `${h.emu.url}/.default` });
    const tok = (await (await fetch(`${h.emu.authorityHost}/${h.emu.tenantId}/oauth2/v2.0/token`, { method: 'POST', body: form })).json()) as { access_token: string };
    const other = await fetch(`${h.emu.url}/api/data/v9.2/WhoAmI`, { headers: { Authorization: `Bearer ${tok.access_token}` } });
    expect(other.status).toBe(200);
    expect(h.emu.journal().at(-1)!.caller).toBe(second.clientId);
  });

  it('429 0x80072326 beyond the concurrency limit (latency keeps requests in flight)', async () => {
    h = await startHarness({ latencyMs: 300, limits: { maxConcurrent: 2 } });
    await h.token();
    const results = await Promise.all(Array.from({ length: 4 }, () => h!.api('GET', 'WhoAmI')));
    const codes = results.map((r) => r.status).sort();
    expect(codes).toEqual([200, 200, 429, 429]);
    expect(results.find((r) => r.status === 429)!.json.error.code).toBe('0x80072326');
  });

  it('429 0x80072321 when modelled write cost exhausts the execution-time budget', async () => {
    h = await startHarness({ operationCostMs: 100, limits: { executionMsPerWindow: 250 } });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await h.api('POST', 'contacts', { body: { lastname: `c${i}` } })).status);
    expect(statuses).toEqual([204, 204, 204, 429]);
    expect(h.emu.journal().at(-1)!.errorCode).toBe('0x80072321');
  });

  it('scripted faults: failNext, throttleFor, dropNext, clear', async () => {
    h = await startHarness();
    h.emu.faults.failNext(2, 503);
    h.emu.faults.failNext(1, 429, { retryAfterSeconds: 9 });
    expect((await h.api('GET', 'WhoAmI')).status).toBe(503);
    expect((await h.api('GET', 'WhoAmI')).status).toBe(503);
    const t = await h.api('GET', 'WhoAmI');
    expect(t.status).toBe(429);
    expect(t.headers.get('retry-after')).toBe('9');
    expect((await h.api('GET', 'WhoAmI')).status).toBe(200);
    h.emu.faults.throttleFor(60_000, 4);
    const storm = await h.api('GET', 'contacts');
    expect(storm.status).toBe(429);
    expect(storm.headers.get('retry-after')).toBe('4');
    h.emu.faults.clear();
    expect((await h.api('GET', 'contacts')).status).toBe(200);
    h.emu.faults.dropNext(1);
    await expect(h.api('GET', 'contacts')).rejects.toThrow();
    expect((await h.api('GET', 'contacts')).status).toBe(200);
    const statuses = h.emu.journal().filter((e) => e.path.startsWith('/api/')).map((e) => e.status);
    expect(statuses).toEqual([503, 503, 429, 200, 429, 200, 0, 200]);
  });

  it('operation faults with `match` hit single requests and operations inside a $batch; usage counts operations', async () => {
    h = await startHarness();
    h.emu.faults.failNext(1, 412, { match: '/crs_newsletters', code: '0x80040237' });
    expect((await h.api('GET', 'contacts')).status).toBe(200); // not matched: untouched
    const b = 'batch_f';
    const part = (url: string): string => `--${b}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nGET ${url} HTTP/1.1\r\n\r\n`;
    const body = `${part('/api/data/v9.2/contacts')}${part('/api/data/v9.2/crs_newsletters')}--${b}--\r\n`;
    const r = await h.api('POST', '$batch', { raw: body, headers: { 'Content-Type': `multipart/mixed; boundary=${b}`, Prefer: 'odata.continue-on-error' } });
    expect(r.status).toBe(200);
    expect([...r.text.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1])).toEqual(['200', '412']);
    expect(h.emu.usage()).toMatchObject({ requests: 2, operations: 3 });
  });

  it('delayNext slows the next answers', async () => {
    h = await startHarness();
    h.emu.faults.delayNext(1, 150);
    await h.api('GET', 'WhoAmI');
    await h.api('GET', 'WhoAmI');
    const [slow, fast] = h.emu.journal().filter((e) => e.path.startsWith('/api/'));
    expect(slow!.durationMs).toBeGreaterThanOrEqual(150);
    expect(fast!.durationMs).toBeLessThan(150);
  });

  it('journals time, method, path, status, caller and selected headers (never Authorization)', async () => {
    h = await startHarness();
    const before = Date.now();
    await h.api('POST', 'contacts', { body: { lastname: 'J' }, headers: { Prefer: 'return=representation', 'If-None-Match': 'null' } });
    const e = h.emu.journal().find((x) => x.method === 'POST' && x.path === '/api/data/v9.2/contacts')!;
    expect(e.at).toBeGreaterThanOrEqual(before - 5);
    expect(e).toMatchObject({ status: 201, caller: h.emu.clientId, headers: { prefer: 'return=representation', 'if-none-match': 'null' } });
    expect(e.durationMs).toBeGreaterThanOrEqual(0);
    expect(JSON.stringify(h.emu.journal())).not.toMatch(/Bearer|authorization/i);
    expect(h.emu.journal().some((x) => x.path.includes('/oauth2/v2.0/token') && x.status === 200)).toBe(true);
  });

  it('HTTP control API: info, seed, dump, faults, journal, reset', async () => {
    h = await startHarness();
    const base = `${h.emu.url}/_emulator`;
    const info = (await (await fetch(`${base}/info`)).json()) as { tenantId: string };
    expect(info.tenantId).toBe(h.emu.tenantId);
    const seed = demoSeed();
    expect((await fetch(`${base}/seed`, { method: 'POST', body: JSON.stringify({ contact: seed.contact }) })).status).toBe(204);
    const dump = (await (await fetch(`${base}/dump/contact`)).json()) as unknown[];
    expect(dump).toHaveLength(3);
    const all = (await (await fetch(`${base}/dump`)).json()) as Record<string, unknown[]>;
    expect(all.contact).toHaveLength(3);
    await fetch(`${base}/faults`, { method: 'POST', body: JSON.stringify({ failNext: { n: 1, status: 500 } }) });
    expect((await h.api('GET', 'contacts')).status).toBe(500);
    const journal = (await (await fetch(`${base}/journal`)).json()) as { status: number }[];
    expect(journal.map((x) => x.status)).toContain(500);
    expect((await fetch(`${base}/reset`, { method: 'POST' })).status).toBe(204);
    expect(h.emu.rows('contact')).toHaveLength(0);
    expect(h.emu.journal()).toHaveLength(0);
  });
});
