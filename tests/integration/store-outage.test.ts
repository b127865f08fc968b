/**
 * PostgreSQL going away under load (spec §6: bad things never lose what was answered). The store's
 * connections are killed server-side (pg_terminate_backend) again and again while webhooks arrive:
 * every answer is a 200 or a one-line 503, never a 500 or a hang; every event answered with 200 is
 * stored; the service recovers on its own; and a re-delivery of everything stores no event twice.
 *
 * The store logs in as a role of its own, so only its connections are killed, not those of the
 * tests running beside this one on the same server.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { openStore } from '../../service/store/index.js';
import { EVENT_STATES, type EventStore } from '../../service/store/types.js';
import { JSON_HEADERS, listenApp, PG_BASE, send, type HttpAnswer } from './webhook-helpers.js';

const TOKEN = 'outage-token-0123';
const HEADERS = { ...JSON_HEADERS, authorization: `Bearer ${TOKEN}` };
const suffix = randomBytes(5).toString('hex');
const ROLE = `crs_outage_${suffix}`;
const SCHEMA = `crs_outage_${suffix}`;

async function admin<T>(work: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(PG_BASE);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Kills every server process of the store's role; returns how many there were. */
function killStoreConnections(): Promise<number> {
  return admin(async (c) => {
    const { rows } = await c.query<{ n: string }>(
      'SELECT count(*) AS n FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()) t',
      [ROLE],
    );
    return Number(rows[0]!.n);
  });
}

function body(n: number): string {
  return JSON.stringify({ type: n % 3 === 0 ? 'unsubscribe' : 'open', mailingId: 1001, recipientId: `outage.${n}@example.com`, timestamp: '2026-11-27T04:00:00Z' });
}

describe('PostgreSQL store: connections killed under load', () => {
  let store: EventStore;
  let app: FastifyInstance;
  let base: string;

  beforeAll(async () => {
    await admin(async (c) => {
      await c.query(`CREATE ROLE ${ROLE} LOGIN`);
      await c.query(`GRANT CREATE ON DATABASE test TO ${ROLE}`);
    });
    store = await openStore(`postgres://${ROLE}@127.0.0.1:5432/test?schema=${SCHEMA}`);
    ({ app, base } = await listenApp(store, TOKEN));
  });

  afterAll(async () => {
    await app?.close();
    await store?.close();
    await admin(async (c) => {
      await c.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
      await c.query(`DROP OWNED BY ${ROLE}`).catch(() => undefined);
      await c.query(`DROP ROLE IF EXISTS ${ROLE}`);
    });
  });

  const post = (n: number): Promise<HttpAnswer> => send(base, { path: '/webhooks/campaign/42', headers: HEADERS, body: body(n) });

  it('answers 200 or 503 while its connections die, keeps every answered event, and recovers', async () => {
    const answers = new Map<number, HttpAnswer>();
    let next = 0;
    let sending = true;
    // 16 senders, one request at a time each, until told to stop.
    const senders = Array.from({ length: 16 }, async () => {
      while (sending) {
        const n = next++;
        answers.set(n, await post(n));
      }
    });
    let killed = 0;
    for (let round = 0; round < 5; round++) {
      await new Promise((r) => setTimeout(r, 150));
      killed += await killStoreConnections();
    }
    await new Promise((r) => setTimeout(r, 150));
    sending = false;
    await Promise.all(senders);
    expect(killed).toBeGreaterThan(0);

    const byStatus = new Map<number, number>();
    for (const a of answers.values()) byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
    if (process.env.CRS_TEST_DEBUG) console.log(`killed ${killed} connections; answers by status:`, Object.fromEntries(byStatus));
    expect([...byStatus.keys()].every((s) => s === 200 || s === 503), JSON.stringify(Object.fromEntries(byStatus))).toBe(true);
    for (const a of answers.values()) {
      if (a.status === 503) expect(a.json).toEqual({ error: 'event store unavailable, retry later' });
      else expect(a.json).toEqual({ received: 1, accepted: 1, duplicates: 0, quarantined: 0 });
    }

    // Recovered: a new request is stored at once.
    expect((await post(next)).status).toBe(200);

    // Every answered event is stored, once; a 503 may or may not have committed (the sender retries).
    const stored = (await Promise.all(EVENT_STATES.map((s) => store.list(s, 100_000)))).flat();
    const recipients = stored.map((e) => e.normalized?.email);
    expect(new Set(recipients).size).toBe(recipients.length);
    const storedSet = new Set(recipients);
    for (const [n, a] of answers) if (a.status === 200) expect(storedSet.has(`outage.${n}@example.com`), `event ${n}`).toBe(true);

    // Campaign re-delivers what got a 503 (and, to be sure, everything else): nothing is stored twice.
    const before = stored.length;
    let accepted = 0;
    for (const n of answers.keys()) {
      const again = await post(n);
      expect(again.status).toBe(200);
      accepted += (again.json as { accepted: number }).accepted;
    }
    const after = (await store.counts()).received;
    expect(after).toBe(before + accepted);
    expect(after).toBe(answers.size + 1);
  });
});
