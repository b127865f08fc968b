/**
 * R9 and §6 end to end: the state in Dataverse after one ordered delivery is the reference; the
 * same events delivered three times in shuffled batches, a kill -9 during delivery followed by a
 * restart, and 503s plus a 429 storm must all end in exactly that state.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stateOf } from './helpers.js';
import { deliverOrdered, deliverShuffled, scenarioEvents, SCENARIO_UNMATCHED, startScenarioEmulator } from './scenario.js';
import { settle, spawnService, status, tempStore, type ServiceProcess } from './service.js';

const events = scenarioEvents();
const everythingDone = (e: { applied: number; ignored: number; unmatched: number; received: number; deadLetter: number }) =>
  e.received === events.length && e.unmatched === SCENARIO_UNMATCHED && e.applied + e.ignored + e.unmatched === e.received;

describe('exactly-once effect in Dataverse (spawned service, emulator)', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  let reference: ReturnType<typeof stateOf>;

  async function setup(emuOpts: Parameters<typeof startScenarioEmulator>[0] = {}, env: Record<string, string> = {}) {
    const emu = await startScenarioEmulator(emuOpts);
    const store = tempStore();
    const service = await spawnService(emu, store.url, env);
    cleanups.push(async () => {
      await service.stop();
      await emu.close();
      store.remove();
    });
    return { emu, store, service };
  }

  beforeAll(async () => {
    const { emu, service } = await setup();
    await deliverOrdered(service, events);
    const done = await settle(service, everythingDone);
    expect(done.deadLetter).toBe(0);
    reference = stateOf(emu);
    // The reference is not empty: responses, consents, history entries, parties.
    expect(reference.campaignresponse?.length).toBeGreaterThan(10);
    expect(reference.crs_optinhistory?.length).toBeGreaterThan(5);
  }, 120_000);

  afterAll(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  it('three shuffled deliveries in random batches give exactly the state of one ordered delivery', async () => {
    const { emu, service } = await setup();
    await deliverShuffled([service], events, 3, 20261126);
    const done = await settle(service, everythingDone);
    expect(done.deadLetter).toBe(0);
    expect(stateOf(emu)).toEqual(reference);
  }, 120_000);

  it('kill -9 during delivery, then a restart on the same store, gives exactly the same state', async () => {
    // Slow Dataverse and small batches, so the kill lands in the middle of the delivery.
    const emu = await startScenarioEmulator({ latencyMs: 25 });
    const store = tempStore();
    const env = { CRS_WORKER_BATCH_SIZE: '4' };
    const running: { first?: ServiceProcess; second?: ServiceProcess } = {};
    const first = await spawnService(emu, store.url, env);
    running.first = first;
    cleanups.push(async () => {
      await running.first?.stop();
      await running.second?.stop();
      await emu.close();
      store.remove();
    });
    await deliverShuffled([first], events, 1, 7);
    // Wait until some, but not all, events are applied — then kill without any shutdown.
    for (let i = 0; i < 600; i++) {
      const e = (await status(first)).events;
      if (e.applied >= 8) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const before = (await status(first)).events;
    const writesBefore = emu.journal().filter((j) => j.method === 'POST' && j.path.endsWith('$batch')).length;
    await first.kill9();
    running.first = undefined;
    expect(before.pending).toBeGreaterThan(0); // the kill really interrupted the delivery
    expect(writesBefore).toBeGreaterThan(0);

    const second = await spawnService(emu, store.url, env);
    running.second = second;
    const done = await settle(second, everythingDone);
    expect(done.deadLetter).toBe(0);
    expect(stateOf(emu)).toEqual(reference);
  }, 120_000);

  it('503s for a while and a 429 storm only delay: same state, and no request before Retry-After elapsed', async () => {
    const { emu, service } = await setup();
    emu.faults.throttleFor(2_500, 1);
    emu.faults.failNext(3, 503);
    await deliverShuffled([service], events, 2, 99);
    const done = await settle(service, everythingDone, 90_000);
    expect(done.deadLetter).toBe(0);
    expect(stateOf(emu)).toEqual(reference);

    const api = emu.journal().filter((j) => j.path.startsWith('/api/'));
    const throttled = api.filter((j) => j.status === 429);
    expect(throttled.length).toBeGreaterThan(0);
    expect(api.some((j) => j.status === 503)).toBe(true);
    // A request sent after the client saw a 429 (arriving later than the 429's answer plus a margin
    // for requests already on the wire) must not arrive before Retry-After has elapsed.
    const inFlightMarginMs = 200;
    for (const t of throttled) {
      const answeredAt = t.at + t.durationMs;
      const retryAfterMs = (t.retryAfterSeconds ?? 0) * 1000;
      const early = api.filter((j) => j.at > answeredAt + inFlightMarginMs && j.at < answeredAt + retryAfterMs);
      expect(early, `requests within Retry-After of the 429 at ${t.at}`).toEqual([]);
    }
  }, 120_000);
});
