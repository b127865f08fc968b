/** Helpers shared by the `crs` subcommands: one-line failures and configuration loading. */
import { ConfigError, loadConfig, type Config } from '../config.js';

/** Exits with one line on stderr (config problems, usage errors: code 2; failures: code 1). */
export function fail(message: string, code = 2): never {
  process.stderr.write(`crs: ${message.replace(/\s+/g, ' ')}\n`);
  process.exit(code);
}

/** Loads the configuration, or exits with the one-line configuration error. */
export function configOrExit(): Config {
  try {
    return loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) fail(`configuration error: ${err.message}`);
    throw err;
  }
}
