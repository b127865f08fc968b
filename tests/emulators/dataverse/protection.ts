/**
 * Service protection limits per caller (reference dataverse-side.md §3): requests per sliding
 * window, combined execution time per window, concurrent requests. A $batch counts as one request;
 * its operations add up in execution time (api-limits: "the combined execution time limit will
 * counter" bundling in batches).
 */
export interface Limits {
  requestsPerWindow: number;
  windowMs: number;
  maxConcurrent: number;
  executionMsPerWindow: number;
  dopHint: number;
}

export const DEFAULT_LIMITS: Limits = {
  requestsPerWindow: 6000,
  windowMs: 300_000,
  maxConcurrent: 52,
  executionMsPerWindow: 1_200_000,
  dopHint: 4,
};

export type Verdict =
  | { ok: true }
  | { ok: false; code: string; message: string; retryAfterSeconds: number };

/** A FIFO of timestamps (and weights) with O(1) amortised expiry. */
class Window {
  private ts: number[] = [];
  private w: number[] = [];
  private head = 0;
  sum = 0;
  expire(now: number, windowMs: number): void {
    while (this.head < this.ts.length && this.ts[this.head]! <= now - windowMs) {
      this.sum -= this.w[this.head]!;
      this.head++;
    }
    if (this.head > 4096 && this.head * 2 > this.ts.length) {
      this.ts = this.ts.slice(this.head);
      this.w = this.w.slice(this.head);
      this.head = 0;
    }
  }
  add(now: number, weight: number): void {
    this.ts.push(now);
    this.w.push(weight);
    this.sum += weight;
  }
  get count(): number {
    return this.ts.length - this.head;
  }
  /** Milliseconds until the sum drops below `limit` (entries leave the window oldest first). */
  msUntilBelow(limit: number, now: number, windowMs: number): number {
    let s = this.sum;
    for (let i = this.head; i < this.ts.length; i++) {
      s -= this.w[i]!;
      if (s < limit) return Math.max(0, this.ts[i]! + windowMs - now);
    }
    return windowMs;
  }
}

interface CallerState {
  requests: Window;
  execution: Window;
  inFlight: number;
}

export class Protection {
  private readonly callers = new Map<string, CallerState>();

  constructor(readonly limits: Limits) {}

  private state(caller: string): CallerState {
    let s = this.callers.get(caller);
    if (!s) {
      s = { requests: new Window(), execution: new Window(), inFlight: 0 };
      this.callers.set(caller, s);
    }
    return s;
  }

  reset(): void {
    this.callers.clear();
  }

  /**
   * Admits a request or says why not. Rejected requests still count in the request window, so a
   * client that keeps sending while throttled sees a growing Retry-After.
   */
  admit(caller: string, now: number): Verdict {
    const s = this.state(caller);
    const L = this.limits;
    s.requests.expire(now, L.windowMs);
    s.execution.expire(now, L.windowMs);
    if (s.inFlight >= L.maxConcurrent) {
      // The concurrency limit errors immediately; a second is enough for one request to finish.
      return { ok: false, code: '0x80072326', message: `Number of concurrent requests exceeded the limit of ${L.maxConcurrent}.`, retryAfterSeconds: 1 };
    }
    s.requests.add(now, 1);
    if (s.requests.count > L.requestsPerWindow) {
      const ms = s.requests.msUntilBelow(L.requestsPerWindow, now, L.windowMs);
      return {
        ok: false, code: '0x80072322',
        message: `Number of requests exceeded the limit of ${L.requestsPerWindow} over time window of ${Math.round(L.windowMs / 1000)} seconds.`,
        retryAfterSeconds: Math.max(1, Math.ceil(ms / 1000)),
      };
    }
    if (s.execution.sum >= L.executionMsPerWindow) {
      const ms = s.execution.msUntilBelow(L.executionMsPerWindow, now, L.windowMs);
      return {
        ok: false, code: '0x80072321',
        message: `Combined execution time of incoming requests exceeded limit of ${L.executionMsPerWindow.toLocaleString('en-US')} milliseconds over time window of ${Math.round(L.windowMs / 1000)} seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later.`,
        retryAfterSeconds: Math.max(1, Math.ceil(ms / 1000)),
      };
    }
    s.inFlight++;
    return { ok: true };
  }

  /** Ends an admitted request, recording its (modelled) execution time. */
  release(caller: string, now: number, executionMs: number): void {
    const s = this.state(caller);
    s.inFlight = Math.max(0, s.inFlight - 1);
    s.execution.add(now, executionMs);
  }

  /** Values for the x-ms-ratelimit-* debug headers. */
  remaining(caller: string): { requests: number; timeMs: number } {
    const s = this.state(caller);
    return {
      requests: Math.max(0, this.limits.requestsPerWindow - s.requests.count),
      timeMs: Math.max(0, Math.round(this.limits.executionMsPerWindow - s.execution.sum)),
    };
  }
}
