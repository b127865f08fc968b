/**
 * Adaptive concurrency (AIMD) for Dataverse requests: start low, add one slot after every
 * `limit` healthy answers in a row, halve on throttling, never exceed min(x-ms-dop-hint,
 * configured maximum, 52). The state machine is pure; AdaptiveLimiter wraps it in a semaphore.
 */

/** Dataverse's default concurrent-request limit per user and web server. */
export const DATAVERSE_MAX_CONCURRENCY = 52;

export interface AimdState {
  limit: number;
  /** The ceiling: min(configured maximum, dop hint, 52). */
  cap: number;
  configuredMax: number;
  /** Healthy answers counted towards the next increase. */
  streak: number;
  /** Epoch ms of the last decrease; throttles answered before it belong to the same episode. */
  lastDecreaseAt: number;
  /** No growth before this time (epoch ms): after a throttle, hold the halved limit for a while. */
  holdUntil: number;
}

/** How long the limit stays put after a decrease before additive growth resumes. */
export const HOLD_AFTER_THROTTLE_MS = 5_000;

export function initialAimd(initial: number, configuredMax: number): AimdState {
  const cap = Math.max(1, Math.min(Math.floor(configuredMax), DATAVERSE_MAX_CONCURRENCY));
  return { limit: Math.max(1, Math.min(Math.floor(initial), cap)), cap, configuredMax: cap, streak: 0, lastDecreaseAt: -Infinity, holdUntil: -Infinity };
}

/** A request was answered without throttling. */
export function onHealthy(state: AimdState, now = Infinity): AimdState {
  // Right after a throttle, growing back at once would run into the same limit again: the
  // server's Retry-After already paces the client, so the halved limit is kept for a while.
  if (now < state.holdUntil) return state;
  const streak = state.streak + 1;
  if (streak >= state.limit && state.limit < state.cap) return { ...state, limit: state.limit + 1, streak: 0 };
  return { ...state, streak: state.limit >= state.cap ? 0 : streak };
}

/**
 * A request was throttled (429). Requests sent before the previous decrease that come back
 * throttled are part of the same episode and do not halve again.
 */
export function onThrottled(state: AimdState, now: number, sentAt: number, holdMs = HOLD_AFTER_THROTTLE_MS): AimdState {
  if (sentAt < state.lastDecreaseAt) return state;
  return { ...state, limit: Math.max(1, Math.floor(state.limit / 2)), streak: 0, lastDecreaseAt: now, holdUntil: now + holdMs };
}

/** Applies an `x-ms-dop-hint` header value. */
export function onDopHint(state: AimdState, hint: number): AimdState {
  if (!Number.isFinite(hint) || hint < 1) return state;
  const cap = Math.max(1, Math.min(state.configuredMax, Math.floor(hint), DATAVERSE_MAX_CONCURRENCY));
  if (cap === state.cap) return state;
  return { ...state, cap, limit: Math.min(state.limit, cap) };
}

/** A semaphore whose size follows the AIMD state. */
export class AdaptiveLimiter {
  private state: AimdState;
  private active = 0;
  private readonly waiters: Array<() => void> = [];

  constructor(initial: number, configuredMax: number, private readonly onChange?: (limit: number) => void) {
    this.state = initialAimd(initial, configuredMax);
    onChange?.(this.state.limit);
  }

  get limit(): number {
    return this.state.limit;
  }

  get cap(): number {
    return this.state.cap;
  }

  get inFlight(): number {
    return this.active;
  }

  async acquire(): Promise<void> {
    if (this.active < this.state.limit) {
      this.active += 1;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    this.active -= 1;
    this.drain();
  }

  healthy(now: number): void {
    this.update(onHealthy(this.state, now));
  }

  throttled(now: number, sentAt: number): void {
    this.update(onThrottled(this.state, now, sentAt));
  }

  dopHint(hint: number): void {
    this.update(onDopHint(this.state, hint));
  }

  private update(next: AimdState): void {
    const changed = next.limit !== this.state.limit;
    this.state = next;
    if (changed) this.onChange?.(next.limit);
    this.drain();
  }

  private drain(): void {
    while (this.active < this.state.limit && this.waiters.length > 0) {
      this.active += 1;
      this.waiters.shift()!();
    }
  }
}
