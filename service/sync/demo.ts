/**
 * Demo mode delivery (CRS_DATAVERSE_URL unset): start the bundled Dataverse emulator in-process,
 * seeded with the demo data, and point the service's Dataverse settings at it — so `npm start`
 * shows webhook events flowing into (emulated) Dataverse through the real client, msal and $batch.
 *
 * The emulator speaks HTTPS with its own test CA. Node reads NODE_EXTRA_CA_CERTS only at start,
 * so scripts/crs.mjs re-executes `serve` with it set when in demo mode (see there).
 */
import { existsSync, readFileSync } from 'node:fs';
import type { Config } from '../config.js';
import { MsalTokenProvider } from '../dataverse/auth.js';
import type { DemoHook, DemoSetup } from '../main.js';
import { startDemoCampaign } from '../campaign/demo.js';

export const emulatorDemoHook: DemoHook = async ({ config, logger }): Promise<DemoSetup> => {
  // Loaded only in demo mode: production never imports the emulator.
  const { startDataverseEmulator, demoSeed, CA_CERT_PATH } = await import('../../tests/emulators/dataverse/index.js');
  const extraCa = process.env.NODE_EXTRA_CA_CERTS;
  const trusted = extraCa !== undefined && existsSync(extraCa) && readFileSync(extraCa, 'utf8').includes(readFileSync(CA_CERT_PATH, 'utf8').trim());
  if (!trusted) {
    logger.warn({ emulatorCa: CA_CERT_PATH },
      'demo mode: NODE_EXTRA_CA_CERTS does not include the emulator CA, so delivery cannot trust it; start with `npm start` / `crs serve`');
  }
  const emulator = await startDataverseEmulator({ seed: demoSeed() });
  logger.warn({ dataverse: emulator.url },
    'demo mode: delivering into the bundled Dataverse emulator (seeded with sample contacts, leads, campaigns, client 1234, mailings 1001/1002); nothing reaches a real Dataverse');
  const tokens = new MsalTokenProvider({
    authorityHost: emulator.authorityHost, tenantId: emulator.tenantId, clientId: emulator.clientId,
    clientSecret: emulator.clientSecret, dataverseUrl: emulator.url,
  });
  const demoConfig: Config = {
    ...config,
    dataverse: {
      ...config.dataverse,
      url: emulator.url,
      tenantId: emulator.tenantId,
      clientId: emulator.clientId,
      clientSecret: emulator.clientSecret,
      clientCertPath: undefined,
      authorityHost: emulator.authorityHost,
    },
  };
  // Campaign side: the bundled Campaign REST emulator for the reconciliation (service/campaign/demo.ts).
  const campaign = await startDemoCampaign(demoConfig, logger);
  return {
    config: campaign.config,
    // Readiness as outside demo mode: a token can be had (through msal, from the emulator's authority).
    readinessChecks: [{ name: 'dataverse', check: async () => void (await tokens.getToken()) }],
    stop: async () => {
      await campaign.stop();
      await emulator.close();
    },
  };
};
