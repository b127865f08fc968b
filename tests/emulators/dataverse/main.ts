/**
 * `npm run emulator`: starts the Dataverse emulator with the demo data and prints how to reach it.
 * EMULATOR_PORT picks the port (default 0 = any free port); EMULATOR_HOST the bind address.
 */
import { demoSeed, startDataverseEmulator } from './index.js';

const port = Number(process.env.EMULATOR_PORT ?? 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`EMULATOR_PORT must be a port number, got '${process.env.EMULATOR_PORT}'`);
  process.exit(1);
}
const emu = await startDataverseEmulator({ port, host: process.env.EMULATOR_HOST ?? '127.0.0.1', seed: demoSeed() });
console.log(`Dataverse emulator listening (demo data loaded)
  CRS_DATAVERSE_URL=${emu.url}
  CRS_AUTHORITY_HOST=${emu.authorityHost}
  CRS_TENANT_ID=${emu.tenantId}
  CRS_CLIENT_ID=${emu.clientId}
  CRS_CLIENT_SECRET=${emu.clientSecret}   (emulator test secret, not a real credential)
  NODE_EXTRA_CA_CERTS=${emu.caCertPath}
  Web API: ${emu.url}/api/data/v9.2/   control API: ${emu.url}/_emulator/ (info, seed, dump, reset, faults, journal)`);

const stop = (): void => {
  void emu.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
