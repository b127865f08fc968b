/**
 * Spawns the real service (`node scripts/crs.mjs serve`) against an emulator, like an operator
 * would run it: HTTP webhooks in, msal-node token from the emulator's authority, $batch out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DataverseEmulator } from '../emulators/dataverse/index.js';
import type { StoreCounts } from '../../service/store/types.js';

const CRS = fileURLToPath(new URL('../../scripts/crs.mjs', import.meta.url));
export const WEBHOOK_TOKEN = 'e2e-webhook-token';
export const ADMIN_TOKEN = 'e2e-admin-token';

export interface ServiceProcess {
  url: string;
  child: ChildProcess;
  logs: string[];
  /** SIGKILL: no shutdown, leases stay held until they expire. */
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

/** `events` of GET /admin/status: the store's counts per state. */
export type StatusEvents = StoreCounts;

/** A temp dir with a SQLite store URL; remove() cleans up. */
export function tempStore(): { url: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'crs-e2e-'));
  return { url: `sqlite:${join(dir, 'crs.sqlite')}`, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export async function spawnService(emu: DataverseEmulator, storeUrl: string, env: Record<string, string> = {}): Promise<ServiceProcess> {
  const child = spawn(process.execPath, [CRS, 'serve'], {
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      CRS_PORT: '0',
      CRS_HOST: '127.0.0.1',
      CRS_STORE: storeUrl,
      CRS_DATAVERSE_URL: emu.url,
      CRS_AUTHORITY_HOST: emu.authorityHost,
      CRS_TENANT_ID: emu.tenantId,
      CRS_CLIENT_ID: emu.clientId,
      CRS_CLIENT_SECRET: emu.clientSecret,
      NODE_EXTRA_CA_CERTS: emu.caCertPath,
      CRS_WEBHOOK_TOKEN: WEBHOOK_TOKEN,
      CRS_ADMIN_TOKEN: ADMIN_TOKEN,
      CRS_POLL_INTERVAL: '0',
      CRS_WORKER_POLL_MS: '50',
      CRS_WORKER_LEASE_SECONDS: '2',
      CRS_LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => {
    exited = true;
    resolve();
  }));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`service did not start in 30 s:\n${logs.slice(-20).join('\n')}`)), 30_000);
    let buffer = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        logs.push(line);
        try {
          const entry = JSON.parse(line) as { msg?: string; url?: string; port?: number };
          if (entry.msg?.startsWith('listening on') && entry.port) {
            clearTimeout(timer);
            resolve(`http://127.0.0.1:${entry.port}`);
          }
        } catch {
          // not a log line
        }
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => logs.push(chunk.toString('utf8')));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`service exited (${code}) before listening:\n${logs.slice(-20).join('\n')}`));
    });
  });
  return {
    url,
    child,
    logs,
    async kill9() {
      if (!exited) child.kill('SIGKILL');
      await exit;
    },
    async stop() {
      if (!exited) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(timer);
    },
  };
}

export async function postEvents(service: { url: string }, clientId: string, events: unknown[]): Promise<{ received: number; accepted: number; duplicates: number; quarantined: number }> {
  const res = await fetch(`${service.url}/webhooks/campaign/${clientId}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${WEBHOOK_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(events),
  });
  if (res.status !== 200) throw new Error(`webhook answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as { received: number; accepted: number; duplicates: number; quarantined: number };
}

export async function status(service: { url: string }): Promise<{ events: StatusEvents } & Record<string, unknown>> {
  const res = await fetch(`${service.url}/admin/status`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  if (res.status !== 200) throw new Error(`/admin/status answered ${res.status}`);
  return (await res.json()) as { events: StatusEvents } & Record<string, unknown>;
}

/** Waits until nothing is pending and `done(events)` holds. */
export async function settle(service: { url: string }, done: (e: StatusEvents) => boolean, timeoutMs = 60_000): Promise<StatusEvents> {
  const until = Date.now() + timeoutMs;
  let last: StatusEvents | undefined;
  while (Date.now() < until) {
    last = (await status(service)).events;
    if (last.pending === 0 && done(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not settled in ${timeoutMs} ms: ${JSON.stringify(last)}`);
}
