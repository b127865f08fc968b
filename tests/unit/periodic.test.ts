/** service/periodic.ts: the schedule the reconciliation and retention tasks share (virtual time). */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createPeriodicSchedule } from '../../service/periodic.js';

/** A run the test settles by hand, counting how often it started. */
function manualRun() {
  const started: ((value: number) => void)[] = [];
  const run = vi.fn(() => new Promise<number>((resolve) => started.push(resolve)));
  return { run, finish: (value: number) => started.shift()!(value), get pending() { return started.length; } };
}

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(new Date('2026-11-27T00:00:00Z'));
});
afterEach(() => {
  vi.useRealTimers();
});

describe('createPeriodicSchedule', () => {
  it('never runs twice at once: runNow joins the run in flight, and starts a new one after it', async () => {
    const r = manualRun();
    const schedule = createPeriodicSchedule({ run: r.run, intervalMs: 1000 });
    const first = schedule.runNow();
    const joined = schedule.runNow();
    expect(r.run).toHaveBeenCalledTimes(1);
    expect(schedule.running).toBe(true);
    r.finish(7);
    expect(await first).toBe(7);
    expect(await joined).toBe(7);
    expect(schedule.running).toBe(false);
    const second = schedule.runNow();
    expect(r.run).toHaveBeenCalledTimes(2);
    r.finish(8);
    expect(await second).toBe(8);
  });

  it('runs after the first delay, then every interval counted from the end of a run', async () => {
    const r = manualRun();
    const schedule = createPeriodicSchedule({ run: r.run, intervalMs: 1000 });
    schedule.start(100);
    expect(schedule.nextRunAt?.toISOString()).toBe('2026-11-27T00:00:00.100Z');
    await vi.advanceTimersByTimeAsync(99);
    expect(r.run).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(r.run).toHaveBeenCalledTimes(1);
    expect(schedule.nextRunAt).toBeUndefined(); // while the tick is handled
    await vi.advanceTimersByTimeAsync(5000); // a long run: no second run meanwhile
    expect(r.run).toHaveBeenCalledTimes(1);
    r.finish(1);
    await vi.advanceTimersByTimeAsync(0);
    expect(schedule.nextRunAt?.toISOString()).toBe('2026-11-27T00:00:06.100Z');
    await vi.advanceTimersByTimeAsync(1000);
    expect(r.run).toHaveBeenCalledTimes(2);
    await schedule.stop(() => r.finish(2));
  });

  it('takes the next delay from a custom tick, and retries a failed tick after the interval', async () => {
    const run = vi.fn(async () => 1);
    const tick = vi.fn<(runNow: () => Promise<number>) => Promise<number>>()
      .mockResolvedValueOnce(300) // e.g. "not due yet: wait 300 ms"
      .mockRejectedValueOnce(new Error('state unreadable'))
      .mockImplementation(async (runNow) => {
        await runNow();
        return 1000;
      });
    const schedule = createPeriodicSchedule({ run, intervalMs: 1000, tick });
    schedule.start(10);
    await vi.advanceTimersByTimeAsync(10);
    expect(tick).toHaveBeenCalledTimes(1);
    expect(run).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(300);
    expect(tick).toHaveBeenCalledTimes(2); // rejected
    await vi.advanceTimersByTimeAsync(999);
    expect(tick).toHaveBeenCalledTimes(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(tick).toHaveBeenCalledTimes(3);
    expect(run).toHaveBeenCalledTimes(1);
    await schedule.stop();
  });

  it('stop: no more ticks, interrupts and waits for the run in flight; start clears it', async () => {
    const r = manualRun();
    const schedule = createPeriodicSchedule({ run: r.run, intervalMs: 1000 });
    schedule.start(10);
    await vi.advanceTimersByTimeAsync(10);
    expect(r.pending).toBe(1);
    let stopped = false;
    const interrupt = vi.fn(() => r.finish(0)); // like an AbortController ending the run
    const stopping = schedule.stop(interrupt).then(() => (stopped = true));
    expect(schedule.stopped).toBe(true);
    expect(interrupt).toHaveBeenCalledTimes(1);
    await stopping;
    expect(stopped).toBe(true);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(r.run).toHaveBeenCalledTimes(1);
    expect(schedule.nextRunAt).toBeUndefined();

    schedule.start(10);
    expect(schedule.stopped).toBe(false);
    await vi.advanceTimersByTimeAsync(10);
    expect(r.run).toHaveBeenCalledTimes(2);
    await schedule.stop(() => r.finish(0));
  });

  it('stop waits for a run that was started by runNow, and does not reject when that run fails', async () => {
    let fail: (e: Error) => void = () => undefined;
    const schedule = createPeriodicSchedule({ run: () => new Promise<number>((_, reject) => (fail = reject)), intervalMs: 1000 });
    const run = schedule.runNow();
    run.catch(() => undefined);
    let stopped = false;
    const stopping = schedule.stop().then(() => (stopped = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(stopped).toBe(false);
    fail(new Error('boom'));
    await stopping;
    expect(stopped).toBe(true);
    await expect(run).rejects.toThrow('boom');
  });
});
