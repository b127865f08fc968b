/**
 * The reconciliation (R11) against the Campaign REST emulator and a real (in-memory SQLite) event
 * store: watermark with overlap, dedup with webhook events (R9), unknown → reply, the 30-day
 * mailing window, bounce threshold → outbounce, one client failing without stopping the others.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ingestEvents, toIncomingEvents } from '../../service/ingest/ingest.js';
import { openStore } from '../../service/store/index.js';
import type { EventStore, StoredEvent } from '../../service/store/types.js';
import { CampaignClient } from '../../service/campaign/client.js';
import type { CampaignDirectory, PolledMailing } from '../../service/campaign/directory.js';
import { reconcileOnce, storeIngest, watermarkKeys, type ReconcileDeps } from '../../service/campaign/poller.js';
import { createReconciliationTask, reconciliationTaskFromConfig } from '../../service/campaign/reconciliation-task.js';
import { startCampaignEmulator, type CampaignEmulator } from '../emulators/campaign/index.js';

const NOW = new Date('2026-11-26T12:00:00Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms).toISOString();
const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

let emu: CampaignEmulator;
let store: EventStore;
let campaign: CampaignClient;

/** Mailings with their createdon, filtered by the window the poller asks for (like the Dataverse query). */
function directory(clients: string[], mailings: (PolledMailing & { createdOn: string })[]): CampaignDirectory & { sinceAsked: Date[] } {
  const sinceAsked: Date[] = [];
  return {
    sinceAsked,
    clients: async () => clients,
    recentMailings: async (since) => {
      sinceAsked.push(since);
      return mailings.filter((m) => Date.parse(m.createdOn) >= since.getTime()).map(({ clientId, mailingId }) => ({ clientId, mailingId }));
    },
  };
}

function deps(dir: CampaignDirectory, over: Partial<ReconcileDeps> = {}): ReconcileDeps {
  return { campaign, directory: dir, state: store, ingest: storeIngest(store), now: () => NOW, ...over };
}

async function stored(): Promise<StoredEvent[]> {
  return [...(await store.list('pending', 1000)), ...(await store.list('quarantined', 1000))];
}

beforeAll(async () => {
  emu = await startCampaignEmulator();
  campaign = new CampaignClient({ baseUrl: emu.url, user: emu.user, password: emu.password, minBackoffMs: 0, retries: 1 });
});
afterAll(async () => {
  await emu.close();
});
beforeEach(async () => {
  store = await openStore('sqlite::memory:');
  emu.state.clients.clear();
  emu.state.requests.length = 0;
  emu.clearFaults();
});
afterEach(async () => {
  await store.close();
});

describe('unsubscribes', () => {
  it('reads newest first down to the watermark, re-reading the overlap, and moves the watermark', async () => {
    emu.seed({
      clientId: '100',
      unsubscribes: [
        { recipientId: 'old@example.com', created: ago(40 * DAY) }, // before the first-run lookback
        { recipientId: 'a@example.com', mailingId: 7, created: ago(5 * DAY), reason: 'too many mails' },
        { recipientId: 'b@example.com', mailingId: 0, created: ago(2 * HOUR) },
        { recipientId: 'c@example.com', created: ago(30 * MIN) },
      ],
    });
    const dir = directory(['100'], []);
    const first = await reconcileOnce(deps(dir, { options: { pageSize: 2 } }));
    expect(first.errors).toEqual([]);
    expect(first.perClient[0]!.unsubscribes).toEqual({ found: 3, new: 3, duplicates: 0, quarantined: 0 });
    expect(await store.getState(watermarkKeys.unsubscribes('100'))).toBe(ago(30 * MIN).replace('.000Z', 'Z'));
    const events = (await stored()).map((e) => e.normalized!);
    expect(events.map((e) => [e.type, e.recipientId, e.mailingId, e.origin]).sort()).toEqual([
      ['unsubscribe', 'a@example.com', '7', 'poll'],
      ['unsubscribe', 'b@example.com', undefined, 'poll'], // mailingId 0 = no mailing reference
      ['unsubscribe', 'c@example.com', undefined, 'poll'],
    ]);
    expect(events.find((e) => e.recipientId === 'a@example.com')!.reason).toBe('too many mails');

    // Later: one new unsubscribe, one that showed up late within the overlap, one late beyond it.
    emu.seed({
      clientId: '100',
      unsubscribes: [
        { recipientId: 'new@example.com', created: ago(10 * MIN) },
        { recipientId: 'late@example.com', created: ago(50 * MIN) },
        { recipientId: 'too-late@example.com', created: ago(3 * HOUR) },
      ],
    });
    emu.state.requests.length = 0;
    const second = await reconcileOnce(deps(dir, { options: { pageSize: 2 } }));
    expect(second.perClient[0]!.unsubscribes).toEqual({ found: 3, new: 2, duplicates: 1, quarantined: 0 });
    expect(await store.getState(watermarkKeys.unsubscribes('100'))).toBe(ago(10 * MIN).replace('.000Z', 'Z'));
    // new, c (overlap), late → then b at 2 h stops the paging: 2 pages of 2, not all 7 records.
    expect(emu.state.requests.filter((r) => r.path.endsWith('/unsubscribes'))).toHaveLength(2);
  });

  it('is one event with the same unsubscribe delivered by a webhook (R9)', async () => {
    const at = ago(20 * MIN);
    // The webhook said it with other field names and an epoch-millisecond time.
    const webhookBody = [{ event: 'unsubscribe', mailingGroupId: 100, mailingId: 7, bmRecipientId: 'Dup@Example.com', timestamp: Date.parse(at) }];
    const fromWebhook = await ingestEvents(store, toIncomingEvents(webhookBody.map((v) => ({ raw: JSON.stringify(v), value: v })), '100', 'webhook'));
    expect(fromWebhook.accepted).toBe(1);
    emu.seed({ clientId: '100', unsubscribes: [{ recipientId: 'dup@example.com', mailingId: 7, created: at }] });
    const run = await reconcileOnce(deps(directory(['100'], [])));
    expect(run.perClient[0]!.unsubscribes).toEqual({ found: 1, new: 0, duplicates: 1, quarantined: 0 });
    expect(await stored()).toHaveLength(1);
    const again = await reconcileOnce(deps(directory(['100'], [])));
    expect(again.new).toBe(0);
  });

  it('does not move the watermark when storing fails', async () => {
    emu.seed({ clientId: '100', unsubscribes: [{ recipientId: 'x@example.com', created: ago(MIN) }] });
    const run = await reconcileOnce(deps(directory(['100'], []), {
      ingest: async () => {
        throw new Error('disk full');
      },
    }));
    expect(run.errors).toEqual(['client 100 unsubscribes: disk full']);
    expect(await store.getState(watermarkKeys.unsubscribes('100'))).toBeNull();
  });
});

describe('responses of campaign-management mailings', () => {
  const mailings = [
    { clientId: '100', mailingId: '7', createdOn: ago(3 * DAY) },
    { clientId: '100', mailingId: '8', createdOn: ago(31 * DAY) }, // outside the 30-day window
  ];

  beforeEach(() => {
    emu.seed({
      clientId: '100',
      responses: [
        { category: 'autoresponder', mailingId: 7, recipientId: 'ooo@example.com', created: ago(2 * DAY), subject: 'Out of office', mailId: 'm-7-1' },
        { category: 'unknown', mailingId: 7, recipientId: 'replier@example.com', created: ago(DAY), subject: 'Re: offer' },
        { category: 'unknown', mailingId: 8, recipientId: 'old-mailing@example.com', created: ago(DAY) },
      ],
    });
  });

  it('takes autoresponders and replies (REST category unknown → reply) of mailings created in the last 30 days', async () => {
    const dir = directory(['100'], mailings);
    const run = await reconcileOnce(deps(dir));
    expect(dir.sinceAsked).toEqual([new Date(NOW.getTime() - 30 * DAY)]);
    expect(run.mailings).toBe(1);
    const events = (await stored()).map((e) => e.normalized!);
    expect(events.map((e) => [e.type, e.recipientId, e.mailingId]).sort()).toEqual([
      ['autoresponder', 'ooo@example.com', '7'],
      ['reply', 'replier@example.com', '7'],
    ]);
    expect(events.find((e) => e.type === 'autoresponder')!.mailId).toBe('m-7-1');
    expect(emu.state.requests.some((r) => r.query.mailingId === '8')).toBe(false);
    expect(run.perClient[0]!.replies).toEqual({ found: 1, new: 1, duplicates: 0, quarantined: 0 });
    // The raw payload keeps what REST said.
    const raw = JSON.parse((await stored()).find((e) => e.normalized!.type === 'reply')!.raw);
    expect(raw).toMatchObject({ type: 'reply', restCategory: 'unknown', subject: 'Re: offer', source: 'campaign-rest:responses' });
  });

  it('finds nothing new on the next run (R9)', async () => {
    const dir = directory(['100'], mailings);
    await reconcileOnce(deps(dir));
    const again = await reconcileOnce(deps(dir));
    expect(again.found).toBe(2);
    expect(again.new).toBe(0);
    expect(again.duplicates).toBe(2);
  });

  it('skips a mailing Campaign does not know (404) without an error', async () => {
    const run = await reconcileOnce(deps(directory(['100'], [{ clientId: '100', mailingId: '999', createdOn: ago(DAY) }])));
    expect(run.errors).toEqual([]);
    expect(run.found).toBe(0);
  });
});

describe('bounce thresholds', () => {
  it('asks thresholdExceeded for addresses that bounced and records an outbounce once', async () => {
    emu.seed({
      clientId: '100',
      bounceThresholds: { hard: 2 },
      responses: [
        { category: 'hardbounce', mailingId: 7, recipientId: 'gone@example.com', created: ago(3 * DAY) },
        { category: 'hardbounce', mailingId: 7, recipientId: 'gone@example.com', created: ago(2 * DAY) },
        { category: 'softbounce', mailingId: 7, recipientId: 'full@example.com', created: ago(DAY) },
      ],
    });
    const dir = directory(['100'], [{ clientId: '100', mailingId: '7', createdOn: ago(4 * DAY) }]);
    const run = await reconcileOnce(deps(dir));
    expect(run.errors).toEqual([]);
    expect(run.perClient[0]!.bounces.new).toBe(3);
    expect(run.perClient[0]!.outbounces).toEqual({ found: 1, new: 1, duplicates: 0, quarantined: 0 });
    const outbounce = (await stored()).map((e) => e.normalized!).find((e) => e.type === 'outbounce')!;
    expect(outbounce).toMatchObject({ recipientId: 'gone@example.com', email: 'gone@example.com', thresholdExceeded: true, occurredAt: ago(2 * DAY).replace('.000Z', 'Z') });
    const bounces = (await stored()).map((e) => e.normalized!).filter((e) => e.type === 'bounce');
    expect(bounces.map((b) => b.bounceKind).sort()).toEqual(['hard', 'hard', 'soft']);
    const checks = emu.state.requests.filter((r) => r.path.endsWith('/thresholdExceeded')).map((r) => decodeURIComponent(r.path.split('/')[5]!));
    expect(checks.sort()).toEqual(['full@example.com', 'gone@example.com']);

    // Next run: no new bounces. Only bounces within the overlap (1 h) before the mailing's newest
    // checked bounce are asked again; the known outbounce is never asked again.
    emu.state.requests.length = 0;
    const again = await reconcileOnce(deps(dir));
    expect(again.new).toBe(0);
    const rechecked = emu.state.requests.filter((r) => r.path.endsWith('/thresholdExceeded')).map((r) => decodeURIComponent(r.path.split('/')[5]!));
    expect(rechecked).toEqual(['full@example.com']);

    // A new soft bounce of `full` is checked again; one more for `gone` is not (already outbounced).
    emu.seed({
      clientId: '100',
      responses: [
        { category: 'softbounce', mailingId: 7, recipientId: 'full@example.com', created: ago(HOUR) },
        { category: 'hardbounce', mailingId: 7, recipientId: 'gone@example.com', created: ago(HOUR) },
      ],
    });
    emu.state.requests.length = 0;
    await reconcileOnce(deps(dir));
    const checked = emu.state.requests.filter((r) => r.path.endsWith('/thresholdExceeded')).map((r) => decodeURIComponent(r.path.split('/')[5]!));
    expect(checked).toEqual(['full@example.com']);
  });
});

describe('several clients', () => {
  it('keeps going when one client fails and reports it', async () => {
    emu.seed({ clientId: '200', unsubscribes: [{ recipientId: 'ok@example.com', created: ago(MIN) }] });
    emu.fail({ pathIncludes: '/rest/100/unsubscribes', status: 500, times: 2 });
    const run = await reconcileOnce(deps(directory(['100', '200'], [])));
    expect(run.clients).toBe(2);
    expect(run.errors).toHaveLength(1);
    expect(run.errors[0]).toMatch(/^client 100 unsubscribes: Campaign GET \/100\/unsubscribes: HTTP 500/);
    expect(run.perClient[1]!.unsubscribes.new).toBe(1);
    const events = await stored();
    expect(events.map((e) => e.clientId)).toEqual(['200']);
  });

  it('reports a Dataverse failure reading the clients', async () => {
    const run = await reconcileOnce(deps({
      clients: async () => {
        throw new Error('Dataverse query crs_campaignclients failed: HTTP 503');
      },
      recentMailings: async () => [],
    }));
    expect(run.errors).toEqual(['reading clients and mailings from Dataverse: Dataverse query crs_campaignclients failed: HTTP 503']);
  });
});

describe('the background task', () => {
  it('is off with CRS_POLL_INTERVAL=0 or without credentials, and says why', async () => {
    const off = createReconciliationTask({ intervalMs: 0, deps: deps(directory([], [])) });
    await off.start();
    expect(off.status!()).toMatchObject({ enabled: false, disabledReason: 'CRS_POLL_INTERVAL=0' });
    await off.stop();
    const noCreds = createReconciliationTask({ intervalMs: 3_600_000, disabledReason: 'no Campaign REST credentials' });
    expect(noCreds.status!()).toMatchObject({ enabled: false, disabledReason: 'no Campaign REST credentials' });
  });

  it('shows the last run (events found, new ones) in its status', async () => {
    emu.seed({ clientId: '100', unsubscribes: [{ recipientId: 'a@example.com', created: ago(MIN) }] });
    const logged: string[] = [];
    const logger = { info: (_o: object, m?: string) => void logged.push(m ?? ''), warn: () => undefined, error: () => undefined, debug: () => undefined };
    const task = createReconciliationTask({ intervalMs: 3_600_000, initialDelayMs: 3_600_000, deps: deps(directory(['100'], [])), logger });
    await task.start();
    expect(task.status!()).toMatchObject({ enabled: true, intervalSeconds: 3600, lastRun: null, runs: 0 });
    await task.runNow();
    const status = task.status!() as { lastRun: { eventsFound: number; newEvents: number; clients: number; errors: string[] }; runs: number };
    expect(status.runs).toBe(1);
    expect(status.lastRun.errors).toEqual([]);
    expect(status.lastRun).toMatchObject({ clients: 1, eventsFound: 1, newEvents: 1 });
    expect(logged.at(-1)).toMatch(/reconciliation finished: 1 client\(s\), 0 mailing\(s\), 1 events found, 1 new/);
    await task.stop();
    expect(task.status!()).toMatchObject({ nextRunAt: null });
  });

  it('is built from the configuration, disabled with the reason when something is missing', () => {
    const dataverse = { url: undefined, authorityHost: 'https://login.microsoftonline.com', maxConcurrency: 4 };
    const campaignCfg = { apiUrl: emu.url, apiUser: emu.user, apiPassword: emu.password };
    const status = (config: Parameters<typeof reconciliationTaskFromConfig>[0]['config'], extra = {}) =>
      reconciliationTaskFromConfig({ config, store, ...extra }).status!();
    expect(status({ pollIntervalMs: 0, campaign: campaignCfg, dataverse })).toMatchObject({ enabled: false, disabledReason: 'CRS_POLL_INTERVAL=0' });
    expect(status({ pollIntervalMs: 3_600_000, campaign: { apiUrl: emu.url }, dataverse }))
      .toMatchObject({ enabled: false, disabledReason: 'no Campaign REST credentials (CRS_CAMPAIGN_API_USER / CRS_CAMPAIGN_API_PASSWORD)' });
    expect(status({ pollIntervalMs: 3_600_000, campaign: campaignCfg, dataverse }))
      .toMatchObject({ enabled: false, disabledReason: 'no Dataverse (CRS_DATAVERSE_URL) to read crs_campaignclient / crs_campaignmailing from' });
    expect(status({ pollIntervalMs: 3_600_000, campaign: campaignCfg, dataverse }, { directory: directory([], []) })).toMatchObject({ enabled: true, intervalSeconds: 3600 });
  });

  it('skips a scheduled run when another process started one recently (shared store)', async () => {
    const first = createReconciliationTask({ intervalMs: 3_600_000, deps: deps(directory([], [])) });
    await first.runNow();
    const second = createReconciliationTask({ intervalMs: 3_600_000, initialDelayMs: 0, deps: deps(directory([], [])) });
    await second.start();
    await vi.waitFor(() => expect(second.status!()).toMatchObject({ skipped: 1, runs: 0 }));
    const next = Date.parse((second.status!() as { nextRunAt: string }).nextRunAt);
    expect(next - Date.now()).toBeGreaterThan(3_000_000); // due one interval after the other run, not now
    await second.stop();
  });
});
