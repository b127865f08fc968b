/**
 * Background tasks started with the service (sync worker, Campaign poller, …). Each area adds its
 * task in createBackgroundTasks; main.ts starts them after the HTTP server listens and stops them on
 * shutdown (in reverse order). /admin/status shows each task's status() under its name.
 */
import type { Logger } from 'pino';
import type { Config } from './config.js';
import type { Metrics } from './metrics.js';
import type { EventStore } from './store/types.js';
import { reconciliationTaskFromConfig } from './campaign/reconciliation-task.js';
import { retentionTaskFromConfig } from './store/retention-task.js';
import { consentStatusTaskFromConfig } from './sync/consent-status-task.js';
import { createSyncTask } from './sync/task.js';

export interface BackgroundTask {
  name: string;
  start(): Promise<void>;
  /** Stops the task and releases whatever it holds (e.g. store leases). */
  stop(): Promise<void>;
  status?(): Record<string, unknown>;
}

export interface TaskContext {
  config: Config;
  store: EventStore;
  logger: Logger;
  metrics: Metrics;
}

export async function createBackgroundTasks(ctx: TaskContext): Promise<BackgroundTask[]> {
  const tasks: BackgroundTask[] = [];
  // Sync worker (R1–R10 into Dataverse): on whenever a Dataverse is configured (also demo mode's emulator).
  const sync = createSyncTask(ctx);
  if (sync) tasks.push(sync);
  // Reconciliation (R11): every CRS_POLL_INTERVAL; off (with the reason in /admin/status) without Campaign REST credentials or Dataverse.
  tasks.push(reconciliationTaskFromConfig(ctx));
  // Retention: purges applied / ignored events older than CRS_EVENT_RETENTION every hour; off (status says so) at 0.
  tasks.push(retentionTaskFromConfig(ctx));
  // R4 upkeep: every 15 min, consents whose history changed (CRM users, imports) get crs_status back in line; off (status says so) without Dataverse.
  tasks.push(consentStatusTaskFromConfig(ctx));
  return tasks;
}
