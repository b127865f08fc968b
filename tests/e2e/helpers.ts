/**
 * Shared helpers of the sync end-to-end tests: an emulator-backed Dataverse client in the test
 * process, normalized events, and a canonical dump of the emulator's rows (to compare states).
 */
import { readFileSync } from 'node:fs';
import { Agent, request } from 'undici';
import { HttpDataverseClient, StaticTokenProvider } from '../../service/dataverse/index.js';
import type { NormalizedEvent } from '../../service/events.js';
import type { DataverseEmulator } from '../emulators/dataverse/index.js';

export async function emulatorToken(emu: DataverseEmulator, dispatcher: Agent): Promise<string> {
  const res = await request(`${emu.authorityHost}/${emu.tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    dispatcher,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'client_credentials', client_id: emu.clientId, client_secret: emu.clientSecret, scope: `${emu.url}/.default`,
    }).toString(),
  });
  const body = (await res.body.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`emulator token endpoint answered ${res.statusCode}`);
  return body.access_token;
}

/** A Dataverse client for the emulator without msal (the spawned-service tests cover msal). */
export async function emulatorClient(emu: DataverseEmulator, opts: { backoffMinMs?: number; backoffMaxMs?: number; transientRetries?: number } = {}) {
  const dispatcher = new Agent({ connect: { ca: readFileSync(emu.caCertPath) } });
  let token = await emulatorToken(emu, dispatcher);
  const tokens = new StaticTokenProvider(() => token);
  const client = new HttpDataverseClient({
    baseUrl: emu.url, tokenProvider: tokens, dispatcher, backoffMinMs: opts.backoffMinMs ?? 20, backoffMaxMs: opts.backoffMaxMs ?? 200,
    transientRetries: opts.transientRetries ?? 3,
  });
  return {
    client,
    refreshToken: async () => {
      token = await emulatorToken(emu, dispatcher);
    },
    close: async () => {
      await client.close();
      await dispatcher.close();
    },
  };
}

let counter = 0;
export function event(partial: Partial<NormalizedEvent> & Pick<NormalizedEvent, 'type'>): NormalizedEvent {
  counter += 1;
  return {
    key: `nk:test-${counter}-${Math.random().toString(36).slice(2)}`, clientId: '1234', occurredAt: '2026-11-20T10:00:00Z', origin: 'webhook',
    ...partial,
  };
}

const VOLATILE = /^(activitypartyid|versionnumber|modifiedon|createdon|@odata\.etag|overriddencreatedon|_modifiedby_value|_createdby_value|_ownerid_value|_owninguser_value|_owningbusinessunit_value)$/;

/** The rows the service writes, without volatile columns, sorted: equal dumps = equal state. */
export function stateOf(emu: DataverseEmulator): Record<string, unknown[]> {
  const tables = ['campaignresponse', 'crs_advertisingconsent', 'crs_optinhistory', 'activityparty'];
  const out: Record<string, unknown[]> = {};
  for (const t of tables) {
    let rows: Record<string, unknown>[];
    try {
      rows = emu.rows(t);
    } catch {
      continue;
    }
    out[t] = rows
      .map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !VOLATILE.test(k)).sort(([a], [b]) => a.localeCompare(b))))
      .map((r) => JSON.stringify(r))
      .sort()
      .map((s) => JSON.parse(s) as unknown);
  }
  return out;
}
