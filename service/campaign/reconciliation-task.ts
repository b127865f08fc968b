/**
 * The reconciliation as a background task: a run every CRS_POLL_INTERVAL (0 = off), never two at
 * once, the first shortly after start. Its status() (last run's summary, next run) is shown by
 * /admin/status; each run's summary is logged.
 */
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { createDataverseClient } from '../dataverse/index.js';
import type { DataverseClient } from '../dataverse/types.js';
import type { Metrics } from '../metrics.js';
import { closingOnStop, createPeriodicSchedule } from '../periodic.js';
import type { EventStore } from '../store/types.js';
import type { BackgroundTask } from '../tasks.js';
import { CampaignClient } from './client.js';
import { dataverseDirectory, type CampaignDirectory } from './directory.js';
import { reconcileOnce, storeIngest, type IngestFn, type ReconcileDeps, type RunSummary } from './poller.js';

export const RECONCILIATION_TASK_NAME = 'reconciliation';
/** Shared through the store, so several service processes (PostgreSQL scale-out) do not all poll. */
export const LAST_RUN_KEY = 'campaign.poll.lastRunStartedAt';

export interface ReconciliationTaskOptions {
  intervalMs: number;
  /** Delay of the first run after start (default 10 s: let the service come up first). */
  initialDelayMs?: number;
  /** Why the task does nothing (no credentials, no Dataverse); shown in status(). */
  disabledReason?: string;
  deps?: Omit<ReconcileDeps, 'signal'>;
  logger?: Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>;
}

export interface ReconciliationTask extends BackgroundTask {
  /** Runs now (waits for a running run instead of starting a second). */
  runNow(): Promise<RunSummary | undefined>;
}

/** Compact summary for the log and /admin/status (per-client counts without empty entries). */
export function summaryForStatus(s: RunSummary) {
  return {
    startedAt: s.startedAt, finishedAt: s.finishedAt, clients: s.clients, mailings: s.mailings,
    eventsFound: s.found, newEvents: s.new, duplicates: s.duplicates, quarantined: s.quarantined,
    errors: s.errors.slice(0, 20),
    perClient: s.perClient.map((c) => ({
      clientId: c.clientId, mailings: c.mailings,
      unsubscribes: c.unsubscribes, autoresponders: c.autoresponders, replies: c.replies, bounces: c.bounces, outbounces: c.outbounces,
      // The list moved while paged: the unsubscribe watermark was held, the next run reads again.
      ...(c.unsubscribeListMoved ? { unsubscribeListMoved: c.unsubscribeListMoved } : {}),
      errors: c.errors.length,
    })),
  };
}

export function createReconciliationTask(opts: ReconciliationTaskOptions): ReconciliationTask {
  const enabled = opts.intervalMs > 0 && !opts.disabledReason && opts.deps !== undefined;
  let controller: AbortController | undefined;
  let lastRun: RunSummary | undefined;
  let lastError: string | undefined;
  let runs = 0;
  let skipped = 0;

  /**
   * 0 when a scheduled run is due; else the ms until it is, because some process (another replica,
   * or this one before a restart) started a run less than 90% of the interval ago.
   */
  async function notDueFor(): Promise<number> {
    if (!opts.deps) return 0;
    const last = Date.parse((await opts.deps.state.getState(LAST_RUN_KEY).catch(() => null)) ?? '');
    const age = Date.now() - last;
    if (Number.isNaN(last) || age < 0 || age >= opts.intervalMs * 0.9) return 0;
    return opts.intervalMs - age;
  }

  const schedule = createPeriodicSchedule({
    run: execute,
    intervalMs: opts.intervalMs,
    // A tick runs only when no process started a run recently; else it waits out the rest of the interval.
    async tick(runNow) {
      const wait = await notDueFor();
      if (wait > 0) {
        skipped += 1;
        opts.logger?.debug({ nextInSeconds: Math.round(wait / 1000) }, 'reconciliation skipped: a run started recently (another process, or before a restart)');
        return wait;
      }
      await runNow();
      return opts.intervalMs;
    },
  });

  async function execute(): Promise<RunSummary | undefined> {
    if (!opts.deps) return undefined;
    controller = new AbortController();
    try {
      await opts.deps.state.setState(LAST_RUN_KEY, new Date().toISOString());
      const summary = await reconcileOnce({ ...opts.deps, signal: controller.signal });
      lastRun = summary;
      lastError = undefined;
      runs += 1;
      const log = summaryForStatus(summary);
      if (summary.errors.length) opts.logger?.warn({ reconciliation: log }, `reconciliation finished with ${summary.errors.length} error(s): ${summary.found} events found, ${summary.new} new`);
      else opts.logger?.info({ reconciliation: log }, `reconciliation finished: ${summary.clients} client(s), ${summary.mailings} mailing(s), ${summary.found} events found, ${summary.new} new`);
      return summary;
    } catch (err) {
      lastError = (err as Error).message;
      opts.logger?.error({ err }, `reconciliation failed: ${lastError}`);
      return undefined;
    } finally {
      controller = undefined;
    }
  }

  return {
    name: RECONCILIATION_TASK_NAME,
    async start() {
      if (!enabled) {
        opts.logger?.info({}, `reconciliation off: ${opts.disabledReason ?? 'CRS_POLL_INTERVAL=0'}`);
        return;
      }
      opts.logger?.info({ intervalSeconds: opts.intervalMs / 1000 }, 'reconciliation scheduled');
      schedule.start(opts.initialDelayMs ?? 10_000);
    },
    stop: () => schedule.stop(() => controller?.abort()),
    runNow: () => schedule.runNow(),
    status() {
      return {
        enabled,
        ...(enabled ? {} : { disabledReason: opts.disabledReason ?? 'CRS_POLL_INTERVAL=0' }),
        intervalSeconds: opts.intervalMs / 1000,
        running: schedule.running,
        runs,
        skipped,
        nextRunAt: schedule.nextRunAt?.toISOString() ?? null,
        lastRun: lastRun ? summaryForStatus(lastRun) : null,
        ...(lastError ? { lastError } : {}),
      };
    },
  };
}

/**
 * Builds the task from the service's pieces (service/tasks.ts). Needs Campaign REST credentials and
 * a Dataverse (for the clients and mailings; a client is created from the configuration unless one
 * is passed); without either it is created disabled, and says why in its status.
 */
export function reconciliationTaskFromConfig(ctx: {
  config: Pick<Config, 'campaign' | 'pollIntervalMs' | 'dataverse'>;
  store: EventStore;
  logger?: Logger;
  metrics?: Metrics;
  dataverse?: Pick<DataverseClient, 'query'>;
  directory?: CampaignDirectory;
  ingest?: IngestFn;
  campaign?: ReconcileDeps['campaign'];
}): ReconciliationTask {
  const { apiUrl, apiUser, apiPassword } = ctx.config.campaign;
  const logger = ctx.logger?.child({ task: RECONCILIATION_TASK_NAME });
  let disabledReason: string | undefined;
  if (ctx.config.pollIntervalMs === 0) disabledReason = 'CRS_POLL_INTERVAL=0';
  else if (!ctx.campaign && (!apiUser || !apiPassword)) disabledReason = 'no Campaign REST credentials (CRS_CAMPAIGN_API_USER / CRS_CAMPAIGN_API_PASSWORD)';
  else if (!ctx.directory && !ctx.dataverse && !ctx.config.dataverse.url) disabledReason = 'no Dataverse (CRS_DATAVERSE_URL) to read crs_campaignclient / crs_campaignmailing from';
  if (disabledReason) return createReconciliationTask({ intervalMs: ctx.config.pollIntervalMs, disabledReason, logger });

  let owned: { close(): Promise<void> } | undefined;
  let directory = ctx.directory;
  if (!directory) {
    let dataverse = ctx.dataverse;
    if (!dataverse) {
      const client = createDataverseClient(ctx.config, { ...(logger ? { logger } : {}), ...(ctx.metrics ? { metrics: ctx.metrics } : {}) });
      owned = client;
      dataverse = client;
    }
    directory = dataverseDirectory(dataverse);
  }
  const task = createReconciliationTask({
    intervalMs: ctx.config.pollIntervalMs,
    logger,
    deps: {
      campaign: ctx.campaign ?? new CampaignClient({ baseUrl: apiUrl, user: apiUser!, password: apiPassword! }),
      directory,
      state: ctx.store,
      ingest: ctx.ingest ?? storeIngest(ctx.store, ctx.metrics),
      ...(logger ? { logger } : {}),
    },
  });
  return closingOnStop(task, owned);
}
