/** `npm run emulator` (main.ts) as a child process: prints how to reach it and serves the demo data. */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, expect, it } from 'vitest';

let child: ChildProcess | undefined;
afterAll(() => {
  if (child && child.exitCode === null) child.kill('SIGTERM');
});

it('starts on EMULATOR_PORT=0, prints the CRS_* settings and answers with the demo data', async () => {
  const main = fileURLToPath(new URL('./main.ts', import.meta.url));
  const tsx = fileURLToPath(new URL('../../../node_modules/.bin/tsx', import.meta.url));
  child = spawn(tsx, [main], { env: { ...process.env, EMULATOR_PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child!.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /CRS_DATAVERSE_URL=(\S+)/.exec(out);
      if (m && out.includes('NODE_EXTRA_CA_CERTS=')) resolve(m[1]!);
    });
    child!.once('exit', (code) => reject(new Error(`emulator exited with ${code}: ${out}`)));
  });
  expect(out).toMatch(/CRS_TENANT_ID=[0-9a-f-]{36}/);
  expect(out).toMatch(/CRS_CLIENT_ID=[0-9a-f-]{36}/);
  expect(out).toContain('CRS_CLIENT_SECRET=');
  expect(out).toMatch(/NODE_EXTRA_CA_CERTS=\S+certs\/ca\.pem/);
  const info = (await (await fetch(`${url}/_emulator/info`)).json()) as { url: string };
  expect(info.url).toBe(url);
  const clients = (await (await fetch(`${url}/_emulator/dump/crs_campaignclient`)).json()) as { crs_clientid: string }[];
  expect(clients.map((c) => c.crs_clientid)).toEqual(['1234']);
  const exited = new Promise<number | null>((resolve) => child!.once('exit', resolve));
  child.kill('SIGTERM');
  expect(await exited).toBe(0);
});
