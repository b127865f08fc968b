/** Test helpers: an emulator with an msal-node token and a small fetch wrapper for the Web API. */
import { ConfidentialClientApplication } from '@azure/msal-node';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { demoSeed, startDataverseEmulator, type DataverseEmulator, type DataverseEmulatorOptions } from './index.js';

export interface ApiAnswer {
  status: number;
  headers: Headers;
  text: string;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

export interface Harness {
  emu: DataverseEmulator;
  token: () => Promise<string>;
  api: (method: string, path: string, opts?: { body?: unknown; headers?: Record<string, string>; raw?: string }) => Promise<ApiAnswer>;
}

/** The same construction the service uses (brief: authority + knownAuthorities). */
export function msalFor(emu: DataverseEmulator): ConfidentialClientApplication {
  return new ConfidentialClientApplication({
    auth: {
      clientId: emu.clientId,
      clientSecret: emu.clientSecret,
      authority: `${emu.authorityHost}/${emu.tenantId}`,
      knownAuthorities: [new URL(emu.authorityHost).host],
    },
  });
}

export async function startHarness(opts: DataverseEmulatorOptions = {}): Promise<Harness> {
  const emu = await startDataverseEmulator(opts);
  const cca = msalFor(emu);
  const token = async (): Promise<string> => {
    const r = await cca.acquireTokenByClientCredential({ scopes: [`${emu.url}/.default`] });
    if (!r) throw new Error('no token');
    return r.accessToken;
  };
  const api: Harness['api'] = async (method, path, o = {}) => {
    const headers: Record<string, string> = {
      Authorization: `Bearer ${await token()}`,
      Accept: 'application/json',
      'OData-MaxVersion': '4.0',
      'OData-Version': '4.0',
      ...(o.body !== undefined ? { 'Content-Type': 'application/json; charset=utf-8' } : {}),
      ...o.headers,
    };
    const res = await fetch(`${emu.url}/api/data/v9.2/${path}`, {
      method, headers, body: o.raw ?? (o.body !== undefined ? JSON.stringify(o.body) : undefined),
    });
    const text = await res.text();
    let json: unknown = undefined;
    if (text && (res.headers.get('content-type') ?? '').includes('json')) json = JSON.parse(text);
    return { status: res.status, headers: res.headers, text, json };
  };
  return { emu, token, api };
}

/**
 * For a test file at module level: one emulator seeded with the demo data for the whole file, reset
 * to the seed before each test and closed afterwards. The harness is filled in by beforeAll.
 */
export function useDemoHarness(): Harness {
  const h = {} as Harness;
  beforeAll(async () => {
    Object.assign(h, await startHarness({ seed: demoSeed() }));
  });
  afterAll(async () => {
    await h.emu.close();
  });
  beforeEach(() => {
    h.emu.reset();
  });
  return h;
}
