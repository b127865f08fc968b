/**
 * Emulator throughput (not a test):
 *   NODE_EXTRA_CA_CERTS=tests/emulators/dataverse/certs/ca.pem npx tsx tests/emulators/dataverse/bench.ts [seconds]
 * Drives creates (POST), upserts (PATCH by id) and $batch change sets of 10 creates with autocannon.
 */
import { randomUUID } from 'node:crypto';
import { msalFor } from './helpers.js';
import { startDataverseEmulator } from './index.js';

interface CannonResult { requests: { average: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number }
type CannonOptions = Record<string, unknown>;
// autocannon ships no types; this is the slice used here.
const autocannon = (await import('autocannon' as string) as { default: (o: CannonOptions) => Promise<CannonResult> }).default;

const seconds = Number(process.argv[2] ?? 5);
// Limits off: this measures the emulator's own speed, not the modelled service protection.
const emu = await startDataverseEmulator({ journalLimit: 10_000, limits: { requestsPerWindow: 1e9, executionMsPerWindow: 1e12, maxConcurrent: 10_000 } });
const token = (await msalFor(emu).acquireTokenByClientCredential({ scopes: [`${emu.url}/.default`] }))!.accessToken;
const headers = { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', Accept: 'application/json' };
const api = `${emu.url}/api/data/v9.2/`;

function batchOf10(): { body: string; type: string } {
  const b = `batch_${randomUUID()}`;
  const cs = `changeset_${randomUUID()}`;
  const parts = Array.from({ length: 10 }, (_, i) =>
    `--${cs}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: ${i + 1}\r\n\r\nPOST /api/data/v9.2/contacts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{"lastname":"b${i}","emailaddress1":"b${i}@bench.test"}\r\n`).join('');
  return { body: `--${b}\r\nContent-Type: multipart/mixed; boundary=${cs}\r\n\r\n${parts}--${cs}--\r\n--${b}--\r\n`, type: `multipart/mixed; boundary=${b}` };
}

async function run(title: string, opts: CannonOptions): Promise<void> {
  const r = await autocannon({ duration: seconds, connections: 32, ...opts });
  console.log(`${title}: ${Math.round(r.requests.average)} req/s, p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, non-2xx ${r.non2xx}, errors ${r.errors}`);
}

const NODE_TLS = { rejectUnauthorized: false } as const; // autocannon's own agent; the emulator cert is self-issued
await run('POST contacts', { url: `${api}contacts`, method: 'POST', headers, body: JSON.stringify({ lastname: 'Bench', emailaddress1: 'bench@example.com' }), ...NODE_TLS });
await run('PATCH contacts(id) upsert', {
  url: api, headers,
  requests: [{ method: 'PATCH', setupRequest: (req: Record<string, unknown>) => ({ ...req, path: `/api/data/v9.2/contacts(${randomUUID()})`, body: '{"lastname":"Upsert"}' }) }],
  ...NODE_TLS,
});
const b = batchOf10();
await run('$batch change set x10', { url: `${api}$batch`, method: 'POST', headers: { ...headers, 'Content-Type': b.type }, body: b.body, ...NODE_TLS });
console.log(`rows: ${emu.rows('contact').length}`);
await emu.close();
