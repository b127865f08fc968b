import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CampaignApiError, CampaignClient, parseRetryAfter } from '../../service/campaign/client.js';
import { validRecords } from '../../service/campaign/schemas.js';
import { startCampaignEmulator, type CampaignEmulator } from '../emulators/campaign/index.js';

let emu: CampaignEmulator;
let waits: number[];

function client(over: Partial<ConstructorParameters<typeof CampaignClient>[0]> = {}) {
  return new CampaignClient({
    baseUrl: emu.url, user: emu.user, password: emu.password,
    minBackoffMs: 0, retries: 3, timeoutMs: 2000,
    sleep: async (ms) => {
      waits.push(ms);
    },
    ...over,
  });
}

beforeAll(async () => {
  emu = await startCampaignEmulator();
  emu.seed({
    clientId: '100',
    unsubscribes: Array.from({ length: 250 }, (_, i) => ({
      recipientId: `u${i}@example.com`, mailingId: 5, created: new Date(Date.UTC(2026, 10, 1) + i * 60_000).toISOString(), reason: 'r',
    })),
    responses: [
      { category: 'autoresponder', mailingId: 7, recipientId: 'a@example.com', created: '2026-11-20T10:00:00Z', subject: 'Out of office' },
      { category: 'unknown', mailingId: 7, recipientId: 'b@example.com', created: '2026-11-20T11:00:00Z' },
      { category: 'hardbounce', mailingId: 7, recipientId: 'c@example.com', created: '2026-11-20T12:00:00Z' },
    ],
    recipientLists: [{ id: 1, name: 'Newsletter' }, { id: 2, name: 'Test', testList: true }],
    bounceThresholds: { hard: 1 },
  });
});
afterAll(async () => {
  await emu.close();
});
beforeEach(() => {
  waits = [];
  emu.state.requests.length = 0;
  emu.beforeHandling(undefined);
});

describe('CampaignClient against the emulator', () => {
  it('sends Basic auth and reads the authenticated user', async () => {
    const u = await client().authenticatedUser('100');
    expect(u.username).toBe(emu.user);
  });

  it('fails with 401 (not retried) on wrong credentials, without the password in the message', async () => {
    const err = await client({ password: 'wrong-secret' }).authenticatedUser('100').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CampaignApiError);
    expect((err as CampaignApiError).status).toBe(401);
    expect((err as Error).message).not.toContain('wrong-secret');
    expect(emu.state.requests).toHaveLength(1);
  });

  it('pages unsubscribes newest first with offset/limit, each page overlapping the previous one by one', async () => {
    const seen: string[] = [];
    for await (const u of client().unsubscribesNewestFirst('100', 100)) seen.push(u.ok ? u.record.created : 'rejected');
    expect(seen).toHaveLength(250);
    expect(new Set(seen).size).toBe(250); // the overlapping element is not yielded twice
    expect([...seen].sort().reverse()).toEqual(seen);
    const offsets = emu.state.requests.map((r) => [r.query.offset, r.query.limit, r.query.direction, r.query.sort]);
    expect(offsets).toEqual([['0', '100', 'DESC', 'created'], ['99', '100', 'DESC', 'created'], ['198', '100', 'DESC', 'created']]);
  });

  describe('an unsubscribe list that changes between two page reads', () => {
    const at = (minute: number) => new Date(Date.UTC(2026, 10, 20) + minute * 60_000).toISOString();
    /** Client 300: u1 newest … u6 oldest. */
    const seed = () => {
      emu.state.clients.delete('300');
      emu.seed({ clientId: '300', unsubscribes: [1, 2, 3, 4, 5, 6].map((i) => ({ recipientId: `u${i}@example.com`, created: at(100 - i) })) });
    };
    /** Runs `change` once, before the second unsubscribes page is answered. */
    const onSecondPage = (change: (list: { recipientId: string; created: string }[]) => void) => {
      let pages = 0;
      emu.beforeHandling((r) => {
        if (r.path.endsWith('/300/unsubscribes') && ++pages === 2) change(emu.state.clients.get('300')!.unsubscribes);
      });
    };
    const read = async () => {
      const seen: string[] = [];
      const moved: number[] = [];
      for await (const u of client().unsubscribesNewestFirst('300', 2, (offset) => moved.push(offset))) seen.push(u.ok ? u.record.recipientId : 'rejected');
      return { seen, moved };
    };

    it('reports entries removed above the page boundary (one could have slid past unseen)', async () => {
      seed();
      onSecondPage((list) => list.splice(0, 2)); // u1 and u2 re-subscribed after page 1 was read
      const { seen, moved } = await read();
      expect(moved).toEqual([1]);
      // Page 2 at offset 1 now holds u4, u5: u3 moved onto the page already read.
      expect(seen).not.toContain('u3@example.com');
    });

    it('needs no report when new entries arrive on top, and yields nothing twice', async () => {
      seed();
      onSecondPage((list) => list.push({ recipientId: 'new@example.com', created: at(200) }));
      const { seen, moved } = await read();
      expect(moved).toEqual([]);
      expect(seen).toEqual(['u1', 'u2', 'u3', 'u4', 'u5', 'u6'].map((u) => `${u}@example.com`));
    });
  });

  it('keeps a malformed element of a page as rejected, with its reason, and the good ones as records', async () => {
    emu.fail({
      pathIncludes: '/responses', status: 200,
      body: { elements: [{ recipientId: 'ok@example.com', created: '2026-11-20T10:00:00Z' }, { recipientId: null, created: '2026-11-20T11:00:00Z' }, 'junk'], count: 3 },
    });
    const page = await client().responses('100', { category: 'autoresponder', mailingId: '7' });
    expect(validRecords(page).map((r) => r.recipientId)).toEqual(['ok@example.com']);
    expect(page.filter((e) => !e.ok)).toEqual([
      { ok: false, raw: { recipientId: null, created: '2026-11-20T11:00:00Z' }, reason: expect.stringMatching(/^recipientId: /) },
      { ok: false, raw: 'junk', reason: expect.stringMatching(/^\(root\): /) },
    ]);
    // The envelope itself must still match.
    emu.fail({ pathIncludes: '/responses', status: 200, body: { elements: 'nope' } });
    const err = await client().responses('100', { category: 'autoresponder', mailingId: '7' }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/unexpected response shape/);
  });

  it('has at most 4 requests per Campaign client in flight, whoever calls through whichever instance, the rest queued', async () => {
    emu.state.peakInFlight.clear();
    emu.fail({ pathIncludes: '/thresholdExceeded', delayMs: 40, times: 36 }); // slow answers, so calls pile up
    const [sync, reconciliation] = [client(), client()]; // e.g. the sync worker's and the reconciliation's
    const ids = Array.from({ length: 12 }, (_, i) => `r${i}@example.com`);
    const results = await Promise.all([
      ...ids.map((id) => sync.bounceThresholdExceeded('400', id)),
      ...ids.map((id) => reconciliation.bounceThresholdExceeded('400', id)),
      ...ids.map((id) => sync.bounceThresholdExceeded('401', id)),
    ]);
    expect(results).toEqual(Array(36).fill(false));
    expect(emu.state.requests.filter((r) => r.path.endsWith('/thresholdExceeded'))).toHaveLength(36);
    expect(emu.state.peakInFlight.get('400')).toBe(4);
    expect(emu.state.peakInFlight.get('401')).toBe(4); // each client has its own limit
  });

  it('stops paging when the consumer stops', async () => {
    let n = 0;
    for await (const _u of client().unsubscribesNewestFirst('100', 50)) if (++n === 60) break;
    expect(emu.state.requests).toHaveLength(2);
  });

  it('reads responses per mailing and category, and 404 for an unknown mailing', async () => {
    const auto = validRecords(await client().responses('100', { category: 'autoresponder', mailingId: '7' }));
    expect(auto.map((r) => [r.recipientId, r.mailingId, r.subject])).toEqual([['a@example.com', '7', 'Out of office']]);
    const unknown = validRecords(await client().responses('100', { category: 'unknown', mailingId: '7' }));
    expect(unknown.map((r) => r.recipientId)).toEqual(['b@example.com']);
    const err = await client().responses('100', { category: 'unknown', mailingId: '999' }).catch((e: unknown) => e);
    expect((err as CampaignApiError).status).toBe(404);
  });

  it('reads bounce counters, the threshold and thresholdExceeded (recipient ids encoded in the path)', async () => {
    const c = client();
    expect(await c.bounceThreshold('100', 'hardbounce')).toBe(1);
    expect(await c.bounceCounter('100', 'c@example.com', 'hardbounce')).toBe(1);
    expect(await c.bounceThresholdExceeded('100', 'c@example.com')).toBe(true);
    expect(await c.bounceThresholdExceeded('100', 'a+b/c@example.com')).toBe(false);
    expect(emu.state.requests.at(-1)!.path).toBe('/rest/100/responses/bounces/a%2Bb%2Fc%40example.com/thresholdExceeded');
  });

  it('lists recipient lists', async () => {
    const lists = await client().recipientLists('100');
    expect(lists.map((l) => l.id)).toEqual(['1', '2']);
  });

  it('retries 429 after waiting at least Retry-After', async () => {
    emu.fail({ pathIncludes: '/users/authenticated', status: 429, retryAfter: '7', times: 2 });
    await client().authenticatedUser('100');
    expect(waits).toEqual([7000, 7000]);
    expect(emu.state.requests.map((r) => r.status)).toEqual([429, 429, 200]);
  });

  it('retries 429 on a POST too (the request was not processed)', async () => {
    emu.fail({ method: 'POST', pathIncludes: '/webhooks', status: 429, retryAfter: '1' });
    const hook = await client().createWebhook('100', { type: 'open', targetUrl: 'https://crs.example.com/webhooks/campaign/100', authentication: { type: 'none' } });
    expect(hook.status).toBe('created');
    expect(emu.state.requests.filter((r) => r.method === 'POST')).toHaveLength(2);
  });

  it('backs off on 5xx for GET and gives up after the retries', async () => {
    emu.fail({ pathIncludes: '/recipientlists', status: 503, times: 2 });
    expect(await client().recipientLists('100')).toHaveLength(2);
    emu.fail({ pathIncludes: '/recipientlists', status: 502, times: 3 });
    const err = await client({ retries: 2 }).recipientLists('100').catch((e: unknown) => e);
    expect((err as CampaignApiError).status).toBe(502);
    expect(emu.state.requests.filter((r) => r.status === 502)).toHaveLength(3);
  });

  it('does not repeat a create on 5xx (it may have been processed)', async () => {
    emu.fail({ method: 'POST', pathIncludes: '/webhooks', status: 500 });
    const err = await client().createWebhook('100', { type: 'click', targetUrl: 'https://crs.example.com/x', authentication: { type: 'none' } }).catch((e: unknown) => e);
    expect((err as CampaignApiError).status).toBe(500);
    expect(emu.state.requests.filter((r) => r.method === 'POST')).toHaveLength(1);
  });

  it('times out a slow answer and retries a GET', async () => {
    emu.fail({ pathIncludes: '/users/authenticated', delayMs: 600, status: 200 });
    const ok = await client({ timeoutMs: 200 }).authenticatedUser('100');
    expect(ok.username).toBe(emu.user);
    emu.fail({ pathIncludes: '/users/authenticated', delayMs: 600, status: 200, times: 2 });
    const err = await client({ timeoutMs: 200, retries: 1 }).authenticatedUser('100').catch((e: unknown) => e);
    expect((err as CampaignApiError).status).toBe(0);
    expect((err as Error).message).toMatch(/timed out after 200 ms/);
  });

  it('rejects a response of the wrong shape with a one-line reason', async () => {
    emu.fail({ pathIncludes: '/thresholdExceeded', status: 200, body: { exceeded: 'maybe' } });
    const err = await client().bounceThresholdExceeded('100', 'x@example.com').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CampaignApiError);
    expect((err as Error).message).toMatch(/unexpected response shape \(exceeded: /);
  });
});

describe('parseRetryAfter', () => {
  it.each([
    ['5', 5000],
    ['0', 0],
    [undefined, undefined],
    ['soon', undefined],
  ])('%s → %s', (v, ms) => {
    expect(parseRetryAfter(v)).toBe(ms);
  });
  it('reads an HTTP date', () => {
    const now = Date.parse('2026-11-26T10:00:00Z');
    expect(parseRetryAfter('Thu, 26 Nov 2026 10:00:30 GMT', now)).toBe(30_000);
  });
});
