/**
 * `npm run bench:delivery` — how fast the service delivers to Dataverse, against the Dataverse
 * emulator (a child process, its default service protection limits: 6,000 requests / 300 s,
 * 52 concurrent, 1,200,000 ms execution / 300 s, x-ms-dop-hint 4) plus a modelled latency per
 * request and a cost per written row. Formulas and results: docs/benchmarks.md, section "Delivery".
 *
 *   npm run bench:delivery                                  # all parts
 *   npm run bench:delivery -- --part throughput             # the client alone: rows/s vs ceiling
 *   npm run bench:delivery -- --part steady                 # 200 events/s through the whole pipeline
 *   npm run bench:delivery -- --part backlog                # unsubscribe behind 100,000 opens
 *   options: --duration 60 --latency-ms 20 --op-cost-ms 5 --dop-hint 4 --window-scale 1
 *            --rate 200 --events-per-request 10 --backlog 100000 --contacts 1000 --store sqlite|postgres
 *
 * The pipeline parts run the real service pieces in this process — webhook handler (buildApp), SQLite
 * event store, sync worker, Dataverse client (msal against the emulator's authority) — and time
 * each event from its webhook POST until the Dataverse write that carries it has been answered.
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { CA_CERT_PATH, type EmulatorConnection } from '../../tests/emulators/dataverse/index.js';
import { benchEmail, responseCreateOp } from './delivery-data.js';

// Node reads NODE_EXTRA_CA_CERTS (one file) only at start: run again with the emulator's test CA
// added to whatever bundle is configured already.
const emulatorCa = readFileSync(CA_CERT_PATH, 'utf8').trim();
const configuredCa = process.env.NODE_EXTRA_CA_CERTS;
const configuredText = configuredCa && existsSync(configuredCa) ? readFileSync(configuredCa, 'utf8') : '';
if (!configuredText.includes(emulatorCa)) {
  const bundle = join(tmpdir(), `crs-bench-ca-${process.pid}.pem`);
  writeFileSync(bundle, `${configuredText.trimEnd()}\n${emulatorCa}\n`);
  const child = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: bundle },
  });
  rmSync(bundle, { force: true });
  process.exit(child.status ?? 1);
}

const { values: args } = parseArgs({
  options: {
    part: { type: 'string', default: 'all' },
    duration: { type: 'string', default: '60' },
    'latency-ms': { type: 'string', default: '20' },
    'op-cost-ms': { type: 'string', default: '5' },
    'dop-hint': { type: 'string' },
    'window-scale': { type: 'string', default: '1' },
    'max-batch': { type: 'string', default: '100' },
    rate: { type: 'string', default: '200' },
    'events-per-request': { type: 'string', default: '10' },
    backlog: { type: 'string', default: '100000' },
    contacts: { type: 'string', default: '1000' },
    store: { type: 'string', default: 'sqlite' },
  },
});

const DURATION_S = Number(args.duration);
const LATENCY_MS = Number(args['latency-ms']);
const OP_COST_MS = Number(args['op-cost-ms']);
const WINDOW_SCALE = Number(args['window-scale']);
const MAX_BATCH = Number(args['max-batch']);

// The emulator's defaults (tests/emulators/dataverse/protection.ts DEFAULT_LIMITS), optionally
// with the window scaled down (same rates, shorter memory) so a minute-long run sees steady state.
const LIMITS = {
  requestsPerWindow: Math.round(6000 * WINDOW_SCALE),
  windowMs: Math.round(300_000 * WINDOW_SCALE),
  maxConcurrent: 52,
  executionMsPerWindow: Math.round(1_200_000 * WINDOW_SCALE),
  dopHint: args['dop-hint'] !== undefined ? Number(args['dop-hint']) : 4,
};
// The client paces itself under the same (scaled) budgets the emulator enforces; production uses
// the documented defaults (service/dataverse/budget.ts).
const CLIENT_BUDGET = {
  requestsPerWindow: LIMITS.requestsPerWindow,
  windowMs: LIMITS.windowMs,
  executionMsPerWindow: LIMITS.executionMsPerWindow,
};

// ---- the emulator child ------------------------------------------------------------------------

class EmulatorProcess {
  private nextId = 0;
  private readonly waiting = new Map<number, (answer: Record<string, unknown>) => void>();
  private constructor(readonly child: ChildProcess, readonly info: EmulatorConnection) {
    child.on('message', (raw) => {
      const answer = raw as { id: number } & Record<string, unknown>;
      this.waiting.get(answer.id)?.(answer);
      this.waiting.delete(answer.id);
    });
  }

  static async start(contacts: number): Promise<EmulatorProcess> {
    const script = fileURLToPath(new URL('./delivery-emulator.ts', import.meta.url));
    const options = { latencyMs: LATENCY_MS, operationCostMs: OP_COST_MS, limits: LIMITS, contacts };
    const child = fork(script, [JSON.stringify(options)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    const info = await new Promise<EmulatorConnection>((resolve, reject) => {
      let buffer = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        const line = buffer.split('\n')[0];
        if (buffer.includes('\n') && line) resolve(JSON.parse(line) as EmulatorConnection);
      });
      child.once('exit', (code) => reject(new Error(`emulator exited with ${code}`)));
    });
    return new EmulatorProcess(child, info);
  }

  ask(cmd: string, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.child.send({ id, cmd, ...extra });
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    this.child.kill('SIGTERM');
    await exited;
  }
}

const dataverseConfig = (info: EmulatorConnection) => ({
  url: info.url, tenantId: info.tenantId, clientId: info.clientId, clientSecret: info.clientSecret,
  authorityHost: info.authorityHost, maxConcurrency: 52,
});

// ---- statistics ---------------------------------------------------------------------------------

const round = (n: number, digits = 0): number => Number(n.toFixed(digits));

/**
 * The most rows per second the limits allow, whatever the client does (batch size b ≤ 1000):
 *   requests:     R / W × 1000                      (every request carries at most 1000 ops)
 *   execution:    E / W / c                         (every row costs c ms of server time)
 *   concurrency:  D × 1000 / (L + 1000 × c)         (D = min(concurrent limit, dop hint) batches
 *                                                    in flight, each taking L + b × c)
 */
export function deliveryCeiling(l: typeof LIMITS, latencyMs: number, opCostMs: number): { rowsPerSecond: number; bound: string; parts: Record<string, number> } {
  const D = Math.min(l.maxConcurrent, l.dopHint);
  const parts = {
    requests: (l.requestsPerWindow / (l.windowMs / 1000)) * 1000,
    execution: opCostMs > 0 ? l.executionMsPerWindow / (l.windowMs / 1000) / opCostMs : Infinity,
    concurrency: (D * 1000) / ((latencyMs + 1000 * opCostMs) / 1000),
  };
  const [bound, rowsPerSecond] = Object.entries(parts).sort((a, b) => a[1] - b[1])[0]!;
  return { rowsPerSecond, bound, parts };
}

// ---- part A: the client alone -----------------------------------------------------------------

async function benchThroughput(emulator: EmulatorProcess, contacts: number): Promise<Record<string, unknown>> {
  const { createDataverseClient } = await import('../../service/dataverse/index.js');
  let throttleWaits = 0;
  let throttled = 0;
  let budgetWaits = 0;
  let start = performance.now();
  const throttledByCode = new Map<string, number>();
  const statuses = new Map<string, number>();
  const transientErrors = new Map<string, number>();
  const client = createDataverseClient({ dataverse: dataverseConfig(emulator.info) }, {
    maxBatchSize: MAX_BATCH,
    serviceProtection: CLIENT_BUDGET,
    logger: {
      debug: () => undefined,
      info: () => undefined,
      warn: (obj) => {
        const err = (obj as { err?: string }).err;
        if (err) transientErrors.set(err, (transientErrors.get(err) ?? 0) + 1);
        const code = (obj as { code?: string }).code;
        if (code !== undefined) {
          throttledByCode.set(code, (throttledByCode.get(code) ?? 0) + 1);
          if (process.env.CRS_BENCH_DEBUG) {
            const b = client.serviceProtectionBudget;
            console.error(`429 ${code} t=${Math.round(performance.now() - start)} conc=${client.concurrencyLimit} ${JSON.stringify(b?.snapshot())}`);
          }
        }
      },
    },
    metrics: {
      request: (_kind, status) => statuses.set(String(status), (statuses.get(String(status)) ?? 0) + 1),
      throttleWait: (ms) => (throttleWaits += ms),
      throttled: () => (throttled += 1),
      concurrency: () => undefined,
      budgetWait: (ms) => (budgetWaits += ms),
    },
  });
  await client.checkAuth();
  let n = 0;
  let written = 0;
  let failed = 0;
  const samples: Array<{ t: number; written: number }> = [];
  start = performance.now();
  const endAt = start + DURATION_S * 1000;
  // A steady supply of work: several execute() calls of a worker-sized lease in flight.
  const callSize = 500;
  const debugTimer = process.env.CRS_BENCH_DEBUG ? setInterval(() => {
    const b = client.serviceProtectionBudget;
    console.error(`t=${Math.round(performance.now() - start)} written=${written} conc=${client.concurrencyLimit} ${JSON.stringify(b?.snapshot())}`);
  }, 1000) : undefined;
  const producers = Array.from({ length: 4 }, async () => {
    while (performance.now() < endAt) {
      const ops = Array.from({ length: callSize }, () => responseCreateOp(n++, contacts));
      const results = await client.execute(ops);
      for (const r of results) {
        if (r.ok) written += 1;
        else failed += 1;
      }
      samples.push({ t: performance.now() - start, written });
    }
  });
  await Promise.all(producers);
  clearInterval(debugTimer);
  const elapsedS = (performance.now() - start) / 1000;
  await client.close();
  // Steady state: from 10 % of the run on (the AIMD ramp and msal's first token are behind us).
  const after = samples.filter((s) => s.t >= DURATION_S * 100).sort((a, b) => a.t - b.t);
  const first = after[0];
  const last = after[after.length - 1];
  const steady = first && last && last.t > first.t ? ((last.written - first.written) / (last.t - first.t)) * 1000 : written / elapsedS;
  const ceiling = deliveryCeiling(LIMITS, LATENCY_MS, OP_COST_MS);
  const rows = await emulator.ask('count', { table: 'campaignresponse' });
  // What the emulator itself adds per row (its own CPU time, on top of the modelled cost), and how
  // busy the client kept the D request slots it may use.
  const journal = (await emulator.ask('journal')).entries as Array<{ path: string; status: number; durationMs: number; operations?: number }>;
  const batches = journal.filter((e) => e.path.endsWith('$batch') && e.status === 200);
  const batchMs = batches.reduce((sum, e) => sum + e.durationMs, 0);
  const batchOps = batches.reduce((sum, e) => sum + (e.operations ?? 0), 0);
  const overheadPerOp = batchOps > 0 ? Math.max(0, (batchMs - batches.length * LATENCY_MS - batchOps * OP_COST_MS) / batchOps) : 0;
  const effective = deliveryCeiling(LIMITS, LATENCY_MS, OP_COST_MS + overheadPerOp);
  const slots = Math.min(LIMITS.maxConcurrent, LIMITS.dopHint);
  return {
    rowsWritten: written,
    rowsInEmulator: rows.count,
    failedOps: failed,
    seconds: round(elapsedS, 1),
    rowsPerSecond: round(written / elapsedS),
    steadyRowsPerSecond: round(steady),
    ceilingRowsPerSecond: round(ceiling.rowsPerSecond),
    ceilingBound: ceiling.bound,
    ceilingParts: Object.fromEntries(Object.entries(ceiling.parts).map(([k, v]) => [k, round(v)])),
    ratio: round(steady / ceiling.rowsPerSecond, 3),
    emulatorOverheadMsPerRow: round(overheadPerOp, 2),
    effectiveCeilingRowsPerSecond: round(effective.rowsPerSecond),
    ratioToEffectiveCeiling: round(steady / effective.rowsPerSecond, 3),
    opsPerBatch: round(batchOps / Math.max(1, batches.length), 1),
    slotUtilisation: round(batchMs / (elapsedS * 1000 * slots), 3),
    requestsByStatus: Object.fromEntries(statuses),
    throttled,
    throttledByCode: Object.fromEntries(throttledByCode),
    transientErrors: Object.fromEntries(transientErrors),
    throttleWaitSeconds: round(throttleWaits / 1000, 1),
    budgetWaitSeconds: round(budgetWaits / 1000, 1),
    budgetExecutionScale: round(client.serviceProtectionBudget?.executionScale ?? 1, 3),
    finalConcurrency: client.concurrencyLimit,
  };
}

/** Requests the emulator answered, per method and entity set: count, mean time inside the emulator, ops. */
async function journalSummary(emulator: EmulatorProcess): Promise<Record<string, string>> {
  const entries = (await emulator.ask('journal')).entries as Array<{ path: string; method: string; status: number; durationMs: number; operations?: number }>;
  const byKey = new Map<string, { n: number; ms: number; ops: number; throttled: number }>();
  for (const e of entries) {
    if (!e.path.startsWith('/api/')) continue;
    const key = `${e.method} ${e.path.split('?')[0]!.replace('/api/data/v9.2/', '').replace(/\([^)]*\)/, '(id)')}`;
    const a = byKey.get(key) ?? { n: 0, ms: 0, ops: 0, throttled: 0 };
    a.n += 1;
    a.ms += e.durationMs;
    a.ops += e.operations ?? 0;
    if (e.status === 429) a.throttled += 1;
    byKey.set(key, a);
  }
  return Object.fromEntries([...byKey].map(([k, a]) => [k, `${a.n} requests, ${(a.ms / a.n).toFixed(0)} ms mean${a.ops ? `, ${a.ops} ops` : ''}${a.throttled ? `, ${a.throttled} × 429` : ''}`]));
}

// ---- main ---------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const part = args.part ?? 'all';
  const contacts = Number(args.contacts);
  const report: Record<string, unknown> = {
    date: new Date().toISOString(),
    machine: `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}`,
    // Other work on the machine skews every figure: note how busy it was when the run started.
    loadAverage1m: Number(loadavg()[0]!.toFixed(2)),
    command: ['npm run bench:delivery', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' '),
    emulator: { latencyMs: LATENCY_MS, operationCostMs: OP_COST_MS, limits: LIMITS },
  };
  const emulator = await EmulatorProcess.start(contacts);
  const tmp = mkdtempSync(join(tmpdir(), 'crs-bench-delivery-'));
  try {
    if (part === 'all' || part === 'throughput') {
      report.throughput = await benchThroughput(emulator, contacts);
      console.error(`throughput: ${JSON.stringify(report.throughput)}`);
      await emulator.ask('reset');
    }
    if (part === 'all' || part === 'steady' || part === 'backlog') {
      const { benchPipeline } = await import('./delivery-pipeline.js');
      if (part === 'all' || part === 'steady') {
        report.steady = await benchPipeline({ kind: 'steady', emulator: emulator.info, tmp, contacts, store: args.store as 'sqlite' | 'postgres', rate: Number(args.rate), eventsPerRequest: Number(args['events-per-request']), durationS: DURATION_S, email: benchEmail, serviceProtection: CLIENT_BUDGET });
        (report.steady as Record<string, unknown>).emulatorRequests = await journalSummary(emulator);
        console.error(`steady: ${JSON.stringify(report.steady)}`);
        await emulator.ask('reset');
      }
      if (part === 'all' || part === 'backlog') {
        report.backlog = await benchPipeline({ kind: 'backlog', emulator: emulator.info, tmp, contacts, store: args.store as 'sqlite' | 'postgres', backlog: Number(args.backlog), email: benchEmail, serviceProtection: CLIENT_BUDGET });
        (report.backlog as Record<string, unknown>).emulatorRequests = await journalSummary(emulator);
        console.error(`backlog: ${JSON.stringify(report.backlog)}`);
      }
    }
  } finally {
    await emulator.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
  console.log(JSON.stringify(report, null, 2));
}

await main();
