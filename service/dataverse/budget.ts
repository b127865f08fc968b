/**
 * Client-side service-protection budget: Dataverse allows per user 6,000 requests and
 * 1,200,000 ms of combined execution time per 300-s sliding window (reference
 * dataverse-side.md §3). Rather than discovering these limits by 429s (whose Retry-After comes
 * in whole seconds, and whose AIMD halving undershoots), the client keeps its own sliding window
 * and holds a request back while sending it would take the window past `headroom` (95 %) of
 * either budget. AIMD and the Retry-After gate stay as the safety net for what this budget
 * does not see (other callers with the same user, other web servers, server-side variation).
 *
 * Execution time is estimated from what the client can measure: each request's full duration
 * (send → answer), which includes the network and so over-estimates. When answers carry
 * `x-ms-ratelimit-time-remaining-xrm-requests`, the estimate is scaled towards the server's own
 * figure (never above the measured durations, never below a quarter of them): the docs say not to
 * drive logic from these debug headers, so they only refine the estimate; pacing works without them.
 */
import { systemClock, type Clock } from './throttle.js';

export interface BudgetLimits {
  /** Requests per window. Default 6,000. */
  requestsPerWindow: number;
  /** Combined execution time (ms) per window. Default 1,200,000. */
  executionMsPerWindow: number;
  /** The sliding window (ms). Default 300,000. */
  windowMs: number;
  /** Share of each budget the client uses, leaving room for estimate errors. Default 0.95. */
  headroom: number;
}

export const DEFAULT_BUDGET_LIMITS: BudgetLimits = {
  requestsPerWindow: 6000,
  executionMsPerWindow: 1_200_000,
  windowMs: 300_000,
  headroom: 0.95,
};

/** What to do before sending: go, sleep until the window has slid far enough, or wait for an answer in flight. */
export type BudgetDecision = { kind: 'send' } | { kind: 'sleep'; ms: number } | { kind: 'await-answer' };

/** Bounds of the header-based scale applied to measured durations. */
const MIN_SCALE = 0.25;
const MAX_SCALE = 1;
/** The window's last 1/PACING_SLICES may hold only that share of the budget (spreads the load evenly). */
const PACING_SLICES = 5;
/** Weight of a new observation in the moving averages. */
const SMOOTHING = 0.2;

/** Timestamps with weights, oldest first, with O(1) amortised expiry. */
class SlidingLog {
  private at: number[] = [];
  private weight: number[] = [];
  private head = 0;
  sum = 0;

  add(at: number, weight: number): void {
    this.at.push(at);
    this.weight.push(weight);
    this.sum += weight;
  }

  /** Drops entries at or before `cutoff` (the server's window keeps (now − W, now]). */
  expire(cutoff: number): void {
    while (this.head < this.at.length && this.at[this.head]! <= cutoff) {
      this.sum -= this.weight[this.head]!;
      this.head += 1;
    }
    if (this.head > 1024 && this.head * 2 > this.at.length) {
      this.at = this.at.slice(this.head);
      this.weight = this.weight.slice(this.head);
      this.head = 0;
    }
    if (this.head === this.at.length) this.sum = 0; // no float drift once empty
  }

  get count(): number {
    return this.at.length - this.head;
  }

  /** Entries after `cutoff`, oldest first. */
  *after(cutoff: number): Generator<{ at: number; weight: number }> {
    for (let i = this.head; i < this.at.length; i += 1) {
      if (this.at[i]! > cutoff) yield { at: this.at[i]!, weight: this.weight[i]! };
    }
  }

  /** Sum of the entries after `cutoff`. */
  sumAfter(cutoff: number): number {
    let s = this.sum;
    for (let i = this.head; i < this.at.length && this.at[i]! <= cutoff; i += 1) s -= this.weight[i]!;
    return s;
  }

  /** Index of the first entry after `cutoff`. */
  private firstAfter(cutoff: number): number {
    let i = this.head;
    while (i < this.at.length && this.at[i]! <= cutoff) i += 1;
    return i;
  }

  countAfter(cutoff: number): number {
    return this.at.length - this.firstAfter(cutoff);
  }

  /** Timestamp of the n-th oldest entry after `cutoff` (0-based). */
  nthAfter(cutoff: number, n: number): number | undefined {
    return this.at[this.firstAfter(cutoff) + n];
  }
}

export class ServiceProtectionBudget {
  readonly limits: BudgetLimits;
  private readonly sends = new SlidingLog();
  private readonly executions = new SlidingLog();
  private inFlight = 0;
  /** Moving average of a request's measured duration: the estimate for requests in flight and the next one. */
  private meanDurationMs = 0;
  /** Server execution time ÷ measured duration, from the x-ms-ratelimit-time-remaining header (1 without it). */
  private scale = MAX_SCALE;
  private answerWaiters: Array<() => void> = [];

  constructor(limits: Partial<BudgetLimits> = {}, private readonly clock: Clock = systemClock) {
    this.limits = { ...DEFAULT_BUDGET_LIMITS, ...limits };
  }

  /** The estimated execution time (ms) the server holds in its window now. */
  get executionMsInWindow(): number {
    this.executions.expire(this.clock.now() - this.limits.windowMs);
    return this.executions.sum * this.scale;
  }

  get requestsInWindow(): number {
    this.sends.expire(this.clock.now() - this.limits.windowMs);
    return this.sends.count;
  }

  get executionScale(): number {
    return this.scale;
  }

  /** The budget's view, for logs and the benchmark. */
  snapshot(): { requests: number; executionMs: number; inFlight: number; meanDurationMs: number; scale: number } {
    return { requests: this.requestsInWindow, executionMs: Math.round(this.executionMsInWindow), inFlight: this.inFlight, meanDurationMs: Math.round(this.meanDurationMs), scale: Number(this.scale.toFixed(3)) };
  }

  /**
   * How many requests the execution budget keeps busy on average: E × headroom ÷ W ms of server
   * time per ms, each request costing `scale` of its duration (4 with the defaults). More batches
   * in flight than this only wait for the budget, and splitting work into more, smaller batches
   * spends the request budget for nothing, so the client sizes batches for this many.
   */
  get sustainableConcurrency(): number {
    const { executionMsPerWindow, windowMs, headroom } = this.limits;
    return Math.max(1, Math.ceil((executionMsPerWindow * headroom) / windowMs / this.scale));
  }

  /** Whether a request may leave now, and if not, how long to wait. Pure with respect to the budget's state. */
  decide(now = this.clock.now()): BudgetDecision {
    const { requestsPerWindow, executionMsPerWindow, windowMs, headroom } = this.limits;
    this.sends.expire(now - windowMs);
    this.executions.expire(now - windowMs);
    let sleepMs = 0;
    // The whole window, and its last fifth with a fifth of the budget: without the second, the
    // client would spend a window's budget in a burst and then sit idle until it slides out.
    for (const share of [1, 1 / PACING_SLICES]) {
      const span = windowMs * share;

      // Request count: the server counts a request when it arrives.
      const allowedRequests = Math.max(1, Math.floor(requestsPerWindow * headroom * share));
      const sent = this.sends.countAfter(now - span);
      const excess = sent + 1 - allowedRequests;
      if (excess > 0) sleepMs = Math.max(sleepMs, this.sends.nthAfter(now - span, excess - 1)! + span - now);

      // Execution time: the server adds a request's time when it ends. This request (and those
      // in flight) will land about one mean duration from now, when the window has slid that far.
      const lands = now + this.meanDurationMs;
      const cutoff = lands - span;
      const pending = (this.inFlight + 1) * this.meanDurationMs;
      const allowedRaw = (executionMsPerWindow * headroom * share) / this.scale;
      const deficit = this.executions.sumAfter(cutoff) + pending - allowedRaw;
      if (deficit <= 0) continue;
      if (pending > allowedRaw) {
        // Even an empty window would not hold what is in flight: wait for answers. Alone, a
        // request goes whatever its size (waiting would not make it smaller).
        if (this.inFlight > 0) return { kind: 'await-answer' };
        continue;
      }
      let freed = 0;
      for (const entry of this.executions.after(cutoff)) {
        freed += entry.weight;
        if (freed >= deficit) {
          sleepMs = Math.max(sleepMs, entry.at + span - lands);
          break;
        }
      }
    }
    return sleepMs > 0 ? { kind: 'sleep', ms: Math.ceil(sleepMs) } : { kind: 'send' };
  }

  /**
   * Waits until the request fits the budget, then counts it as sent. Every `acquire` must be
   * followed by one `settle`. Returns how long it waited (ms).
   */
  async acquire(): Promise<number> {
    const start = this.clock.now();
    for (let d = this.decide(); d.kind !== 'send'; d = this.decide()) {
      if (d.kind === 'sleep') await this.clock.sleep(d.ms);
      else await new Promise<void>((resolve) => this.answerWaiters.push(resolve));
    }
    this.sends.add(this.clock.now(), 1);
    this.inFlight += 1;
    return this.clock.now() - start;
  }

  /**
   * The request's answer arrived after `durationMs` (or it failed). `timeRemainingMs` is the
   * `x-ms-ratelimit-time-remaining-xrm-requests` value when the answer carried one.
   */
  settle(durationMs: number, timeRemainingMs?: number): void {
    const now = this.clock.now();
    this.inFlight = Math.max(0, this.inFlight - 1);
    const duration = Math.max(0, durationMs);
    this.executions.add(now, duration);
    this.meanDurationMs = this.meanDurationMs === 0 ? duration : this.meanDurationMs + SMOOTHING * (duration - this.meanDurationMs);
    this.executions.expire(now - this.limits.windowMs);
    // Calibrate only on a meaningful sample: with little in the window, noise dominates.
    if (timeRemainingMs !== undefined && Number.isFinite(timeRemainingMs) && this.executions.sum >= this.limits.executionMsPerWindow * 0.05) {
      const serverMs = Math.max(0, this.limits.executionMsPerWindow - timeRemainingMs);
      const observed = Math.min(MAX_SCALE, Math.max(MIN_SCALE, serverMs / this.executions.sum));
      this.scale += SMOOTHING * (observed - this.scale);
    }
    const waiters = this.answerWaiters;
    this.answerWaiters = [];
    for (const wake of waiters) wake();
  }
}
