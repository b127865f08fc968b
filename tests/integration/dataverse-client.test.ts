/**
 * The Dataverse client against the Dataverse emulator over HTTPS, through the real msal path
 * (createDataverseClient, the emulator as its own authority; NODE_EXTRA_CA_CERTS is set by
 * vitest.config.ts).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../service/config.js';
import { createDataverseClient, DataverseAuthError, type DataverseMetrics } from '../../service/dataverse/index.js';
import type { HttpDataverseClient } from '../../service/dataverse/client.js';
import type { DataverseOp } from '../../service/dataverse/types.js';
import { startDataverseEmulator, type DataverseEmulator } from '../emulators/dataverse/index.js';

const guid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
const clientRow = (n: number, extra: Record<string, unknown> = {}): DataverseOp => ({
  method: 'create', entitySet: 'crs_campaignclients', id: guid(n), body: { crs_name: `Client ${n}`, crs_clientid: String(100000 + n), ...extra },
});

let emulator: DataverseEmulator;
let client: HttpDataverseClient | undefined;
let tmp: string;

function config(emu: DataverseEmulator, extra: Partial<Config['dataverse']> = {}): Pick<Config, 'dataverse'> {
  return {
    dataverse: {
      url: emu.url, tenantId: emu.tenantId, clientId: emu.clientId, clientSecret: emu.clientSecret,
      authorityHost: emu.authorityHost, maxConcurrency: 52, ...extra,
    },
  };
}

function recordingMetrics() {
  const statuses: Array<number | 'network'> = [];
  const waits: number[] = [];
  const metrics: DataverseMetrics = {
    request: (_k, s) => statuses.push(s), throttleWait: (ms) => waits.push(ms), throttled: () => undefined, concurrency: () => undefined,
  };
  return { statuses, waits, metrics };
}

beforeAll(async () => {
  emulator = await startDataverseEmulator();
  tmp = mkdtempSync(join(tmpdir(), 'crs-dvclient-'));
});
afterEach(async () => {
  await client?.close();
  client = undefined;
  emulator.reset();
});
afterAll(async () => {
  await emulator.close();
  rmSync(tmp, { recursive: true, force: true });
});

describe('Dataverse client against the emulator (msal, HTTPS)', () => {
  it('writes a batch with one result per op: created, existed, op errors; rows land', async () => {
    client = createDataverseClient(config(emulator), { backoffMinMs: 10 });
    const first = await client.execute([clientRow(1)]);
    expect(first[0]).toMatchObject({ ok: true, existed: false });

    const ops: DataverseOp[] = [
      clientRow(1), // exists → existed
      clientRow(2),
      clientRow(3, { crs_nosuchcolumn: 'x' }), // the op's fault
      { method: 'update', entitySet: 'crs_campaignclients', id: guid(2), body: { crs_description: 'updated' } },
      { method: 'update', entitySet: 'crs_campaignclients', id: guid(99), body: { crs_description: 'nobody' } }, // missing
      clientRow(4),
    ];
    const results = await client.execute(ops);
    expect(results.map((r) => [r.ok, r.existed ?? null, r.status])).toEqual([
      [true, true, results[0]!.status],
      [true, false, 204],
      [false, null, 400],
      [true, null, 204],
      [false, null, 404],
      [true, false, 204],
    ]);
    expect([400, 412]).toContain(results[0]!.status);
    expect(results[2]!.error!.message).toMatch(/crs_nosuchcolumn/);
    expect(results[4]!.error!.code).toBe('0x80040217');
    const rows = emulator.rows('crs_campaignclient');
    expect(rows.map((r) => r.crs_campaignclientid).sort()).toEqual([guid(1), guid(2), guid(4)]);
    expect(rows.find((r) => r.crs_campaignclientid === guid(2))!.crs_description).toBe('updated');
    const batches = emulator.journal().filter((e) => e.path.endsWith('$batch'));
    expect(batches.every((e) => e.headers.prefer === 'odata.continue-on-error')).toBe(true);
  });

  it('honours Retry-After for the whole client and learns the dop hint', async () => {
    const { waits, metrics } = recordingMetrics();
    client = createDataverseClient(config(emulator), { metrics, minBatchSize: 1, maxBatchSize: 1 });
    // Warm up: open the TLS connections first, so requests already on the wire arrive at once.
    await client.execute(Array.from({ length: 8 }, (_, i) => clientRow(100 + i)));
    emulator.reset();
    emulator.faults.failNext(1, 429, { retryAfterSeconds: 1 });
    const results = await client.execute(Array.from({ length: 8 }, (_, i) => clientRow(i)));
    expect(results.every((r) => r.ok)).toBe(true);
    const journal = emulator.journal().filter((e) => e.path.endsWith('$batch'));
    const throttled = journal.find((e) => e.status === 429)!;
    expect(throttled.retryAfterSeconds).toBe(1);
    // The first wave (as many requests as the concurrency limit, 4 = the emulator's dop hint) was
    // sent before any answer came back; every later request waited out the Retry-After.
    const answeredAt = throttled.at + throttled.durationMs;
    const byArrival = [...journal].sort((a, b) => a.at - b.at);
    expect(byArrival.indexOf(throttled)).toBeLessThan(4);
    const later = byArrival.slice(4);
    expect(later).toHaveLength(5); // 4 remaining ops + the throttled one again
    for (const e of later) expect(e.at).toBeGreaterThanOrEqual(answeredAt + 1000 - 5);
    expect(Math.max(...waits)).toBeGreaterThan(900);
    expect(client.concurrencyCap).toBe(4); // the emulator's default x-ms-dop-hint
  });

  it('backs off on 503 and on dropped connections, then succeeds', async () => {
    const { statuses, metrics } = recordingMetrics();
    client = createDataverseClient(config(emulator), { metrics, backoffMinMs: 10, backoffMaxMs: 50 });
    emulator.faults.failNext(2, 503);
    emulator.faults.dropNext(1);
    const results = await client.execute([clientRow(1), clientRow(2)]);
    expect(results.every((r) => r.ok && r.existed === false)).toBe(true);
    expect(statuses.filter((s) => s === 503)).toHaveLength(2);
    expect(statuses).toContain('network');
  });

  it('gets a new token after the old one is revoked (401 → refresh once)', async () => {
    client = createDataverseClient(config(emulator));
    expect((await client.execute([clientRow(1)]))[0]!.ok).toBe(true);
    emulator.revokeTokens();
    expect((await client.execute([clientRow(2)]))[0]!.ok).toBe(true);
    const journal = emulator.journal();
    expect(journal.filter((e) => e.path.endsWith('$batch')).map((e) => e.status)).toEqual([200, 401, 200]);
    expect(journal.filter((e) => e.path.includes('/oauth2/v2.0/token')).map((e) => e.status)).toEqual([200, 200]);
  });

  it('fails with DataverseAuthError on a wrong secret', async () => {
    client = createDataverseClient(config(emulator, { clientSecret: 'wrong' }));
    await expect(client.checkAuth()).rejects.toThrow();
    await expect(client.execute([clientRow(1)])).rejects.toBeInstanceOf(DataverseAuthError);
  });

  it('pages queries through @odata.nextLink and retrieves single rows', async () => {
    client = createDataverseClient(config(emulator));
    await client.execute(Array.from({ length: 7 }, (_, i) => clientRow(i)));
    const rows = await client.query('crs_campaignclients', '$select=crs_clientid&$orderby=crs_clientid asc', { maxPageSize: 3 });
    expect(rows.map((r) => r.crs_clientid)).toEqual(Array.from({ length: 7 }, (_, i) => String(100000 + i)));
    const gets = emulator.journal().filter((e) => e.method === 'GET');
    expect(gets).toHaveLength(3);
    expect(gets.every((e) => e.headers.prefer === 'odata.maxpagesize=3')).toBe(true);
    expect(await client.query('crs_campaignclients', '$select=crs_clientid', { maxPageSize: 3, maxRows: 4 })).toHaveLength(4);

    const one = await client.retrieve('crs_campaignclients', guid(3), ['crs_clientid']);
    expect(one).toMatchObject({ crs_clientid: '100003' });
    expect(one!['@odata.etag']).toMatch(/^W\/"/);
    expect(await client.retrieve('crs_campaignclients', guid(404))).toBeNull();
  });

  it('sends concurrent reads as one $batch of GETs', async () => {
    client = createDataverseClient(config(emulator));
    await client.execute(Array.from({ length: 3 }, (_, i) => clientRow(i)));
    emulator.reset();
    await client.execute(Array.from({ length: 3 }, (_, i) => clientRow(i)));
    const before = emulator.journal().length;
    const [all, one, none] = await Promise.all([
      client.query('crs_campaignclients', '$select=crs_clientid&$orderby=crs_clientid asc', { maxPageSize: 2 }),
      client.retrieve('crs_campaignclients', guid(1), ['crs_clientid']),
      client.retrieve('crs_campaignclients', guid(404)),
    ]);
    expect(all.map((r) => r.crs_clientid)).toEqual(['100000', '100001', '100002']);
    expect(one).toMatchObject({ crs_clientid: '100001' });
    expect(none).toBeNull();
    const requests = emulator.journal().slice(before).filter((e) => e.path.startsWith('/api/'));
    // The three first reads share one $batch; the query's second page follows its nextLink alone.
    expect(requests.map((e) => `${e.method} ${e.path.split('?')[0]!.split('/').pop()}`)).toEqual(['POST $batch', 'GET crs_campaignclients']);
    expect(requests[0]!.operations).toBe(3);
  });

  it('authenticates with a certificate (CRS_CLIENT_CERT_PATH)', async () => {
    const key = join(tmp, 'key.pem');
    const cert = join(tmp, 'cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=crs-it'], { stdio: 'ignore' });
    const pem = join(tmp, 'client.pem');
    writeFileSync(pem, readFileSync(cert, 'utf8') + readFileSync(key, 'utf8'));
    client = createDataverseClient(config(emulator, { clientSecret: undefined, clientCertPath: pem }));
    await client.checkAuth();
    expect((await client.execute([clientRow(1)]))[0]).toMatchObject({ ok: true, existed: false });
  });
});
