/**
 * Durability (spec §6): the real service as a child process (`node scripts/crs.mjs serve`),
 * `kill -9` while requests are in flight, restart on the same store: every answered event is
 * there, exactly once, and re-sending everything yields duplicates, never second rows.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { normalizeEvent } from '../../service/ingest/normalize.js';
import { openStore } from '../../service/store/index.js';
import { EVENT_STATES, type StoredEvent } from '../../service/store/types.js';
import { ENGINES, JSON_HEADERS, event, send } from './webhook-helpers.js';

const CLI = fileURLToPath(new URL('../../scripts/crs.mjs', import.meta.url));
const EMULATOR_CA = fileURLToPath(new URL('../emulators/dataverse/certs/ca.pem', import.meta.url));
const TOKEN = 'kill9-token';
const HEADERS = { ...JSON_HEADERS, authorization: `Bearer ${TOKEN}` };

interface Child {
  proc: ChildProcess;
  port: number;
  output: () => string;
}

const children: ChildProcess[] = [];

function startChild(storeUrl: string): Promise<Child> {
  const proc = spawn(process.execPath, [CLI, 'serve'], {
    // Demo mode: scripts/crs.mjs would re-execute itself to trust the emulator's CA; giving it the CA
    // up front keeps ONE process, so SIGKILL hits the service itself, not a wrapper.
    env: {
      ...process.env,
      CRS_PORT: '0',
      CRS_HOST: '127.0.0.1',
      CRS_STORE: storeUrl,
      CRS_WEBHOOK_TOKEN: TOKEN,
      CRS_POLL_INTERVAL: '0',
      CRS_DATAVERSE_URL: '',
      CRS_DEMO_CA_READY: '1',
      NODE_EXTRA_CA_CERTS: EMULATOR_CA,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(proc);
  let out = '';
  proc.stderr!.on('data', (c: Buffer) => (out += c.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`service did not start:\n${out}`)), 30_000);
    proc.on('exit', (code) => reject(new Error(`service exited with ${code}:\n${out}`)));
    proc.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      for (const line of out.split('\n')) {
        if (!line.includes('"port"')) continue;
        const port = (JSON.parse(line) as { port?: number }).port;
        if (port) {
          clearTimeout(timer);
          resolve({ proc, port, output: () => out });
          return;
        }
      }
    });
  });
}

function exited(proc: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (proc.exitCode !== null || proc.signalCode !== null) return Promise.resolve({ code: proc.exitCode, signal: proc.signalCode });
  return new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
}

afterAll(() => {
  for (const proc of children) if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
});

/** Request r carries events r*size … r*size+size-1, each with its own recipient. */
function batch(r: number, size: number): Record<string, unknown>[] {
  return Array.from({ length: size }, (_, i) => event({ recipientId: `r${r}-${i}@example.com`, type: i % 2 ? 'click' : 'unsubscribe', url: `https://l/${i}` }));
}

function keyOf(raw: Record<string, unknown>): string {
  const r = normalizeEvent(raw, { pathClientId: '42', origin: 'webhook' });
  if (!r.ok) throw new Error(r.reason);
  return r.event.key;
}

async function allEvents(storeUrl: string): Promise<StoredEvent[]> {
  const store = await openStore(storeUrl);
  try {
    // The sync worker may already have moved events on (applied, ignored, unmatched, …).
    const lists = await Promise.all(EVENT_STATES.map((state) => store.list(state, 100_000)));
    return lists.flat();
  } finally {
    await store.close();
  }
}

describe.each(ENGINES)('kill -9 with the $name store', (engine) => {
  const location = engine.create();
  afterAll(() => location.cleanup());
  // Not a timing assertion: two service starts through tsx plus 80 requests take seconds.

  it('loses nothing that was answered and duplicates nothing after a restart', async () => {
    const size = 20;
    const first = await startChild(location.url);
    const base = `http://127.0.0.1:${first.port}`;
    const post = (r: number) => send(base, { path: '/webhooks/campaign/42', headers: HEADERS, body: JSON.stringify(batch(r, size)) });

    // Request 0 is answered before the crash.
    expect((await post(0)).json).toEqual({ received: size, accepted: size, duplicates: 0, quarantined: 0 });

    // Requests 1..40 race the kill: kill -9 as soon as the fifth of them is answered.
    const answered = new Set<number>([0]);
    let killed = false;
    const inFlight = Array.from({ length: 40 }, (_, i) => i + 1).map((r) =>
      post(r).then(
        (a) => {
          if (a.status === 200 && !killed) answered.add(r);
          if (answered.size >= 6 && !killed) {
            killed = true;
            first.proc.kill('SIGKILL');
          }
        },
        () => undefined, // connection reset by the kill: not answered
      ),
    );
    await Promise.all(inFlight);
    if (!killed) first.proc.kill('SIGKILL');
    if (process.env.CRS_TEST_DEBUG) console.log(`answered before the kill: ${answered.size} of 41`);
    expect((await exited(first.proc)).signal).toBe('SIGKILL');

    // Every answered event is stored, once.
    const stored = await allEvents(location.url);
    const storedKeys = new Set(stored.map((e) => e.dedupKey));
    expect(storedKeys.size).toBe(stored.length);
    for (const r of answered) for (const raw of batch(r, size)) expect(storedKeys.has(keyOf(raw)), `request ${r}`).toBe(true);

    // Restart on the same store and re-send everything: answered requests are pure duplicates.
    const second = await startChild(location.url);
    const base2 = `http://127.0.0.1:${second.port}`;
    for (let r = 0; r <= 40; r++) {
      const a = await send(base2, { path: '/webhooks/campaign/42', headers: HEADERS, body: JSON.stringify(batch(r, size)) });
      expect(a.status).toBe(200);
      if (answered.has(r)) expect(a.json, `request ${r}`).toEqual({ received: size, accepted: 0, duplicates: size, quarantined: 0 });
    }
    // Graceful stop on SIGTERM, before counting: allEvents lists state by state, and a running sync
    // worker moving an event from one state to the next between two lists would show it twice.
    second.proc.kill('SIGTERM');
    expect((await exited(second.proc)).code).toBe(0);

    const after = await allEvents(location.url);
    expect(after).toHaveLength(41 * size);
    expect(new Set(after.map((e) => e.dedupKey)).size).toBe(41 * size);
    expect(second.output()).toContain('"msg":"stopped"');
  }, 90_000);
});
