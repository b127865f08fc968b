/**
 * Client-wide Retry-After gate: once any request is throttled, no request to Dataverse leaves
 * until the Retry-After has elapsed (Dataverse counts limits per user, so every request of this
 * client shares the penalty, and sending while throttled makes Retry-After grow).
 */

/** Retry-After is seconds (or an HTTP date); missing or unreadable → the fallback. */
export function parseRetryAfter(value: string | string[] | undefined, now: number, fallbackMs: number): number {
  const raw = Array.isArray(value) ? value[0] : value;
  if (raw === undefined || raw.trim() === '') return fallbackMs;
  const trimmed = raw.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.ceil(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (Number.isFinite(date)) return Math.max(0, date - now);
  return fallbackMs;
}

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export class RetryAfterGate {
  private pausedUntil = 0;

  constructor(private readonly clock: Clock = systemClock) {}

  /** Extends the pause so nothing leaves before `now + ms`. */
  pause(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.clock.now() + ms);
  }

  /** Milliseconds until requests may leave again (0 when open). */
  remaining(): number {
    return Math.max(0, this.pausedUntil - this.clock.now());
  }

  /** Resolves when the gate is open; returns how long it waited. Re-checks because a pause may be extended while waiting. */
  async wait(): Promise<number> {
    let waited = 0;
    for (let left = this.remaining(); left > 0; left = this.remaining()) {
      await this.clock.sleep(left);
      waited += left;
    }
    return waited;
  }
}
