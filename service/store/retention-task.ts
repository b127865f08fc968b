/**
 * Retention as a background task: shortly after start and then every hour, deletes the applied and
 * ignored events that finished more than CRS_EVENT_RETENTION ago (their raw payloads hold e-mail
 * addresses), in chunks, through EventStore.purge(). Off when CRS_EVENT_RETENTION=0. A failed run is
 * logged and shown in status(); the next run tries again. Never two runs at once.
 */
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import type { Metrics } from '../metrics.js';
import { createPeriodicSchedule } from '../periodic.js';
import type { BackgroundTask } from '../tasks.js';
import type { EventStore } from './types.js';

export const RETENTION_TASK_NAME = 'retention';
/** Rows per purge() call: each call is one statement, so appends wait at most for one chunk. */
export const PURGE_CHUNK = 5_000;
const HOUR_MS = 3_600_000;

export interface RetentionTaskOptions {
  store: Pick<EventStore, 'purge'>;
  /** Keep events this long after they finished; 0 = keep everything (task off). */
  retentionMs: number;
  /** Between runs (default 1 hour). */
  intervalMs?: number;
  /** Delay of the first run after start (default 60 s: let the service come up first). */
  initialDelayMs?: number;
  chunkSize?: number;
  /** The clock the cut-off is computed from (tests). */
  now?: () => Date;
  logger?: Pick<Logger, 'info' | 'error'>;
  metrics?: Pick<Metrics, 'eventsPurged'>;
}

export interface RetentionRun {
  startedAt: string;
  /** Events finished before this time were purged. */
  before: string;
  purged: number;
}

export interface RetentionTask extends BackgroundTask {
  /** Runs a purge now (waits for a running one instead of starting a second); resolves with the run, never rejects. */
  runNow(): Promise<RetentionRun | undefined>;
}

/** `30d`, `36h`, `90m`, `45s`: the largest whole unit, as CRS_EVENT_RETENTION is written. */
export function formatRetention(ms: number): string {
  if (ms === 0) return '0';
  for (const [unit, size] of [['d', 86_400_000], ['h', HOUR_MS], ['m', 60_000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms / 1000}s`;
}

export function createRetentionTask(opts: RetentionTaskOptions): RetentionTask {
  const enabled = opts.retentionMs > 0;
  const intervalMs = opts.intervalMs ?? HOUR_MS;
  const chunk = opts.chunkSize ?? PURGE_CHUNK;
  const now = opts.now ?? (() => new Date());
  const retention = formatRetention(opts.retentionMs);
  let lastRunAt: string | null = null;
  let lastPurged: number | null = null;
  let totalPurged = 0;
  let lastError: string | null = null;
  const schedule = createPeriodicSchedule({ run: execute, intervalMs });

  async function execute(): Promise<RetentionRun> {
    const startedAt = now();
    // One cut-off per run: events finishing while it runs wait for the next run, so the loop ends.
    const before = new Date(startedAt.getTime() - opts.retentionMs);
    const run: RetentionRun = { startedAt: startedAt.toISOString(), before: before.toISOString(), purged: 0 };
    try {
      // stop() ends the loop after the chunk in flight (and waits for it).
      while (!schedule.stopped) {
        const n = await opts.store.purge({ before, limit: chunk });
        run.purged += n;
        totalPurged += n;
        opts.metrics?.eventsPurged.inc(n);
        if (n < chunk) break;
      }
      lastError = null;
      if (run.purged > 0) {
        opts.logger?.info({ purged: run.purged, before: run.before }, `retention: purged ${run.purged} event(s) finished before ${run.before}`);
      }
    } catch (err) {
      lastError = (err as Error)?.message ?? String(err);
      opts.logger?.error({ err, purged: run.purged }, `retention purge failed (${run.purged} event(s) purged before the error; retried next run): ${lastError}`);
    } finally {
      lastRunAt = run.startedAt;
      lastPurged = run.purged;
    }
    return run;
  }

  function runNow(): Promise<RetentionRun | undefined> {
    return enabled ? schedule.runNow() : Promise.resolve(undefined);
  }

  return {
    name: RETENTION_TASK_NAME,
    async start() {
      if (!enabled) {
        opts.logger?.info({}, 'retention off: CRS_EVENT_RETENTION=0 (stored events are kept forever)');
        return;
      }
      opts.logger?.info({ retention }, `retention: applied and ignored events are purged ${retention} after they finished`);
      schedule.start(opts.initialDelayMs ?? 60_000);
    },
    stop: () => schedule.stop(),
    runNow,
    status() {
      return {
        enabled,
        ...(enabled ? {} : { disabledReason: 'CRS_EVENT_RETENTION=0 (stored events are kept forever)' }),
        retention,
        running: schedule.running,
        lastRunAt,
        lastPurged,
        totalPurged,
        lastError,
        nextRunAt: schedule.nextRunAt?.toISOString() ?? null,
      };
    },
  };
}

/** Builds the task from the service's pieces (service/tasks.ts). */
export function retentionTaskFromConfig(ctx: {
  config: Pick<Config, 'eventRetentionMs'>;
  store: Pick<EventStore, 'purge'>;
  logger?: Logger;
  metrics?: Pick<Metrics, 'eventsPurged'>;
}): RetentionTask {
  return createRetentionTask({
    store: ctx.store,
    retentionMs: ctx.config.eventRetentionMs,
    ...(ctx.logger ? { logger: ctx.logger.child({ task: RETENTION_TASK_NAME }) } : {}),
    ...(ctx.metrics ? { metrics: ctx.metrics } : {}),
  });
}
