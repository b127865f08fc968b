#!/usr/bin/env node
// The `crs` command. Registers tsx so the TypeScript sources run without a build step, then
// hands over to the CLI (service/cli.ts).
import { register } from 'tsx/esm/api';

register();
await import('../service/cli.ts');
