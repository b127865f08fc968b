/**
 * `npm run bench:ingest` — webhook ingestion throughput and latency, in one run on one machine:
 *   1. a bare node:http server answering 200 (the floor), single-event POSTs;
 *   2. our endpoint (real service, SQLite store, synchronous=FULL), single-event POSTs;
 *   3. our endpoint, 100-event batches.
 * Every request carries new events (unique recipients), so each one is really written.
 * Servers run as child processes; autocannon runs here, on the same cores.
 *
 * This machine is a shared VM whose speed swings by ±30 % within minutes, so one pair of runs
 * decides nothing: the bare server and ours are measured in alternating rounds (the order flips
 * each round), and the summary takes medians — of rates, and of each round's own ratio. Besides
 * rates it reports each server's CPU time per request (all its threads, from /proc), which moves
 * far less with the machine's load than requests/s do.
 *
 * Options (environment): BENCH_DURATION (s per measurement, default 10), BENCH_ROUNDS (default 3),
 * BENCH_CONNECTIONS (comma list, default "20,200"), BENCH_BATCH_CONNECTIONS (default 8),
 * BENCH_STORE (default a temporary SQLite file), BENCH_PIN=1 (servers on the last core, the load
 * generator on the others, with taskset: shows what sharing cores with the load generator costs),
 * BENCH_TLS=1 (both servers serve HTTPS with a fresh self-signed certificate made by openssl, ours
 * through CRS_TLS_CERT_PATH; connections are kept alive, so this measures encryption, not handshakes).
 * Prints Markdown for docs/benchmarks.md.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir } from 'node:os';
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
  tlsOptions?: { ca?: Buffer };
  requests: (RequestSpec & { setupRequest?: (req: RequestSpec) => RequestSpec })[];
}) => Promise<AutocannonResult>;

const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const DURATION = Number(process.env.BENCH_DURATION ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = (process.env.BENCH_CONNECTIONS ?? '20,200').split(',').map(Number);
const BATCH_CONNECTIONS = Number(process.env.BENCH_BATCH_CONNECTIONS ?? 8);
if (![DURATION, ROUNDS, BATCH_CONNECTIONS, ...CONNECTIONS].every((n) => Number.isInteger(n) && n > 0)) {
  throw new Error('BENCH_DURATION, BENCH_ROUNDS, BENCH_CONNECTIONS (comma list) and BENCH_BATCH_CONNECTIONS must be positive integers');
}
const TOKEN = 'bench-token';
const HEADERS = { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` };
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

let sequence = 0;
let clockSecond = 0;
let clockText = '';
/** The current time as Campaign sends it; webhooks arrive moments after the event (recomputed once a second). */
function nowText(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== clockSecond) {
    clockSecond = second;
    clockText = new Date(second * 1000).toISOString();
  }
  return clockText;
}

/**
 * A realistic Campaign event with a new recipient each time (no duplicates), as JSON text. Built
 * from a template, not JSON.stringify, so the load generator (same 2 cores) spends little CPU.
 */
function eventText(): string {
  const n = sequence++;
  const click = n % 3 === 0;
  return (
    `{"type":"${click ? 'click' : 'open'}","mailingGroupId":1234,"mailingId":1001,"mailId":"m${n.toString(36)}",` +
    `"recipientListId":77,"recipientId":"bench.recipient.${n}@example.com","timestamp":"${nowText()}"` +
    (click ? `,"url":"https://www.example.com/offer?id=${n}","linkId":5}` : '}')
  );
}

function bodyText(eventsPerRequest: number): string {
  if (eventsPerRequest === 1) return eventText();
  const parts: string[] = [];
  for (let i = 0; i < eventsPerRequest; i++) parts.push(eventText());
  return `[${parts.join(',')}]`;
}

const PIN = process.env.BENCH_PIN === '1';
const SERVER_CORE = cpus().length - 1;
if (PIN) {
  if (SERVER_CORE < 1) throw new Error('BENCH_PIN=1 needs at least 2 cores');
  // Every thread of this process (autocannon) on the other cores; taskset keeps the pid when it starts a server.
  const pinned = spawnSync('taskset', ['-a', '-p', '-c', `0-${SERVER_CORE - 1}`, String(process.pid)], { encoding: 'utf8' });
  if (pinned.status !== 0) throw new Error(`BENCH_PIN=1: taskset failed: ${pinned.error?.message ?? pinned.stderr.trim()}`);
}

function startChild(command: string[], env: Record<string, string>): Promise<{ proc: ChildProcess; port: number }> {
  const [file, args] = PIN ? ['taskset', ['-c', String(SERVER_CORE), process.execPath, ...command]] : [process.execPath, command];
  const proc = spawn(file, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
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

/** CPU time (user + system, all threads) a process has used so far, in µs; undefined without /proc. */
function processCpuMicros(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    // Fields after the command name: utime and stime are the 12th and 13th, in clock ticks (100/s on Linux).
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return undefined;
  }
}

interface Server {
  name: 'bare' | 'ours';
  proc: ChildProcess;
  port: number;
  path: string;
}

interface Measurement {
  round: number;
  server: Server['name'];
  eventsPerRequest: number;
  connections: number;
  rps: number;
  p50: number;
  p99: number;
  /** Server CPU per request, µs (all threads); NaN without /proc. */
  serverCpu: number;
  /** Load generator (this process) CPU per request, µs. */
  loadCpu: number;
}

async function measure(server: Server, round: number, eventsPerRequest: number, connections: number, duration = DURATION): Promise<Measurement> {
  const request = { method: 'POST', path: server.path, headers: HEADERS, setupRequest: (req: RequestSpec) => ({ ...req, body: bodyText(eventsPerRequest) }) };
  const cpuBefore = processCpuMicros(server.proc.pid);
  const loadBefore = process.cpuUsage();
  const result = await autocannon({
    url: `${scheme}://127.0.0.1:${server.port}`, connections, duration, requests: [request],
    ...(tlsFiles ? { tlsOptions: { ca: readFileSync(tlsFiles.cert) } } : {}),
  });
  const cpuAfter = processCpuMicros(server.proc.pid);
  const load = process.cpuUsage(loadBefore);
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${server.name}, ${eventsPerRequest} event(s), ${connections} connections: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  }
  const total = Math.max(1, result.requests.total);
  const m: Measurement = {
    round, server: server.name, eventsPerRequest, connections,
    rps: result.requests.average, p50: result.latency.p50, p99: result.latency.p99,
    serverCpu: cpuBefore !== undefined && cpuAfter !== undefined ? (cpuAfter - cpuBefore) / total : NaN,
    loadCpu: (load.user + load.system) / total,
  };
  process.stderr.write(`round ${round}: ${label(m)}: ${m.rps.toFixed(0)} req/s, p50 ${m.p50} ms, p99 ${m.p99} ms, server CPU ${m.serverCpu.toFixed(0)} µs/request\n`);
  return m;
}

function label(m: Pick<Measurement, 'server' | 'eventsPerRequest'>): string {
  return m.server === 'bare' ? 'bare node:http, 1 event' : `our endpoint (${engineName}), ${m.eventsPerRequest === 1 ? '1 event' : `${m.eventsPerRequest}-event batch`}`;
}

function median(values: number[]): number {
  const sorted = values.filter((v) => !Number.isNaN(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const int = (n: number): string => (Number.isNaN(n) ? '—' : Math.round(n).toLocaleString('en-US'));

const dir = mkdtempSync(join(tmpdir(), 'crs-bench-ingest-'));
const TLS = process.env.BENCH_TLS === '1';
/** With BENCH_TLS=1: a self-signed certificate for 127.0.0.1 that both servers serve. */
const tlsFiles = TLS ? { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') } : undefined;
if (tlsFiles) {
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', tlsFiles.key, '-out', tlsFiles.cert, '-days', '1',
      '-subj', '/CN=crs-bench', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'ignore' });
  } catch (err) {
    throw new Error(`BENCH_TLS=1 needs openssl to make a certificate: ${(err as Error).message}`);
  }
}
const scheme = TLS ? 'https' : 'http';
const storeUrl = process.env.BENCH_STORE ?? `sqlite:${join(dir, 'crs.sqlite')}`;
const engineName = storeUrl.startsWith('sqlite:') ? 'SQLite' : 'PostgreSQL';
const loadAtStart = loadavg()[0]!;
const results: Measurement[] = [];
const servers: Server[] = [];
try {
  const bare = await startChild(['scripts/bench/bare-server.mjs'], tlsFiles ? { BARE_TLS_CERT: tlsFiles.cert, BARE_TLS_KEY: tlsFiles.key } : {});
  servers.push({ name: 'bare', ...bare, path: '/' });
  const ours = await startChild(['--import', 'tsx', 'scripts/bench/ingest-server.ts'], {
    CRS_PORT: '0',
    CRS_HOST: '127.0.0.1',
    CRS_STORE: storeUrl,
    CRS_WEBHOOK_TOKEN: TOKEN,
    CRS_POLL_INTERVAL: '0',
    CRS_DATAVERSE_URL: '',
    CRS_LOG_LEVEL: 'info',
    ...(tlsFiles ? { CRS_TLS_CERT_PATH: tlsFiles.cert, CRS_TLS_KEY_PATH: tlsFiles.key } : {}),
  });
  servers.push({ name: 'ours', ...ours, path: '/webhooks/campaign/1234' });
  // Warm-up (JIT, SQLite page cache), not counted.
  for (const server of servers) await measure(server, 0, 1, Math.max(...CONNECTIONS), 2);
  await measure(servers[1]!, 0, 100, BATCH_CONNECTIONS, 2);

  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 === 1 ? servers : [...servers].reverse(); // cancels a drift of the machine's speed
    for (const connections of CONNECTIONS) {
      for (const server of order) results.push(await measure(server, round, 1, connections));
    }
    results.push(await measure(servers[1]!, round, 100, BATCH_CONNECTIONS));
  }
} finally {
  for (const server of servers) await stopChild(server.proc);
  rmSync(dir, { recursive: true, force: true });
}

const cpu = cpus();
console.log(`\nDate: ${new Date().toISOString()}; machine: ${cpu.length} × ${cpu[0]?.model ?? 'unknown CPU'}, Node ${process.version}; load average at start ${loadAtStart.toFixed(1)}; store: ${engineName === 'SQLite' ? 'SQLite file (WAL, synchronous=FULL)' : 'PostgreSQL (BENCH_STORE)'}; ${ROUNDS} rounds × ${DURATION} s per measurement after a warm-up; bare and ours alternate, order flipped each round${PIN ? `; servers pinned to core ${SERVER_CORE}, the load generator to the others (BENCH_PIN=1)` : ''}${TLS ? '; both servers over HTTPS, kept-alive connections (BENCH_TLS=1)' : ''}.\n`);
console.log('Every measurement:\n');
console.log('| round | scenario | connections | requests/s | events/s | p50 ms | p99 ms | server CPU µs/request | load generator CPU µs/request |');
console.log('|---:|---|---:|---:|---:|---:|---:|---:|---:|');
for (const m of results) {
  console.log(`| ${m.round} | ${label(m)} | ${m.connections} | ${int(m.rps)} | ${int(m.rps * m.eventsPerRequest)} | ${m.p50} | ${m.p99} | ${int(m.serverCpu)} | ${int(m.loadCpu)} |`);
}

const pick = (server: Measurement['server'], eventsPerRequest: number, connections: number): Measurement[] =>
  results.filter((m) => m.server === server && m.eventsPerRequest === eventsPerRequest && m.connections === connections);
console.log('\nMedians over the rounds (the ratio is the median of each round\'s own ratio):\n');
console.log('| connections | bare req/s | our req/s | ratio | our p50 / p99 ms | bare CPU µs/request | our CPU µs/request |');
console.log('|---:|---:|---:|---:|---:|---:|---:|');
const summary = CONNECTIONS.map((connections) => {
  const bare = pick('bare', 1, connections);
  const ours = pick('ours', 1, connections);
  const ratios = ours.map((o) => o.rps / bare.find((b) => b.round === o.round)!.rps);
  const row = {
    connections,
    bareRps: median(bare.map((m) => m.rps)),
    ourRps: median(ours.map((m) => m.rps)),
    ratio: median(ratios),
    p50: median(ours.map((m) => m.p50)),
    p99: median(ours.map((m) => m.p99)),
    bareCpu: median(bare.map((m) => m.serverCpu)),
    ourCpu: median(ours.map((m) => m.serverCpu)),
  };
  console.log(`| ${connections} | ${int(row.bareRps)} | ${int(row.ourRps)} | ${row.ratio.toFixed(2)} | ${row.p50} / ${row.p99} | ${int(row.bareCpu)} | ${int(row.ourCpu)} |`);
  return row;
});
const batches = results.filter((m) => m.server === 'ours' && m.eventsPerRequest === 100);
const batchEvents = median(batches.map((m) => m.rps * 100));
console.log(`\n100-event batches, ${BATCH_CONNECTIONS} connections: median ${int(batchEvents)} events/s, p99 ${median(batches.map((m) => m.p99))} ms.\n`);

for (const row of summary) {
  const c = `${row.connections} connections`;
  console.log(`- ${row.ourRps >= 2000 ? 'met' : 'MISSED'}: single-event ≥ 2,000 req/s (${c}: ${int(row.ourRps)})`);
  console.log(`- ${row.p99 <= 50 ? 'met' : 'MISSED'}: single-event p99 ≤ 50 ms (${c}: ${row.p99} ms)`);
  console.log(`- ${row.ratio >= 0.5 ? 'met' : 'MISSED'}: single-event ≥ 0.5 × bare (${c}: ${row.ratio.toFixed(2)})`);
}
console.log(`- ${batchEvents >= 20_000 ? 'met' : 'MISSED'}: batches ≥ 20,000 events/s (${int(batchEvents)})`);
