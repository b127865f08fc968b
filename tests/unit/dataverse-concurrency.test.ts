import { describe, expect, it } from 'vitest';
import { AdaptiveLimiter, initialAimd, onDopHint, onHealthy, onThrottled, type AimdState } from '../../service/dataverse/concurrency.js';
import { parseRetryAfter, RetryAfterGate, type Clock } from '../../service/dataverse/throttle.js';

function healthyTimes(state: AimdState, n: number): AimdState {
  for (let i = 0; i < n; i += 1) state = onHealthy(state);
  return state;
}

describe('AIMD concurrency', () => {
  it('starts at the initial value, capped by the configured maximum and 52', () => {
    expect(initialAimd(4, 52)).toMatchObject({ limit: 4, cap: 52 });
    expect(initialAimd(4, 2)).toMatchObject({ limit: 2, cap: 2 });
    expect(initialAimd(4, 500)).toMatchObject({ cap: 52 });
  });

  it('grows by one after `limit` healthy answers in a row (additive increase)', () => {
    let s = initialAimd(4, 52);
    s = healthyTimes(s, 3);
    expect(s.limit).toBe(4);
    s = onHealthy(s);
    expect(s.limit).toBe(5);
    s = healthyTimes(s, 5);
    expect(s.limit).toBe(6);
  });

  it('never grows past the cap', () => {
    const s = healthyTimes(initialAimd(4, 8), 1000);
    expect(s.limit).toBe(8);
  });

  it('halves on throttling, but only once per episode (requests sent before the decrease)', () => {
    let s = { ...initialAimd(4, 52), limit: 40 };
    s = onThrottled(s, 1000, 900);
    expect(s.limit).toBe(20);
    s = onThrottled(s, 1001, 950); // sent before the decrease at 1000: same episode
    expect(s.limit).toBe(20);
    s = onThrottled(s, 2000, 1500); // sent after: a new episode
    expect(s.limit).toBe(10);
    for (let t = 3000; t < 10_000; t += 1000) s = onThrottled(s, t, t - 1);
    expect(s.limit).toBe(1);
  });

  it('holds the halved limit for a while after a throttle, then grows again', () => {
    let s = onThrottled({ ...initialAimd(4, 52), limit: 20 }, 10_000, 9_000, 5_000);
    expect(s).toMatchObject({ limit: 10, holdUntil: 15_000 });
    for (let t = 10_001; t < 15_000; t += 100) s = onHealthy(s, t);
    expect(s.limit).toBe(10);
    for (let i = 0; i < 10; i += 1) s = onHealthy(s, 15_000 + i);
    expect(s.limit).toBe(11);
  });

  it('caps at x-ms-dop-hint (and lowers the current limit), ignoring nonsense hints', () => {
    let s = { ...initialAimd(4, 52), limit: 30 };
    s = onDopHint(s, 12);
    expect(s).toMatchObject({ cap: 12, limit: 12 });
    expect(healthyTimes(s, 500).limit).toBe(12);
    expect(onDopHint(s, 0)).toBe(s);
    expect(onDopHint(s, Number.NaN)).toBe(s);
    expect(onDopHint(initialAimd(4, 20), 64).cap).toBe(20); // configured maximum wins over a larger hint
    expect(onDopHint(initialAimd(4, 52), 200).cap).toBe(52);
  });

  it('AdaptiveLimiter admits up to the limit and queues the rest', async () => {
    const limits: number[] = [];
    const limiter = new AdaptiveLimiter(2, 52, (l) => limits.push(l));
    await limiter.acquire();
    await limiter.acquire();
    let third = false;
    const pending = limiter.acquire().then(() => {
      third = true;
    });
    await Promise.resolve();
    expect(third).toBe(false);
    limiter.healthy(0);
    limiter.healthy(0); // limit 2 → 3 admits the waiter
    await pending;
    expect(third).toBe(true);
    expect(limiter.inFlight).toBe(3);
    expect(limits).toEqual([2, 3]);
  });
});

describe('Retry-After', () => {
  it.each([
    ['5', 5000],
    ['0', 0],
    ['1.5', 1500],
    [undefined, 7000],
    ['', 7000],
    ['soon', 7000],
    [new Date(1_000_000 + 3000).toUTCString(), 3000],
  ])('parseRetryAfter(%o) = %i ms', (value, expected) => {
    expect(parseRetryAfter(value, 1_000_000, 7000)).toBe(expected);
  });

  it('the gate holds everyone until the latest pause has elapsed, even if extended while waiting', async () => {
    let now = 0;
    const sleeps: number[] = [];
    const clock: Clock = {
      now: () => now,
      sleep: async (ms) => {
        sleeps.push(ms);
        now += ms;
        if (sleeps.length === 1) gate.pause(500); // another 429 arrives while waiting
      },
    };
    const gate = new RetryAfterGate(clock);
    expect(await gate.wait()).toBe(0);
    gate.pause(1000);
    gate.pause(200); // a shorter pause never shortens the longer one
    expect(gate.remaining()).toBe(1000);
    const waited = await gate.wait();
    expect(now).toBe(1500);
    expect(waited).toBe(1500);
    expect(sleeps).toEqual([1000, 500]);
  });
});
