#!/usr/bin/env node
// The `crs` command. Registers tsx so the TypeScript sources run without a build step, then
// hands over to the CLI (service/cli.ts).
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Demo mode (`serve` without CRS_DATAVERSE_URL) delivers into the bundled Dataverse emulator over
// HTTPS with its own test CA. Node reads NODE_EXTRA_CA_CERTS only when a process starts, and msal-node
// uses Node's default trust store, so we re-execute ourselves once with the emulator's CA added
// (appended to a file the caller already named in NODE_EXTRA_CA_CERTS, which takes one file only).
// Outside demo mode nothing changes.
const command = process.argv[2];
const dataverseUrl = process.env.CRS_DATAVERSE_URL?.trim();
if (command === 'serve' && !dataverseUrl && process.env.CRS_DEMO_CA_READY !== '1') {
  const emulatorCa = readFileSync(fileURLToPath(new URL('../tests/emulators/dataverse/certs/ca.pem', import.meta.url)), 'utf8');
  const existing = process.env.NODE_EXTRA_CA_CERTS;
  let extra = existing && existsSync(existing) ? readFileSync(existing, 'utf8') : '';
  if (!extra.includes(emulatorCa.trim())) extra = `${extra.trimEnd()}\n${emulatorCa}`.trimStart();
  const bundle = join(tmpdir(), `crs-demo-ca-${createHash('sha256').update(extra).digest('hex').slice(0, 16)}.pem`);
  writeFileSync(bundle, extra);
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, NODE_EXTRA_CA_CERTS: bundle, CRS_DEMO_CA_READY: '1' },
  });
  // Ctrl-C reaches the child through the terminal's process group already (forwarding it would
  // count as a second signal there); SIGTERM/SIGHUP sent to this process alone are passed on.
  process.on('SIGINT', () => undefined);
  for (const signal of ['SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    if (!signal) process.exit(code ?? 1);
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  });
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../service/cli.ts');
}
