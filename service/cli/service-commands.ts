/**
 * `crs serve`, `crs status`, `crs replay`.
 *
 * `status` and `replay` work on the event store named by CRS_STORE directly (no running service
 * and no admin token needed; a running service's worker picks requeued events up). With `--url`
 * they ask a running service's admin API instead (Bearer CRS_ADMIN_TOKEN).
 */
import type { Command } from 'commander';
import { configOrExit, fail } from './common.js';
import { readStatus } from '../http/admin.js';
import { replayEvents, type ReplaySelector } from '../ingest/ingest.js';
import { openStore } from '../store/index.js';
import { EVENT_STATES, type EventState } from '../store/types.js';

async function adminRequest(baseUrl: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  const token = process.env.CRS_ADMIN_TOKEN;
  if (!token) fail('--url needs CRS_ADMIN_TOKEN (the admin API is off without it)');
  const res = await fetch(new URL(path, baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`), {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  }).catch((err: unknown) => fail(`cannot reach ${baseUrl}: ${(err as Error).message}`, 1));
  const text = await res.text();
  if (!res.ok) fail(`${method} ${path} answered ${res.status}: ${text}`, 1);
  return JSON.parse(text) as unknown;
}

export function parseReplayOptions(opts: { state?: string; ids?: string }): ReplaySelector {
  if ((opts.state === undefined) === (opts.ids === undefined)) throw new Error('give exactly one of --state <state> or --ids <id,id,…>');
  if (opts.state !== undefined) {
    if (!(EVENT_STATES as readonly string[]).includes(opts.state)) {
      throw new Error(`--state must be one of ${EVENT_STATES.join(', ')}`);
    }
    return { state: opts.state as EventState };
  }
  const ids = (opts.ids ?? '').split(/[\s,]+/).filter(Boolean);
  if (ids.length === 0 || !ids.every((id) => /^\d{1,19}$/.test(id))) throw new Error('--ids must be a comma-separated list of event ids');
  return { ids };
}

export function registerServiceCommands(program: Command): void {
  program
    .command('serve')
    .description('run the service (HTTP webhooks, admin API, background sync); configured by CRS_* environment variables')
    .action(async () => {
      const config = configOrExit();
      const { runService } = await import('../main.js');
      // Demo mode delivers into the bundled Dataverse emulator (service/sync/demo.ts).
      const { emulatorDemoHook } = await import('../sync/demo.js');
      try {
        await runService(config, { demoHook: emulatorDemoHook });
      } catch (err) {
        fail(`cannot start: ${(err as Error).message}`, 1);
      }
    });

  program
    .command('status')
    .description('event counts per state, oldest pending age, last received/applied (reads CRS_STORE, or --url of a running service)')
    .option('--url <url>', 'ask a running service instead (needs CRS_ADMIN_TOKEN)')
    .action(async (opts: { url?: string }) => {
      if (opts.url) {
        process.stdout.write(`${JSON.stringify(await adminRequest(opts.url, 'GET', 'admin/status'), null, 2)}\n`);
        return;
      }
      const config = configOrExit();
      const store = await openStore(config.storeUrl).catch((err: unknown) => fail(`cannot open the store: ${(err as Error).message}`, 1));
      try {
        process.stdout.write(`${JSON.stringify(await readStatus(store), null, 2)}\n`);
      } finally {
        await store.close();
      }
    });

  program
    .command('replay')
    .description('re-derive stored events from their raw payloads with the current mapping and queue them again')
    .option('--state <state>', `every event in this state (${EVENT_STATES.join(', ')})`)
    .option('--ids <ids>', 'comma-separated event ids')
    .option('--url <url>', 'ask a running service instead (needs CRS_ADMIN_TOKEN)')
    .action(async (opts: { state?: string; ids?: string; url?: string }) => {
      let selector: ReplaySelector;
      try {
        selector = parseReplayOptions(opts);
      } catch (err) {
        fail((err as Error).message);
      }
      if (opts.url) {
        process.stdout.write(`${JSON.stringify(await adminRequest(opts.url, 'POST', 'admin/replay', selector), null, 2)}\n`);
        return;
      }
      const config = configOrExit();
      const store = await openStore(config.storeUrl).catch((err: unknown) => fail(`cannot open the store: ${(err as Error).message}`, 1));
      try {
        process.stdout.write(`${JSON.stringify(await replayEvents(store, selector), null, 2)}\n`);
      } finally {
        await store.close();
      }
    });
}
