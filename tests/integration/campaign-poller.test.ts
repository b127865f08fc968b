/**
 * The reconciliation (R11) against the Campaign REST emulator and a real (in-memory SQLite) event
 * store: watermark with overlap, dedup with webhook events (R9), unknown → reply, the 30-day
 * mailing window, bounce threshold → outbounce, one client failing without stopping the others;
 * nothing missed for good when the list moves while paged, a record is dated in the future, an
 * element is malformed or a threshold check fails.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ingestEvents, toIncomingEvents } from '../../service/ingest/ingest.js';
import { openStore } from '../../service/store/index.js';
import type { EventStore, StoredEvent } from '../../service/store/types.js';
import { CampaignClient } from '../../service/campaign/client.js';
import type { CampaignDirectory, PolledMailing } from '../../service/campaign/directory.js';
import { reconcileOnce, storeIngest, watermarkKeys, type ReconcileDeps } from '../../service/campaign/poller.js';
import { createReconciliationTask, reconciliationTaskFromConfig } from '../../service/campaign/reconciliation-task.js';
import { startCampaignEmulator, type CampaignEmulator, type EmulatorResponse, type EmulatorUnsubscribe } from '../emulators/campaign/index.js';

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

const recipients = async () => (await store.list('pending', 1000)).map((e) => e.normalized!.recipientId).sort();
const thresholdChecks = () => emu.state.requests.filter((r) => r.path.endsWith('/thresholdExceeded')).map((r) => decodeURIComponent(r.path.split('/')[5]!));
const second = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

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
  emu.beforeHandling(undefined);
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
    // Pages of 2 overlapping by one: [new, c] [c, late] [late, b] → b at 2 h stops the paging, not all 7 records.
    expect(emu.state.requests.filter((r) => r.path.endsWith('/unsubscribes'))).toHaveLength(3);
  });

  it('keeps the watermark when the list moved while paging, so the next run reads what slid past', async () => {
    const dir = directory(['100'], []);
    emu.seed({ clientId: '100', unsubscribes: [{ recipientId: 'old@example.com', created: ago(10 * HOUR) }] });
    await reconcileOnce(deps(dir));
    const key = watermarkKeys.unsubscribes('100');
    expect(await store.getState(key)).toBe(second(NOW.getTime() - 10 * HOUR));

    emu.seed({ clientId: '100', unsubscribes: [1, 2, 3, 4, 5, 6].map((h) => ({ recipientId: `u${h}@example.com`, created: ago(h * HOUR) })) });
    // u1 and u2 re-subscribe (their unsubscribes are deleted) just after the first page [u1, u2] was read.
    let pages = 0;
    emu.beforeHandling((r) => {
      if (!r.path.endsWith('/100/unsubscribes') || ++pages !== 2) return;
      const list = emu.state.clients.get('100')!.unsubscribes;
      list.splice(0, list.length, ...list.filter((u) => u.recipientId !== 'u1@example.com' && u.recipientId !== 'u2@example.com'));
    });
    const moved = await reconcileOnce(deps(dir, { options: { pageSize: 2 } }));
    expect(moved.errors).toEqual([]);
    expect(moved.perClient[0]!.unsubscribeListMoved).toBe(1);
    expect(await recipients()).not.toContain('u3@example.com'); // slid onto the page already read
    expect(await store.getState(key)).toBe(second(NOW.getTime() - 10 * HOUR)); // not moved to u1's time

    emu.beforeHandling(undefined);
    const next = await reconcileOnce(deps(dir, { options: { pageSize: 2 } }));
    expect(next.perClient[0]!.unsubscribeListMoved).toBe(0);
    expect(await recipients()).toEqual(['old', 'u1', 'u2', 'u3', 'u4', 'u5', 'u6'].map((u) => `${u}@example.com`));
    expect(await store.getState(key)).toBe(second(NOW.getTime() - 3 * HOUR));
  });

  it('never moves the watermark past the run start: a record dated in the future hides nothing', async () => {
    const dir = directory(['100'], []);
    emu.seed({
      clientId: '100',
      unsubscribes: [{ recipientId: 'skewed@example.com', created: ago(-5 * HOUR) }, { recipientId: 'a@example.com', created: ago(HOUR) }],
    });
    await reconcileOnce(deps(dir));
    expect(await store.getState(watermarkKeys.unsubscribes('100'))).toBe(second(NOW.getTime()));
    // Half an hour after the first run, a real unsubscribe (older than the skewed record).
    emu.seed({ clientId: '100', unsubscribes: [{ recipientId: 'b@example.com', created: ago(-30 * MIN) }] });
    const later = new Date(NOW.getTime() + HOUR);
    const run = await reconcileOnce(deps(dir, { now: () => later }));
    expect(run.perClient[0]!.unsubscribes.new).toBe(1);
    expect(await recipients()).toEqual(['a@example.com', 'b@example.com', 'skewed@example.com']);
    expect(await store.getState(watermarkKeys.unsubscribes('100'))).toBe(second(later.getTime()));
  });

  it('ignores a stored watermark that lies in the future and reads as on a first run', async () => {
    await store.setState(watermarkKeys.unsubscribes('100'), second(NOW.getTime() + DAY));
    emu.seed({ clientId: '100', unsubscribes: [{ recipientId: 'a@example.com', created: ago(2 * DAY) }] });
    const run = await reconcileOnce(deps(directory(['100'], [])));
    expect(run.perClient[0]!.unsubscribes.new).toBe(1);
    expect(await store.getState(watermarkKeys.unsubscribes('100'))).toBe(second(NOW.getTime() - 2 * DAY));
  });

  it('quarantines a malformed element once, with its JSON and the reason, and reconciles the good ones', async () => {
    emu.seed({
      clientId: '100',
      unsubscribes: [
        { recipientId: null, created: ago(2 * HOUR) }, // e.g. an anonymised recipient
        { recipientId: 'num@example.com', created: NOW.getTime() + DAY }, // an unreadable (non-string) date
        { recipientId: 'a@example.com', created: ago(HOUR) },
      ] as unknown as EmulatorUnsubscribe[],
    });
    const dir = directory(['100'], []);
    const run = await reconcileOnce(deps(dir));
    expect(run.errors).toEqual([]);
    expect(run.perClient[0]!.unsubscribes).toEqual({ found: 3, new: 1, duplicates: 0, quarantined: 2 });
    expect(await recipients()).toEqual(['a@example.com']);
    const quarantined = await store.list('quarantined', 10);
    const anonymised = quarantined.find((e) => JSON.parse(e.raw).element.recipientId === null)!;
    expect(JSON.parse(anonymised.raw)).toEqual({
      source: 'campaign-rest:unsubscribes', rejected: expect.stringMatching(/^recipientId: /), element: { recipientId: null, created: ago(2 * HOUR) },
    });
    expect(anonymised.lastError).toMatch(/^Campaign REST element rejected: recipientId: /);
    // A malformed element moves no watermark (`num`'s date lies a day ahead).
    expect(await store.getState(watermarkKeys.unsubscribes('100'))).toBe(second(NOW.getTime() - HOUR));

    // Read again within the overlap: the store cannot deduplicate quarantined elements, the poller does.
    const again = await reconcileOnce(deps(dir));
    expect(again.perClient[0]!.unsubscribes).toEqual({ found: 3, new: 0, duplicates: 3, quarantined: 0 });
    expect(await store.list('quarantined', 10)).toHaveLength(2);
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

  it('quarantines a malformed response element and still takes the others of the mailing', async () => {
    emu.seed({
      clientId: '100',
      responses: [{ category: 'autoresponder', mailingId: 7, recipientId: 42, created: ago(DAY) }] as unknown as EmulatorResponse[],
    });
    const dir = directory(['100'], mailings);
    const run = await reconcileOnce(deps(dir));
    expect(run.errors).toEqual([]);
    expect(run.perClient[0]!.autoresponders).toEqual({ found: 2, new: 1, duplicates: 0, quarantined: 1 });
    expect(run.perClient[0]!.replies.new).toBe(1);
    expect((await store.list('quarantined', 10)).map((e) => JSON.parse(e.raw).element.recipientId)).toEqual([42]);
    const again = await reconcileOnce(deps(dir));
    expect(again.perClient[0]!.autoresponders).toEqual({ found: 2, new: 0, duplicates: 2, quarantined: 0 });
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

describe('bounce watermark', () => {
  const dir = () => directory(['100'], [{ clientId: '100', mailingId: '7', createdOn: ago(4 * DAY) }]);

  it('moves only after the threshold checks of its bounces succeeded', async () => {
    emu.seed({
      clientId: '100',
      bounceThresholds: { hard: 1 },
      responses: [
        { category: 'hardbounce', mailingId: 7, recipientId: 'x@example.com', created: ago(3 * HOUR) },
        { category: 'hardbounce', mailingId: 7, recipientId: 'y@example.com', created: ago(HOUR) },
      ],
    });
    emu.fail({ pathIncludes: '/thresholdExceeded', status: 503, times: 2 }); // the client retries once
    const failed = await reconcileOnce(deps(dir()));
    expect(failed.errors).toEqual([expect.stringMatching(/^client 100 bounce thresholds: .*HTTP 503/)]);
    expect(await store.getState(watermarkKeys.bounces('100', '7'))).toBeNull();

    emu.state.requests.length = 0;
    const next = await reconcileOnce(deps(dir()));
    expect(next.errors).toEqual([]);
    expect(thresholdChecks().sort()).toEqual(['x@example.com', 'y@example.com']);
    expect(next.perClient[0]!.outbounces.new).toBe(2);
    expect(await store.getState(watermarkKeys.bounces('100', '7'))).toBe(second(NOW.getTime() - HOUR));
  });

  it('never moves past the run start: a bounce dated in the future hides no later bounce', async () => {
    emu.seed({
      clientId: '100',
      bounceThresholds: { hard: 3 },
      responses: [{ category: 'hardbounce', mailingId: 7, recipientId: 'skewed@example.com', created: ago(-5 * HOUR) }],
    });
    await reconcileOnce(deps(dir()));
    expect(await store.getState(watermarkKeys.bounces('100', '7'))).toBe(second(NOW.getTime()));
    emu.seed({ clientId: '100', responses: [{ category: 'hardbounce', mailingId: 7, recipientId: 'real@example.com', created: ago(-30 * MIN) }] });
    emu.state.requests.length = 0;
    await reconcileOnce(deps(dir(), { now: () => new Date(NOW.getTime() + HOUR) }));
    expect(thresholdChecks()).toContain('real@example.com');
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
