/**
 * Scale-out: two separate OS processes lease from ONE PostgreSQL store at the same time. Every event
 * must be handed out, and none to both processes.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../../service/store/index.js';
import type { EventStore } from '../../service/store/types.js';
import { incoming } from './store-conformance.js';

const CHILD = fileURLToPath(new URL('./store-two-process.child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BASE = 'postgres://postgres@127.0.0.1:5432/test';
const schema = `crs_test_${randomBytes(4).toString('hex')}_2proc`;
const URL_ = `${BASE}?schema=${schema}`;
const children: ChildProcess[] = [];
let store: EventStore | undefined;

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await store?.close();
  const admin = new pg.Client({ connectionString: BASE });
  await admin.connect();
  await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await admin.end();
});

interface Worker {
  ready: Promise<void>;
  leased: Promise<string[]>;
  go(): void;
}

function startWorker(owner: string): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, URL_, owner], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += String(d)));
  let onReady!: () => void;
  const ready = new Promise<void>((r) => (onReady = r));
  const leased = new Promise<string[]>((resolve, reject) => {
    let result: string[] | undefined;
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line === 'ready') onReady();
      else if (line.startsWith('leased ')) result = JSON.parse(line.slice('leased '.length)) as string[];
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0 && result) resolve(result);
      else reject(new Error(`${owner} exited with code ${code}: ${stderr.trim()}`));
    });
  });
  leased.catch(() => onReady()); // a child that dies early must not leave the test waiting for `ready`
  return { ready, leased, go: () => child.stdin!.end('go\n') };
}

describe('two processes sharing one PostgreSQL store', () => {
  it('hand every event to exactly one of them', async () => {
    store = await openStore(URL_);
    const total = 1500;
    for (let i = 0; i < total; i += 250) {
      await store.append(Array.from({ length: 250 }, (_, j) => incoming(`e${i + j}`, (i + j) % 5 === 0 ? 'unsubscribe' : 'open')));
    }
    const workers = [startWorker('process-a'), startWorker('process-b')];
    await Promise.all(workers.map((w) => w.ready));
    for (const w of workers) w.go();
    const [a, b] = await Promise.all(workers.map((w) => w.leased));

    const both = a!.filter((id) => new Set(b).has(id));
    expect(both).toEqual([]);
    expect(new Set(a).size).toBe(a!.length);
    expect(new Set(b).size).toBe(b!.length);
    expect(a!.length + b!.length).toBe(total);
    // both really took part (the test would prove nothing if one process drained the queue alone)
    expect(a!.length).toBeGreaterThan(total / 10);
    expect(b!.length).toBeGreaterThan(total / 10);
    expect(await store.counts()).toMatchObject({ received: total, applied: total, pending: 0 });
    const events = await store.get([...a!, ...b!]);
    expect(events.every((e) => e.attempts === 1)).toBe(true);
  });
});
