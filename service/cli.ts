/**
 * `crs` — the command line. Each area registers its own commands; this file only assembles them.
 */
import { Command } from 'commander';
import { registerServiceCommands } from './cli/service-commands.js';
import { registerCampaignCommands } from './campaign/cli.js';
import { registerSolutionCommands } from '../solution/build/cli.js';

const program = new Command('crs')
  .description('Campaign Response Sync: Optimizely Campaign response data into Dynamics 365')
  .showHelpAfterError()
  .exitOverride((err) => {
    process.exit(err.exitCode);
  });

registerServiceCommands(program);
registerCampaignCommands(program);
registerSolutionCommands(program);

await program.parseAsync(process.argv);
