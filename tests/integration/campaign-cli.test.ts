/** `crs webhooks …` and `crs eligibility` as a user runs them (child process) against the Campaign emulator. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCampaignEmulator, type CampaignEmulator } from '../emulators/campaign/index.js';

const run = promisify(execFile);
let emu: CampaignEmulator;

async function crs(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, ['scripts/crs.mjs', ...args], {
      env: {
        PATH: process.env.PATH ?? '', CRS_CAMPAIGN_API_URL: emu.url, CRS_CAMPAIGN_API_USER: emu.user, CRS_CAMPAIGN_API_PASSWORD: emu.password,
        CRS_WEBHOOK_TOKEN: 'cli-token', ...env,
      },
      timeout: 60_000,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  emu = await startCampaignEmulator();
});
afterAll(async () => {
  await emu.close();
});

describe('crs webhooks', () => {
  it('register → list → remove', async () => {
    const reg = await crs(['webhooks', 'register', '--client', '300', '--target-url', 'https://crs.example.com/webhooks/campaign', '--types', 'open,unsubscribe', '--json']);
    expect(reg.code).toBe(0);
    const body = JSON.parse(reg.stdout) as { targetUrl: string; results: { type: string; outcome: string }[] };
    expect(body.targetUrl).toBe('https://crs.example.com/webhooks/campaign/300');
    expect(body.results.map((r) => [r.type, r.outcome])).toEqual([['open', 'created'], ['unsubscribe', 'created']]);
    const hooks = [...emu.state.webhooks.values()].filter((w) => w.clientId === '300');
    expect(hooks.map((h) => h.authentication)).toEqual([
      { type: 'keyAuth', key: 'Authorization', passphrase: 'Bearer cli-token' }, { type: 'keyAuth', key: 'Authorization', passphrase: 'Bearer cli-token' },
    ]);

    emu.suspend(hooks[1]!.id);
    const list = await crs(['webhooks', 'list', '--client', '300', '--target-url', 'https://crs.example.com/webhooks/campaign/300']);
    expect(list.code).toBe(1); // a suspended webhook (and missing types) is worth a non-zero exit in monitoring
    expect(list.stdout).toMatch(/unsubscribe\s+suspended\s+.*SUSPENDED by Campaign/);
    expect(list.stdout).toMatch(/missing active webhooks for: click, sent, bounce, unsubscribe/);

    const rm = await crs(['webhooks', 'remove', '--client', '300', '--target-url', 'https://crs.example.com/webhooks/campaign/300']);
    expect(rm.code).toBe(0);
    expect(rm.stdout.trim().split('\n')).toHaveLength(2);
    expect([...emu.state.webhooks.values()].filter((w) => w.clientId === '300')).toEqual([]);
  });

  it('says in one line what is missing', async () => {
    const noCreds = await crs(['webhooks', 'list', '--client', '300'], { CRS_CAMPAIGN_API_USER: '', CRS_CAMPAIGN_API_PASSWORD: '' });
    expect(noCreds).toMatchObject({ code: 2, stderr: 'crs: Campaign REST credentials missing: set CRS_CAMPAIGN_API_USER and CRS_CAMPAIGN_API_PASSWORD\n' });
    const badClient = await crs(['webhooks', 'list', '--client', 'abc']);
    expect(badClient.stderr).toBe('crs: --client must be a numeric Campaign client id, got "abc"\n');
    const wrongPassword = await crs(['webhooks', 'list', '--client', '300'], { CRS_CAMPAIGN_API_PASSWORD: 'nope' });
    expect(wrongPassword.code).toBe(1);
    expect(wrongPassword.stderr).toMatch(/^crs: webhooks list: Campaign GET \/300\/webhooks: HTTP 401/);
    expect(wrongPassword.stderr).not.toContain('nope');
  });
});

describe('crs eligibility', () => {
  it('validates its arguments and needs Dataverse or --url', async () => {
    const bad = await crs(['eligibility', '--newsletter', '11111111-1111-4111-8111-111111111111']);
    expect(bad).toMatchObject({ code: 2, stderr: "crs: contact or lead is required (the person's id)\n" });
    const demo = await crs(['eligibility', '--newsletter', '11111111-1111-4111-8111-111111111111', '--contact', '22222222-2222-4222-8222-222222222222']);
    expect(demo.code).toBe(2);
    expect(demo.stderr).toMatch(/set CRS_DATAVERSE_URL .* or ask a running service with --url/);
  });
});
