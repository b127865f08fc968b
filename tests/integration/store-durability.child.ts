/**
 * Child process of store-durability.test.ts: appends batches of events to a SQLite store forever and
 * prints `acked <n>` after each append promise resolved (n = events acknowledged so far). The parent
 * kills it with SIGKILL at an arbitrary moment.
 */
import { openStore } from '../../service/store/index.js';

const [url, startArg] = process.argv.slice(2);
const store = await openStore(url!);
let next = Number(startArg ?? 0);
process.stdout.write('ready\n');
for (;;) {
  const batch = Array.from({ length: 10 }, (_, i) => {
    const key = `durable-${next + i}`;
    return {
      clientId: '100',
      raw: JSON.stringify({ id: key, type: 'open' }),
      normalized: { key, type: 'open' as const, clientId: '100', occurredAt: '2026-11-26T10:00:00Z', origin: 'webhook' as const },
    };
  });
  // two concurrent calls per round, so the kill can also land in a group commit
  const [a, b] = await Promise.all([store.append(batch.slice(0, 5)), store.append(batch.slice(5))]);
  if (a.accepted + b.accepted !== 10) throw new Error(`expected 10 accepted, got ${a.accepted + b.accepted}`);
  next += 10;
  process.stdout.write(`acked ${next}\n`);
}
