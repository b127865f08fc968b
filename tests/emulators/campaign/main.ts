/**
 * `npm run emulator:campaign`: starts the Campaign REST emulator with the demo data and prints how
 * to point the service and `crs webhooks …` at it. CAMPAIGN_EMULATOR_PORT picks the port (default 0 =
 * any free port), CAMPAIGN_EMULATOR_HOST the bind address.
 */
import { demoCampaignSeed } from './demo-seed.js';
import { startCampaignEmulator } from './index.js';

const port = Number(process.env.CAMPAIGN_EMULATOR_PORT ?? 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`CAMPAIGN_EMULATOR_PORT must be a port number, got '${process.env.CAMPAIGN_EMULATOR_PORT}'`);
  process.exit(1);
}
const emu = await startCampaignEmulator({ port, host: process.env.CAMPAIGN_EMULATOR_HOST ?? '127.0.0.1' });
emu.seed(demoCampaignSeed());
console.log(`Campaign REST emulator listening (demo client 1234, mailings 1001/1002)
  CRS_CAMPAIGN_API_URL=${emu.url}
  CRS_CAMPAIGN_API_USER=${emu.user}
  CRS_CAMPAIGN_API_PASSWORD=${emu.password}   (emulator test credential, not a real one)
  try: crs webhooks register --client 1234 --target-url http://127.0.0.1:8080/webhooks/campaign --mailing-id 1001`);

const stop = (): void => {
  void emu.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
