/**
 * Durability on SQLite: a child process appends, reports each acknowledged append, and is killed
 * with SIGKILL (kill -9) while still appending. A fresh open must see every acknowledged event, and
 * nothing twice. Done twice on the same file, so recovery after a crash is exercised too.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../../service/store/index.js';

const CHILD = fileURLToPath(new URL('./store-durability.child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'crs-store-durability-'));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Runs the child until it has acknowledged at least `killAfter` more events, then kill -9; returns the last ack. */
function appendUntilKilled(url: string, start: number, killAfter: number): Promise<{ acked: number; signal: string | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, url, String(start)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let acked = start;
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += String(d)));
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const m = /^acked (\d+)$/.exec(line);
      if (!m) return;
      acked = Number(m[1]);
      if (acked - start >= killAfter && child.signalCode === null) child.kill('SIGKILL');
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve({ acked, signal });
      else reject(new Error(`child exited with code ${code} before being killed: ${stderr.trim()}`));
    });
  });
}

describe('SQLite durability across kill -9', () => {
  it('keeps every event whose append resolved before the process was killed', async () => {
    const url = `sqlite:${path.join(dir, 'crs.sqlite')}`;
    let start = 0;
    for (const killAfter of [300, 170]) {
      const { acked, signal } = await appendUntilKilled(url, start, killAfter);
      expect(signal).toBe('SIGKILL');
      const store = await openStore(url);
      try {
        const counts = await store.counts();
        // Every acknowledged event is there; the batch in flight at the kill may or may not be (not acknowledged).
        expect(counts.received).toBeGreaterThanOrEqual(acked);
        expect(counts.received).toBeLessThanOrEqual(acked + 10);
        const keys = new Set((await store.list('pending', counts.received)).map((e) => e.dedupKey));
        expect(keys.size).toBe(counts.received);
        const missing = Array.from({ length: acked }, (_, i) => `durable-${i}`).filter((k) => !keys.has(k));
        expect(missing).toEqual([]);
        start = counts.received; // the next child continues after what is stored (keys stay unique)
      } finally {
        await store.close();
      }
    }
  });
});
