/**
 * Wiring of the sync worker as a background task: a Dataverse client from the configuration
 * (the real environment, or in demo mode the bundled emulator — see ./demo.ts), the optional
 * Campaign REST threshold check (R5), and the worker settings.
 */
import type { Config } from '../config.js';
import { CampaignClient } from '../campaign/client.js';
import { createDataverseClient } from '../dataverse/index.js';
import type { TaskContext, BackgroundTask } from '../tasks.js';
import { SyncWorker, type CheckBounceThreshold } from './worker.js';

/** R5 second source: the Campaign REST API answers for clients it can see; any failure → local counting. */
export function restBounceThreshold(config: Config, logger?: TaskContext['logger']): CheckBounceThreshold | undefined {
  const { apiUrl, apiUser, apiPassword } = config.campaign;
  if (!apiUser || !apiPassword) return undefined;
  const campaign = new CampaignClient({ baseUrl: apiUrl, user: apiUser, password: apiPassword, retries: 2 });
  return async (clientId, recipientId) => {
    try {
      return await campaign.bounceThresholdExceeded(clientId, recipientId);
    } catch (error) {
      logger?.warn({ err: (error as Error).message, clientId }, 'Campaign bounce threshold unavailable; counting bounces locally');
      return undefined;
    }
  };
}

/** The sync task, or undefined when no Dataverse is configured (demo mode without the emulator). */
export function createSyncTask(ctx: TaskContext): BackgroundTask | undefined {
  const { config, store, logger, metrics } = ctx;
  if (!config.dataverse.url) return undefined;
  const log = logger.child({ task: 'sync' });
  const dataverse = createDataverseClient(config, { logger: log, metrics });
  const worker = new SyncWorker({
    store,
    dataverse,
    plan: { granularity: config.responseGranularity, spamComplaintOptOut: config.spamComplaintOptOut },
    bounceLimits: { hard: config.bounceHardLimit, soft: config.bounceSoftLimit },
    checkBounceThreshold: restBounceThreshold(config, log),
    metrics,
    logger: log,
    batchSize: config.workerBatchSize,
    idlePollMs: config.workerPollMs,
    leaseMs: config.workerLeaseMs,
  });
  return {
    name: worker.name,
    start: () => worker.start(),
    stop: async () => {
      await worker.stop();
      await dataverse.close();
    },
    status: () => worker.status(),
  };
}
