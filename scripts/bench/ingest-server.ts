/**
 * Child process of the ingestion benchmark: the real service (startService: the webhook handler, auth,
 * normalizer, store with group commit) with the configured store, but without a demo emulator or
 * Dataverse, so only ingestion runs. Prints the `listening` log line with the port like `crs serve`.
 */
import { loadConfig } from '../../service/config.js';
import { startService } from '../../service/main.js';

const service = await startService(loadConfig(), { demoHook: async () => undefined });
process.on('SIGTERM', () => {
  void service.stop('benchmark done').then(() => process.exit(0));
});
