/**
 * Child process of store-two-process.test.ts: opens the shared PostgreSQL store, prints `ready`,
 * waits for `go` on stdin, then leases and completes batches until nothing is left to lease, and
 * prints `leased <json array of ids>` (every id it was handed, in order) before exiting.
 */
import readline from 'node:readline';
import { openStore } from '../../service/store/index.js';

const [url, owner] = process.argv.slice(2);
const store = await openStore(url!);
const lines = readline.createInterface({ input: process.stdin });
process.stdout.write('ready\n');
await new Promise<void>((resolve) => lines.on('line', (l) => l.trim() === 'go' && resolve()));
lines.close();

const leased: string[] = [];
for (;;) {
  const batch = await store.lease({ owner: owner!, limit: 7, leaseMs: 120_000 });
  if (batch.length === 0) break; // the rest is leased by the other process (or done)
  leased.push(...batch.map((e) => e.id));
  const recorded = await store.complete(owner!, batch.map((e) => ({ id: e.id, state: 'applied' as const })));
  if (recorded !== batch.length) throw new Error(`${owner}: only ${recorded} of ${batch.length} outcomes recorded`);
}
process.stdout.write(`leased ${JSON.stringify(leased)}\n`);
await store.close();
