/**
 * §6 scale-out: two service processes on one PostgreSQL store (row leases, SKIP LOCKED) deliver
 * into one Dataverse and end in exactly the state of one process with one ordered delivery.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stateOf } from './helpers.js';
import { deliverOrdered, deliverShuffled, scenarioEvents, SCENARIO_UNMATCHED, startScenarioEmulator } from './scenario.js';
import { settle, spawnService, status, tempStore, type ServiceProcess } from './service.js';

const PG = 'postgres://postgres@127.0.0.1:5432/test';
const events = scenarioEvents();
const everythingDone = (e: { applied: number; ignored: number; unmatched: number; received: number }) =>
  e.received === events.length && e.unmatched === SCENARIO_UNMATCHED && e.applied + e.ignored + e.unmatched === e.received;

describe('two service processes on one PostgreSQL store', () => {
  const schema = `crs_test_${randomBytes(5).toString('hex')}`;
  const cleanups: (() => Promise<void> | void)[] = [];
  let reference: ReturnType<typeof stateOf>;

  beforeAll(async () => {
    const emu = await startScenarioEmulator();
    const store = tempStore();
    const service = await spawnService(emu, store.url);
    cleanups.push(async () => {
      await service.stop();
      await emu.close();
      store.remove();
    });
    await deliverOrdered(service, events);
    await settle(service, everythingDone);
    reference = stateOf(emu);
  }, 120_000);

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
    const client = new pg.Client({ connectionString: PG });
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await client.end();
  });

  it('share the queue and give the same state as one ordered delivery', async () => {
    const emu = await startScenarioEmulator({ latencyMs: 5 });
    const storeUrl = `${PG}?schema=${schema}`;
    const env = { CRS_WORKER_BATCH_SIZE: '5' };
    const services: ServiceProcess[] = [];
    cleanups.push(async () => {
      for (const s of services) await s.stop();
      await emu.close();
    });
    services.push(await spawnService(emu, storeUrl, env));
    services.push(await spawnService(emu, storeUrl, env));
    // Both receive webhooks (Campaign sees one URL behind a load balancer), each event twice.
    await deliverShuffled(services, events, 2, 4242);
    const done = await settle(services[0]!, everythingDone);
    expect(done.deadLetter).toBe(0);
    expect((await status(services[1]!)).events).toEqual(done);
    expect(stateOf(emu)).toEqual(reference);
    // Both processes did part of the work.
    const worked = await Promise.all(services.map(async (s) => {
      const sync = ((await status(s)) as { sync?: { outcomes?: Record<string, number> } }).sync;
      return Object.values(sync?.outcomes ?? {}).reduce((a, b) => a + b, 0);
    }));
    expect(worked.every((n) => n > 0), `events handled per process: ${worked.join(', ')}`).toBe(true);
  }, 120_000);
});
