import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DataverseClient, DataverseOp, OpResult } from '../../service/dataverse/types.js';
import type { NormalizedEvent } from '../../service/events.js';
import { openStore } from '../../service/store/index.js';
import type { EventStore } from '../../service/store/types.js';
import { createMetrics } from '../../service/metrics.js';
import type { SyncLookups } from '../../service/sync/lookups.js';
import { backoffMs, fateOf, SyncWorker } from '../../service/sync/worker.js';
import type { ClientRow, MailingRow, NewsletterRow, Person } from '../../service/sync/facts.js';
import { CHANNEL } from '../../solution/model/index.js';

const CLIENT: ClientRow = { id: '00000000-0000-0000-0000-0000000000a1', clientId: '1234' };
const NEWSLETTER: NewsletterRow = { id: '00000000-0000-0000-0000-0000000000b1', name: 'News', clientRowId: CLIENT.id, recipientListId: '5678', channel: CHANNEL.Email };
const MAILING: MailingRow = { id: '00000000-0000-0000-0000-0000000000e1', mailingId: '1001', clientRowId: CLIENT.id, campaignId: '00000000-0000-0000-0000-0000000000f1' };
const PEOPLE: Record<string, Person> = {
  'good@example.com': { type: 'contact', id: '00000000-0000-0000-0000-00000000c001', email: 'good@example.com' },
  'bad@example.com': { type: 'contact', id: '00000000-0000-0000-0000-00000000c002', email: 'bad@example.com' },
  'flaky@example.com': { type: 'contact', id: '00000000-0000-0000-0000-00000000c003', email: 'flaky@example.com' },
};

function stubLookups(): SyncLookups & { invalidations: number } {
  const l = {
    invalidations: 0,
    async personsByEmails(emails: string[]) {
      return new Map(emails.map((e) => [e, PEOPLE[e] ? [PEOPLE[e]] : []]));
    },
    async personByRef() {
      return undefined;
    },
    async clientRow(id: string) {
      return id === CLIENT.clientId ? CLIENT : undefined;
    },
    async allNewsletters() {
      return [NEWSLETTER];
    },
    async campaignMailingOf(_c: string, m: string) {
      return m === MAILING.mailingId ? MAILING : undefined;
    },
    async consentsOf() {
      return [];
    },
    async responsesByIds() {
      return [];
    },
    invalidate() {
      l.invalidations += 1;
    },
  };
  return l;
}

/** Dataverse whose answer per op is decided by the test (by the party/consent person in the body). */
function fakeDataverse(answer: (op: DataverseOp) => Partial<OpResult>) {
  const executed: DataverseOp[][] = [];
  const client: DataverseClient = {
    async execute(ops) {
      executed.push(ops);
      return ops.map((op) => ({ op, status: 204, ok: true, ...(op.method === 'create' ? { existed: false } : {}), ...answer(op) }));
    },
    async query() {
      return [];
    },
    async retrieve() {
      return null;
    },
    async checkAuth() {},
  };
  return { client, executed };
}
const personOf = (op: DataverseOp) => JSON.stringify(op.body);

let seq = 0;
function ev(partial: Partial<NormalizedEvent> & Pick<NormalizedEvent, 'type'>): NormalizedEvent {
  seq += 1;
  return { key: `nk:w${seq}`, clientId: '1234', mailingId: '1001', occurredAt: '2026-11-20T10:00:00Z', origin: 'webhook', ...partial };
}

describe('fateOf: whose fault is a Dataverse answer', () => {
  const op: DataverseOp = { method: 'create', entitySet: 'campaignresponses', id: '00000000-0000-0000-0000-000000000001', body: {} };
  const cases: [string, Partial<OpResult>, boolean, string][] = [
    ['success', { status: 204, ok: true }, false, 'ok'],
    ['history entry already there', { status: 412, ok: true, existed: true }, true, 'ok'],
    ['response appeared concurrently', { status: 412, ok: true, existed: true }, false, 'retry'],
    ['marked retryable by the client', { status: 503, ok: false, retryable: true }, false, 'retry'],
    ['429 after the client gave up', { status: 429, ok: false }, false, 'retry'],
    ['500', { status: 500, ok: false }, false, 'retry'],
    ['401', { status: 401, ok: false }, false, 'retry'],
    ['412 on If-Match (changed meanwhile)', { status: 412, ok: false }, false, 'retry'],
    ['404 (row deleted meanwhile)', { status: 404, ok: false }, false, 'retry'],
    ['403 (missing privilege: configuration, not the event)', { status: 403, ok: false }, false, 'retry'],
    ['400 on a field: the event’s fault', { status: 400, ok: false, error: { code: '0x80044331', message: 'too long' } }, false, 'fault'],
  ];
  it.each(cases)('%s → %s', (_name, result, fine, kind) => {
    expect(fateOf({ op, status: 0, ok: false, ...result }, fine).kind).toBe(kind);
  });

  it('back-off grows and is capped', () => {
    const mid = () => 0.5;
    expect([1, 2, 3, 10].map((a) => backoffMs(a, 1000, 5000, mid))).toEqual([1000, 2000, 4000, 5000]);
  });
});

describe('SyncWorker rounds (store: SQLite in memory)', () => {
  let store: EventStore;
  let clock: Date;
  beforeEach(async () => {
    clock = new Date('2026-11-26T12:00:00Z');
    store = await openStore('sqlite::memory:', { now: () => clock });
  });
  afterEach(async () => {
    await store.close();
  });
  const append = (events: NormalizedEvent[]) => store.append(events.map((e) => ({ clientId: e.clientId, raw: JSON.stringify(e), normalized: e })));
  const worker = (client: DataverseClient, extra: Partial<ConstructorParameters<typeof SyncWorker>[0]> = {}) =>
    new SyncWorker({ store, dataverse: client, lookups: stubLookups(), plan: { granularity: 'aggregate', spamComplaintOptOut: true }, bounceLimits: { hard: 3, soft: 5 }, now: () => clock, ...extra });

  it('applies a batch through ONE execute call; the event whose field Dataverse refuses is dead-lettered alone', async () => {
    const { client, executed } = fakeDataverse((op) => (personOf(op).includes(PEOPLE['bad@example.com']!.id) ? { status: 400, ok: false, existed: undefined, error: { code: '0x80044331', message: 'A validation error occurred.' } } : {}));
    await append([ev({ type: 'open', email: 'good@example.com' }), ev({ type: 'open', email: 'bad@example.com' }), ev({ type: 'sent', email: 'good@example.com' })]);
    const metrics = createMetrics({ defaultMetrics: false });
    const w = worker(client, { metrics });
    const round = await w.runOnce();
    expect(executed).toHaveLength(1);
    expect(executed[0]).toHaveLength(2);
    const states = Object.fromEntries(round.outcomes.map((o) => [o.id, o.state]));
    expect(states).toEqual({ 1: 'applied', 2: 'deadLetter', 3: 'ignored' });
    expect(round.outcomes.find((o) => o.id === '2')?.error).toContain('0x80044331');
    expect(await store.counts()).toMatchObject({ applied: 1, deadLetter: 1, ignored: 1, pending: 0 });
    const text = await metrics.registry.metrics();
    expect(text).toContain('crs_events_total{type="open",outcome="applied"} 1');
    expect(text).toContain('crs_events_total{type="open",outcome="deadLetter"} 1');
    expect(w.status()).toMatchObject({ outcomes: { applied: 1, deadLetter: 1, ignored: 1 } });
  });

  it('a transient failure leaves the event pending with back-off; it is applied once Dataverse recovers', async () => {
    let down = true;
    const { client } = fakeDataverse(() => (down ? { status: 503, ok: false, retryable: true, existed: undefined } : {}));
    await append([ev({ type: 'open', email: 'flaky@example.com' })]);
    const w = worker(client);
    const first = await w.runOnce();
    expect(first.outcomes[0]).toMatchObject({ state: 'pending' });
    expect(first.outcomes[0]?.nextAttemptAt?.getTime()).toBeGreaterThan(clock.getTime());
    expect((await w.runOnce()).leased).toBe(0); // not due yet
    down = false;
    clock = new Date(clock.getTime() + 60_000);
    expect((await w.runOnce()).outcomes[0]).toMatchObject({ state: 'applied' });
  });

  it('when Dataverse cannot be reached at all, the whole batch stays pending', async () => {
    const client: DataverseClient = { ...fakeDataverse(() => ({})).client, execute: async () => { throw new Error('cannot obtain a Dataverse token'); } };
    await append([ev({ type: 'open', email: 'good@example.com' }), ev({ type: 'unsubscribe', email: 'good@example.com', recipientListId: '5678' })]);
    const round = await worker(client).runOnce();
    expect(round.outcomes.map((o) => o.state)).toEqual(['pending', 'pending']);
    expect(round.outcomes[0]?.error).toContain('token');
  });

  it('unmatched events are retried with back-off and dead-lettered after 30 days', async () => {
    const { client } = fakeDataverse(() => ({}));
    await append([ev({ type: 'open', email: 'nobody@example.com' })]);
    const w = worker(client);
    const first = await w.runOnce();
    expect(first.outcomes[0]).toMatchObject({ state: 'unmatched' });
    expect(first.outcomes[0]?.nextAttemptAt?.getTime()).toBeGreaterThan(clock.getTime());
    clock = new Date(clock.getTime() + 10 * 86_400_000);
    expect((await w.runOnce()).outcomes[0]).toMatchObject({ state: 'unmatched' });
    clock = new Date(clock.getTime() + 21 * 86_400_000);
    const last = await w.runOnce();
    expect(last.outcomes[0]).toMatchObject({ state: 'deadLetter' });
    expect(last.outcomes[0]?.error).toMatch(/unmatched for 31 days/);
  });

  it('a 404 (row deleted since the lookup) drops the lookup caches and retries; dead-letters after repeated 404s', async () => {
    const { client } = fakeDataverse(() => ({ status: 404, ok: false, existed: undefined, error: { code: '0x80040217', message: 'contact With Id = … Does Not Exist' } }));
    await append([ev({ type: 'open', email: 'good@example.com' })]);
    const lookups = stubLookups();
    const w = worker(client, { lookups, maxNotFoundAttempts: 2 });
    expect((await w.runOnce()).outcomes[0]).toMatchObject({ state: 'pending' });
    expect(lookups.invalidations).toBe(1);
    clock = new Date(clock.getTime() + 3_600_000);
    expect((await w.runOnce()).outcomes[0]).toMatchObject({ state: 'deadLetter' });
  });

  it('compliance events are leased first', async () => {
    const { client, executed } = fakeDataverse(() => ({}));
    await append([ev({ type: 'open', email: 'good@example.com' }), ev({ type: 'unsubscribe', email: 'good@example.com', recipientListId: '5678' })]);
    await worker(client, { batchSize: 1 }).runOnce();
    expect(executed[0]?.map((o) => o.entitySet)).toEqual(['crs_advertisingconsents', 'crs_optinhistories', 'campaignresponses']);
  });

  describe('R5: how the worker learns an outbounce', () => {
    const consentOf = (id: string) => ({ id, person: PEOPLE['good@example.com']!, newsletterId: NEWSLETTER.id, outbounce: false, history: [] });
    const lookupsWithConsent = () => ({ ...stubLookups(), consentsOf: async () => [consentOf('00000000-0000-0000-0000-0000000000c7')] });

    it('the Campaign REST threshold decides when the client has credentials', async () => {
      const { client, executed } = fakeDataverse(() => ({}));
      const asked: string[] = [];
      await append([ev({ type: 'bounce', bounceKind: 'soft', email: 'good@example.com', recipientId: 'good@example.com' })]);
      const round = await worker(client, { lookups: lookupsWithConsent(), checkBounceThreshold: async (c, r) => (asked.push(`${c}/${r}`), true) }).runOnce();
      expect(asked).toEqual(['1234/good@example.com']);
      expect(round.outcomes[0]).toMatchObject({ state: 'applied' });
      expect(executed[0]?.[0]?.body).toMatchObject({ crs_outbounce: true });
      expect(await store.getState('outbounce:good@example.com')).toBe('2026-11-20T10:00:00Z');
    });

    it('without credentials: local counting, 3 distinct hard bounces', async () => {
      const { client, executed } = fakeDataverse(() => ({}));
      const w = worker(client, { lookups: lookupsWithConsent(), checkBounceThreshold: async () => undefined });
      for (const day of ['01', '02']) {
        await append([ev({ type: 'bounce', bounceKind: 'hard', email: 'good@example.com', occurredAt: `2026-11-${day}T00:00:00Z` })]);
        expect((await w.runOnce()).outcomes[0]).toMatchObject({ state: 'ignored' });
      }
      await append([ev({ type: 'bounce', bounceKind: 'hard', email: 'good@example.com', occurredAt: '2026-11-03T00:00:00Z' })]);
      expect((await w.runOnce()).outcomes[0]).toMatchObject({ state: 'applied' });
      // Dated by the first bounce of the series: the same whatever order the bounces are processed in.
      expect(executed.flat().map((o) => o.body)).toEqual([{ crs_outbounce: true, crs_outbounceon: '2026-11-01T00:00:00Z' }]);
    });

    it('local counting is order-independent: bounces processed newest first date the outbounce the same', async () => {
      const { client, executed } = fakeDataverse(() => ({}));
      await append(['03', '02', '01'].map((day) => ev({ type: 'bounce', bounceKind: 'hard', email: 'good@example.com', occurredAt: `2026-11-${day}T00:00:00Z` })));
      const round = await worker(client, { lookups: lookupsWithConsent() }).runOnce();
      expect(round.outcomes.map((o) => o.state)).toEqual(['applied', 'applied', 'applied']);
      expect(executed.flat().map((o) => o.body)).toEqual([{ crs_outbounce: true, crs_outbounceon: '2026-11-01T00:00:00Z' }]);
    });

    it('a bounce whose event says thresholdExceeded needs no question', async () => {
      const { client } = fakeDataverse(() => ({}));
      let asked = 0;
      await append([ev({ type: 'bounce', thresholdExceeded: true, email: 'good@example.com' })]);
      const round = await worker(client, { lookups: lookupsWithConsent(), checkBounceThreshold: async () => (asked++, false) }).runOnce();
      expect(asked).toBe(0);
      expect(round.outcomes[0]).toMatchObject({ state: 'applied' });
    });
  });

  it('start/stop: the loop drains the queue and stop releases leases', async () => {
    const { client } = fakeDataverse(() => ({}));
    await append([ev({ type: 'open', email: 'good@example.com' }), ev({ type: 'open', email: 'good@example.com', occurredAt: '2026-11-21T00:00:00Z' })]);
    const w = worker(client, { idlePollMs: 10, batchSize: 1 });
    await w.start();
    for (let i = 0; i < 200 && (await store.counts()).applied < 2; i++) await new Promise((r) => setTimeout(r, 10));
    await w.stop();
    expect(await store.counts()).toMatchObject({ applied: 2, pending: 0 });
  });
});
