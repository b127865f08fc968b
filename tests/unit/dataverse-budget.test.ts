import { afterEach, describe, expect, it } from 'vitest';
import { StaticTokenProvider } from '../../service/dataverse/auth.js';
import { ServiceProtectionBudget, type BudgetLimits } from '../../service/dataverse/budget.js';
import { HttpDataverseClient } from '../../service/dataverse/client.js';
import type { Clock } from '../../service/dataverse/throttle.js';
import { DataverseStub } from './dataverse-stub.js';

/** A clock that only moves when the test says so; sleepers wake in time order. */
class FakeClock implements Clock {
  private t = 0;
  private timers: Array<{ at: number; wake: () => void }> = [];

  now(): number {
    return this.t;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.timers.push({ at: this.t + ms, wake: resolve }));
  }

  get sleepers(): number {
    return this.timers.length;
  }

  /** Moves time forward, waking due sleepers one by one (and letting their continuations run). */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await flush();
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = Math.max(this.t, next.at);
      next.wake();
    }
    this.t = end;
    await flush();
  }
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 20; i += 1) await Promise.resolve();
};

/** A clock whose sleeps pass at once (virtual time): lets a real client run a whole window in milliseconds. */
class VirtualClock implements Clock {
  t = 0;
  now(): number {
    return this.t;
  }
  async sleep(ms: number): Promise<void> {
    this.t += ms;
    await Promise.resolve();
  }
}

const limits = (l: Partial<BudgetLimits>): Partial<BudgetLimits> => ({ requestsPerWindow: 1e9, executionMsPerWindow: 1e12, windowMs: 1000, headroom: 1, ...l });

/** Most entries of `times` inside any half-open span (t - span, t]. */
function busiestSpan(times: number[], span: number): number {
  let most = 0;
  for (const t of times) most = Math.max(most, times.filter((u) => u > t - span && u <= t).length);
  return most;
}

describe('ServiceProtectionBudget.decide', () => {
  it('lets a request go while the window has room', () => {
    const budget = new ServiceProtectionBudget({}, new FakeClock());
    expect(budget.decide()).toEqual({ kind: 'send' });
  });

  it('defaults to the documented limits: 6,000 requests and 1,200,000 ms per 300 s, using 95 %', () => {
    expect(new ServiceProtectionBudget().limits).toEqual({ requestsPerWindow: 6000, executionMsPerWindow: 1_200_000, windowMs: 300_000, headroom: 0.95 });
  });

  it('holds the request that would exceed the request budget until the window slides', async () => {
    const clock = new FakeClock();
    // 10 requests per 1000 ms; a fifth of the window (200 ms) holds 2.
    const budget = new ServiceProtectionBudget(limits({ requestsPerWindow: 10 }), clock);
    for (let i = 0; i < 10; i += 1) {
      expect(budget.decide()).toEqual({ kind: 'send' });
      await budget.acquire();
      budget.settle(0);
      if (i % 2 === 1 && i < 9) await clock.advance(200); // pairs at t = 0, 200, … 800
    }
    await clock.advance(50);
    // The window holds 10: the next waits until the pair sent at t = 0 is older than 1000 ms.
    expect(budget.decide()).toEqual({ kind: 'sleep', ms: 150 });
    await clock.advance(149);
    expect(budget.decide()).toEqual({ kind: 'sleep', ms: 1 });
    await clock.advance(1);
    expect(budget.decide()).toEqual({ kind: 'send' });
  });

  it('spreads requests evenly: no fifth of the window holds more than a fifth of the budget', () => {
    const clock = new FakeClock();
    const budget = new ServiceProtectionBudget(limits({ requestsPerWindow: 10 }), clock);
    void budget.acquire();
    void budget.acquire();
    expect(budget.decide()).toEqual({ kind: 'sleep', ms: 200 });
  });

  it('holds a request while the execution time of the window plus what is in flight would exceed the budget', async () => {
    const clock = new FakeClock();
    // 1000 ms of execution per 1000 ms; a fifth (200 ms) holds 200 ms.
    const budget = new ServiceProtectionBudget(limits({ executionMsPerWindow: 1000 }), clock);
    await budget.acquire();
    await clock.advance(100);
    budget.settle(100); // landed at t = 100; mean duration 100
    expect(budget.decide()).toEqual({ kind: 'send' }); // 100 + 100 (this one) ≤ 200 in the last fifth
    await budget.acquire(); // in flight: counts as one mean duration
    // Window (last fifth, looking one mean duration ahead) 100 + in flight 100 + this 100 > 200:
    // wait until the entry that landed at t = 100 is older than a fifth when this one lands: 100 + 200 - (100 + 100) = 100.
    expect(budget.decide()).toEqual({ kind: 'sleep', ms: 100 });
  });

  it('waits for an answer when even an empty window could not hold what is in flight', async () => {
    const clock = new FakeClock();
    const budget = new ServiceProtectionBudget(limits({ executionMsPerWindow: 1000 }), clock);
    await budget.acquire();
    await clock.advance(150);
    budget.settle(150); // mean 150
    await clock.advance(1000); // the window is empty again
    await budget.acquire(); // one in flight (150) + this one (150) > 200 in a fifth
    expect(budget.decide()).toEqual({ kind: 'await-answer' });
    const waiting = budget.acquire();
    let sent = false;
    void waiting.then(() => (sent = true));
    await clock.advance(10);
    expect(sent).toBe(false);
    budget.settle(10);
    await flush();
    expect(sent).toBe(true);
  });

  it('scales measured durations to the server figure of x-ms-ratelimit-time-remaining (never above the durations)', async () => {
    const clock = new FakeClock();
    const budget = new ServiceProtectionBudget(limits({ executionMsPerWindow: 10_000, windowMs: 100_000 }), clock);
    for (let i = 0; i < 20; i += 1) {
      await budget.acquire();
      await clock.advance(100);
      // The server counted 80 of every 100 ms the client measured (the rest was the network).
      budget.settle(100, 10_000 - 80 * (i + 1));
    }
    expect(budget.executionScale).toBeGreaterThan(0.8);
    expect(budget.executionScale).toBeLessThan(0.85);
    expect(budget.executionMsInWindow).toBeCloseTo(2000 * budget.executionScale);
    // A header claiming more than the durations does not raise the estimate above them.
    for (let i = 0; i < 50; i += 1) {
      await budget.acquire();
      budget.settle(0, 0);
    }
    expect(budget.executionScale).toBeLessThanOrEqual(1);
  });

  it('sizes batches for the concurrency the execution budget sustains (4 with the defaults)', () => {
    expect(new ServiceProtectionBudget().sustainableConcurrency).toBe(4);
    expect(new ServiceProtectionBudget({ executionMsPerWindow: 60_000, windowMs: 5_000 }).sustainableConcurrency).toBe(12);
  });
});

describe('ServiceProtectionBudget.acquire with a fake clock', () => {
  it('parks requests when the budget is used and lets them go as the window slides', async () => {
    const clock = new FakeClock();
    const budget = new ServiceProtectionBudget(limits({ requestsPerWindow: 10 }), clock);
    const sentAt: number[] = [];
    const all = Array.from({ length: 25 }, async () => {
      await budget.acquire();
      sentAt.push(clock.now());
      budget.settle(0);
    });
    await clock.advance(0);
    expect(sentAt).toEqual([0, 0]); // a fifth of the budget at once; the rest wait
    expect(clock.sleepers).toBe(23);
    await clock.advance(200);
    expect(sentAt).toHaveLength(4);
    await clock.advance(2500);
    await Promise.all(all);
    expect(sentAt).toHaveLength(25);
    expect(busiestSpan(sentAt, 1000)).toBeLessThanOrEqual(10);
    expect(busiestSpan(sentAt, 200)).toBeLessThanOrEqual(2);
    // 25 requests at 10 per second: the last leaves after 2.4 s, not all at once.
    expect(sentAt.at(-1)).toBe(2400);
  });
});

describe('HttpDataverseClient pacing (virtual time)', () => {
  let stub: DataverseStub | undefined;
  let client: HttpDataverseClient | undefined;
  afterEach(async () => {
    await client?.close();
    await stub?.close();
    stub = undefined;
    client = undefined;
  });

  async function run(serviceProtection: Partial<BudgetLimits> | false): Promise<{ sentAt: number[]; throttled: number }> {
    const clock = new VirtualClock();
    const sentAt: number[] = [];
    // Every request takes 50 ms of (virtual) server time; the stub answers at once.
    stub = await new DataverseStub(() => {
      sentAt.push(clock.t);
      clock.t += 50;
      return { status: 200, body: { value: [] } };
    }).start();
    let throttled = 0;
    client = new HttpDataverseClient({
      baseUrl: stub.url,
      tokenProvider: new StaticTokenProvider(() => 't'),
      clock,
      coalesceReads: false,
      serviceProtection,
      metrics: { request: () => undefined, throttleWait: () => undefined, throttled: () => (throttled += 1), concurrency: () => undefined },
    });
    for (let i = 0; i < 60; i += 1) await client.query('contacts', '$top=1');
    return { sentAt, throttled };
  }

  it('keeps every window under the request budget (fails without the pacing)', async () => {
    const budget = { requestsPerWindow: 20, windowMs: 10_000, executionMsPerWindow: 1e9 };
    const paced = await run(budget);
    expect(paced.sentAt).toHaveLength(60);
    expect(busiestSpan(paced.sentAt, 10_000)).toBeLessThanOrEqual(19); // 95 % of 20
    await client!.close();
    await stub!.close();
    client = undefined;
    stub = undefined;
    const unpaced = await run(false);
    expect(busiestSpan(unpaced.sentAt, 10_000)).toBeGreaterThan(20);
  });

  it('keeps every window under the execution budget', async () => {
    // 1,000 ms of execution per 10 s; each request is 50 ms long: 19 per window at 95 %.
    const paced = await run({ requestsPerWindow: 1e6, windowMs: 10_000, executionMsPerWindow: 1000 });
    expect(paced.sentAt).toHaveLength(60);
    expect(busiestSpan(paced.sentAt, 10_000)).toBeLessThanOrEqual(19);
    expect(paced.sentAt.at(-1)!).toBeGreaterThan(20_000); // 60 requests need three windows
  });
});
