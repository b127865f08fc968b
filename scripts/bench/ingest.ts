/**
 * `npm run bench:ingest` — webhook ingestion throughput and latency, in one run on one machine:
 *   1. a bare node:http server answering 200 (the floor), single-event POSTs;
 *   2. our endpoint (real service, SQLite store, synchronous=FULL), single-event POSTs;
 *   3. our endpoint, 100-event batches.
 * Every request carries new events (unique recipients), so each one is really written.
 * Servers run as child processes; autocannon runs here. Prints a Markdown table for docs/benchmarks.md.
 *
 * Options (environment): BENCH_DURATION (s, default 10), BENCH_CONNECTIONS (default 20),
 * BENCH_BATCH_CONNECTIONS (default 8), BENCH_STORE (default a temporary SQLite file).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface AutocannonResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; average: number; max: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  duration: number;
}
interface RequestSpec {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}
type Autocannon = (opts: {
  url: string;
  connections: number;
  duration: number;
  requests: (RequestSpec & { setupRequest?: (req: RequestSpec) => RequestSpec })[];
}) => Promise<AutocannonResult>;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 20);
const BATCH_CONNECTIONS = Number(process.env.BENCH_BATCH_CONNECTIONS ?? 8);
const TOKEN = 'bench-token';
const HEADERS = { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` };
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

let sequence = 0;
/**
 * A realistic Campaign event with a new recipient each time (no duplicates), as JSON text. Built
 * from a template, not JSON.stringify, so the load generator (same 2 cores) spends little CPU.
 */
function eventText(): string {
  const n = sequence++;
  const click = n % 3 === 0;
  return (
    `{"type":"${click ? 'click' : 'open'}","mailingGroupId":1234,"mailingId":1001,"mailId":"m${n.toString(36)}",` +
    `"recipientListId":77,"recipientId":"bench.recipient.${n}@example.com","timestamp":"2026-11-26T10:00:00.000Z"` +
    (click ? `,"url":"https://www.example.com/offer?id=${n}","linkId":5}` : '}')
  );
}

function bodyText(eventsPerRequest: number): string {
  if (eventsPerRequest === 1) return eventText();
  const parts: string[] = [];
  for (let i = 0; i < eventsPerRequest; i++) parts.push(eventText());
  return `[${parts.join(',')}]`;
}

function startChild(command: string[], env: Record<string, string>): Promise<{ proc: ChildProcess; port: number }> {
  const proc = spawn(process.execPath, command, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  return new Promise((resolve, reject) => {
    proc.on('exit', (code) => reject(new Error(`${command.join(' ')} exited with ${code}\n${out}`)));
    proc.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const line = out.split('\n').find((l) => l.includes('"port"'));
      if (line) resolve({ proc, port: (JSON.parse(line) as { port: number }).port });
    });
  });
}

async function stopChild(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null) return;
  proc.removeAllListeners('exit'); // the start-up failure handler
  const done = new Promise((resolve) => proc.once('exit', resolve));
  proc.kill('SIGTERM');
  await done;
}

interface Row {
  scenario: string;
  eventsPerRequest: number;
  connections: number;
  result: AutocannonResult;
}

async function measure(scenario: string, port: number, eventsPerRequest: number, connections: number, path: string): Promise<Row> {
  const request = { method: 'POST', path, headers: HEADERS, setupRequest: (req: RequestSpec) => ({ ...req, body: bodyText(eventsPerRequest) }) };
  // Warm-up (JIT, SQLite page cache), not counted.
  await autocannon({ url: `http://127.0.0.1:${port}`, connections, duration: 2, requests: [request] });
  const result = await autocannon({ url: `http://127.0.0.1:${port}`, connections, duration: DURATION, requests: [request] });
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${scenario}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  }
  process.stderr.write(`${scenario}: ${result.requests.average.toFixed(0)} req/s, p50 ${result.latency.p50} ms, p99 ${result.latency.p99} ms\n`);
  return { scenario, eventsPerRequest, connections, result };
}

const dir = mkdtempSync(join(tmpdir(), 'crs-bench-ingest-'));
const storeUrl = process.env.BENCH_STORE ?? `sqlite:${join(dir, 'crs.sqlite')}`;
const engineName = storeUrl.startsWith('sqlite:') ? 'SQLite' : 'PostgreSQL';
const rows: Row[] = [];
try {
  const bare = await startChild(['scripts/bench/bare-server.mjs'], {});
  try {
    rows.push(await measure('bare node:http, 1 event', bare.port, 1, CONNECTIONS, '/'));
  } finally {
    await stopChild(bare.proc);
  }

  const service = await startChild(['--import', 'tsx', 'scripts/bench/ingest-server.ts'], {
    CRS_PORT: '0',
    CRS_HOST: '127.0.0.1',
    CRS_STORE: storeUrl,
    CRS_WEBHOOK_TOKEN: TOKEN,
    CRS_POLL_INTERVAL: '0',
    CRS_DATAVERSE_URL: '',
    CRS_LOG_LEVEL: 'info',
  });
  try {
    rows.push(await measure(`our endpoint (${engineName}), 1 event`, service.port, 1, CONNECTIONS, '/webhooks/campaign/1234'));
    rows.push(await measure(`our endpoint (${engineName}), 100-event batch`, service.port, 100, BATCH_CONNECTIONS, '/webhooks/campaign/1234'));
  } finally {
    await stopChild(service.proc);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

const [bareRow, single, batch] = rows as [Row, Row, Row];
const cpu = cpus();
console.log(`\nDate: ${new Date().toISOString()}; machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, Node ${process.version}; store: ${engineName === 'SQLite' ? 'SQLite file (WAL, synchronous=FULL)' : 'PostgreSQL (BENCH_STORE)'}; ${DURATION} s per scenario after 2 s warm-up.\n`);
console.log('| scenario | connections | requests/s | events/s | p50 ms | p99 ms |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const r of rows) {
  const rps = r.result.requests.average;
  console.log(`| ${r.scenario} | ${r.connections} | ${rps.toFixed(0)} | ${(rps * r.eventsPerRequest).toFixed(0)} | ${r.result.latency.p50} | ${r.result.latency.p99} |`);
}
const ratio = single.result.requests.average / bareRow.result.requests.average;
const checks = [
  [`single-event ≥ 2,000 req/s`, single.result.requests.average >= 2000],
  [`single-event p99 ≤ 50 ms`, single.result.latency.p99 <= 50],
  [`single-event ≥ 0.5 × bare (${ratio.toFixed(2)})`, ratio >= 0.5],
  [`batches ≥ 20,000 events/s`, batch.result.requests.average * 100 >= 20_000],
] as const;
console.log('');
for (const [name, ok] of checks) console.log(`- ${ok ? 'met' : 'MISSED'}: ${name}`);
