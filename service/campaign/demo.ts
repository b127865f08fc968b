/**
 * Demo mode, Campaign side: start the bundled Campaign REST emulator with sample data matching the
 * Dataverse demo seed, and point the service's Campaign settings at it, so the reconciliation (R11)
 * and `crs webhooks …` have something to talk to. Real CRS_CAMPAIGN_API_* settings win: then
 * nothing is started.
 */
import type { Logger } from 'pino';
import type { Config } from '../config.js';

export async function startDemoCampaign(config: Config, logger?: Pick<Logger, 'warn' | 'info'>): Promise<{ config: Config; stop(): Promise<void> }> {
  if (config.campaign.apiUser) return { config, stop: async () => undefined };
  // Loaded only in demo mode: production never imports the emulator.
  const { startCampaignEmulator } = await import('../../tests/emulators/campaign/index.js');
  const { demoCampaignSeed } = await import('../../tests/emulators/campaign/demo-seed.js');
  const emulator = await startCampaignEmulator();
  emulator.seed(demoCampaignSeed());
  logger?.warn({ campaign: emulator.url },
    'demo mode: the reconciliation polls the bundled Campaign REST emulator (client 1234: an unsubscribe, an autoresponder, a reply, an outbounce); nothing reaches a real Campaign');
  return {
    config: { ...config, campaign: { apiUrl: emulator.url, apiUser: emulator.user, apiPassword: emulator.password } },
    stop: () => emulator.close(),
  };
}
