import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../service/config.js';
import { createLogger } from '../../service/log.js';
import { createMetrics } from '../../service/metrics.js';
import { PURGE_CHUNK, createRetentionTask, formatRetention } from '../../service/store/retention-task.js';
import type { EventStore, PurgeOptions } from '../../service/store/types.js';
import { createBackgroundTasks } from '../../service/tasks.js';

const DAY = 86_400_000;
const NOW = new Date('2026-11-26T10:00:00.000Z');

/** A store whose purge() answers from a script: a number, an Error (rejects), or a promise. */
function scriptedStore(answers: (number | Error | Promise<number>)[]) {
  const calls: PurgeOptions[] = [];
  const store: Pick<EventStore, 'purge'> = {
    purge: async (opts) => {
      calls.push(opts);
      const next = answers.shift() ?? 0;
      if (next instanceof Error) throw next;
      return next;
    },
  };
  return { store, calls };
}

function fakeLogger() {
  return { info: vi.fn(), error: vi.fn() };
}

async function purgedTotal(metrics: ReturnType<typeof createMetrics>): Promise<number> {
  const metric = await metrics.registry.getSingleMetric('crs_events_purged_total')!.get();
  return metric.values[0]?.value ?? 0;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('retention task run', () => {
  it('purges in chunks until one comes back short, counts, logs once and reports status', async () => {
    const { store, calls } = scriptedStore([PURGE_CHUNK, PURGE_CHUNK, 1234]);
    const logger = fakeLogger();
    const metrics = createMetrics({ defaultMetrics: false });
    const task = createRetentionTask({ store, retentionMs: 30 * DAY, now: () => NOW, logger, metrics });

    const run = await task.runNow();

    const before = new Date(NOW.getTime() - 30 * DAY);
    expect(calls).toEqual([{ before, limit: PURGE_CHUNK }, { before, limit: PURGE_CHUNK }, { before, limit: PURGE_CHUNK }]);
    expect(run).toEqual({ startedAt: NOW.toISOString(), before: before.toISOString(), purged: 11_234 });
    expect(await purgedTotal(metrics)).toBe(11_234);
    expect(logger.info).toHaveBeenCalledTimes(1);
    expect(logger.info.mock.calls[0]![1]).toMatch(/purged 11234 event/);
    expect(task.status!()).toMatchObject({
      enabled: true, retention: '30d', lastRunAt: NOW.toISOString(), lastPurged: 11_234, totalPurged: 11_234, lastError: null,
    });

    await task.runNow(); // nothing left: one call, no log line
    expect(calls).toHaveLength(4);
    expect(logger.info).toHaveBeenCalledTimes(1);
    expect(task.status!()).toMatchObject({ lastPurged: 0, totalPurged: 11_234 });
  });

  it('asks again after a full chunk even when the total is an exact multiple of it', async () => {
    const { store, calls } = scriptedStore([10, 10, 0]);
    const task = createRetentionTask({ store, retentionMs: DAY, chunkSize: 10, now: () => NOW });
    expect((await task.runNow())?.purged).toBe(20);
    expect(calls).toHaveLength(3);
  });

  it('logs an error, reports it in status and does not throw; the next run clears it', async () => {
    const { store } = scriptedStore([PURGE_CHUNK, new Error('database is locked'), 7]);
    const logger = fakeLogger();
    const metrics = createMetrics({ defaultMetrics: false });
    const task = createRetentionTask({ store, retentionMs: DAY, now: () => NOW, logger, metrics });

    await expect(task.runNow()).resolves.toMatchObject({ purged: PURGE_CHUNK });
    expect(logger.error).toHaveBeenCalledTimes(1);
    expect(task.status!()).toMatchObject({ lastError: 'database is locked', lastPurged: PURGE_CHUNK, totalPurged: PURGE_CHUNK });
    expect(await purgedTotal(metrics)).toBe(PURGE_CHUNK); // what was deleted before the error is counted

    await task.runNow();
    expect(task.status!()).toMatchObject({ lastError: null, lastPurged: 7, totalPurged: PURGE_CHUNK + 7 });
  });

  it('runs one purge at a time: a second runNow waits for the running one', async () => {
    let release!: (n: number) => void;
    const { store, calls } = scriptedStore([new Promise<number>((r) => (release = r))]);
    const task = createRetentionTask({ store, retentionMs: DAY, now: () => NOW });
    const first = task.runNow();
    const second = task.runNow();
    expect(second).toBe(first);
    expect(task.status!()).toMatchObject({ running: true });
    release(3);
    expect((await second)?.purged).toBe(3);
    expect(calls).toHaveLength(1);
  });
});

describe('retention task life cycle', () => {
  it('stop() waits for the purge in flight and starts no further chunk', async () => {
    let release!: (n: number) => void;
    const { store, calls } = scriptedStore([new Promise<number>((r) => (release = r)), PURGE_CHUNK]);
    const task = createRetentionTask({ store, retentionMs: DAY, now: () => NOW });
    await task.start();
    const run = task.runNow();
    await vi.waitFor(() => expect(calls).toHaveLength(1));

    let stopped = false;
    const stopping = task.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(stopped).toBe(false);

    release(PURGE_CHUNK); // a full chunk: without stop() the loop would ask again
    await stopping;
    expect((await run)?.purged).toBe(PURGE_CHUNK);
    expect(calls).toHaveLength(1);
    expect(task.status!()).toMatchObject({ running: false, totalPurged: PURGE_CHUNK, nextRunAt: null });
  });

  it('runs shortly after start, then every interval, also after a failed run, and not after stop()', async () => {
    vi.useFakeTimers({ now: NOW });
    const { store, calls } = scriptedStore([new Error('connection refused'), 1, 2]);
    const task = createRetentionTask({ store, retentionMs: DAY, initialDelayMs: 60_000, intervalMs: 3_600_000 });
    await task.start();
    expect(task.status!()).toMatchObject({ nextRunAt: new Date(NOW.getTime() + 60_000).toISOString() });
    await vi.advanceTimersByTimeAsync(59_999);
    expect(calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toHaveLength(1);
    expect(task.status!()).toMatchObject({ lastError: 'connection refused' });
    await vi.advanceTimersByTimeAsync(3_600_000);
    expect(calls).toHaveLength(2);
    // the cut-off moves with the clock
    expect(calls[1]!.before).toEqual(new Date(NOW.getTime() + 60_000 + 3_600_000 - DAY));
    await task.stop();
    await vi.advanceTimersByTimeAsync(10 * 3_600_000);
    expect(calls).toHaveLength(2);
  });

  it('is off at CRS_EVENT_RETENTION=0: never purges and says why', async () => {
    vi.useFakeTimers({ now: NOW });
    const { store, calls } = scriptedStore([5]);
    const logger = fakeLogger();
    const task = createRetentionTask({ store, retentionMs: 0, logger });
    await task.start();
    await vi.advanceTimersByTimeAsync(48 * 3_600_000);
    expect(await task.runNow()).toBeUndefined();
    expect(calls).toHaveLength(0);
    expect(logger.info.mock.calls[0]![1]).toMatch(/retention off: CRS_EVENT_RETENTION=0/);
    expect(task.status!()).toMatchObject({ enabled: false, disabledReason: expect.stringMatching(/CRS_EVENT_RETENTION=0/), retention: '0', lastRunAt: null });
    await task.stop();
  });
});

describe('retention task wiring', () => {
  it('is one of the service background tasks, configured by CRS_EVENT_RETENTION', async () => {
    const { store } = scriptedStore([]);
    const config = loadConfig({ CRS_EVENT_RETENTION: '45d' });
    const tasks = await createBackgroundTasks({
      config, store: store as EventStore, logger: createLogger({ level: 'silent' }), metrics: createMetrics({ defaultMetrics: false }),
    });
    const retention = tasks.find((t) => t.name === 'retention');
    expect(retention?.status?.()).toMatchObject({ enabled: true, retention: '45d' });
  });

  it.each([[0, '0'], [30 * DAY, '30d'], [36 * 3_600_000, '36h'], [90 * 60_000, '90m'], [86_401_000, '86401s']])(
    'formatRetention(%d) = %s',
    (ms, text) => expect(formatRetention(ms)).toBe(text),
  );
});
