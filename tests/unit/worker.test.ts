import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DataverseClient, DataverseOp, DataverseRow, OpResult } from '../../service/dataverse/types.js';
import type { NormalizedEvent } from '../../service/events.js';
import { openStore } from '../../service/store/index.js';
import type { EventStore } from '../../service/store/types.js';
import { createMetrics } from '../../service/metrics.js';
import type { SyncLookups } from '../../service/sync/lookups.js';
import { backoffMs, fateOf, SyncWorker } from '../../service/sync/worker.js';
import type { ClientRow, MailingRow, NewsletterRow, Person } from '../../service/sync/facts.js';
import { CHANNEL, CONSENT_STATUS } from '../../solution/model/index.js';
import { API_PATH, requestForOp, resultFromPart } from '../../service/dataverse/ops.js';
import { CrmLookups } from '../../service/sync/lookups.js';
import { Engine } from '../emulators/dataverse/engine.js';
import { buildSchema } from '../emulators/dataverse/schema.js';
import { DEMO_IDS, demoSeed } from '../emulators/dataverse/demo-seed.js';

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

/** A DataverseClient straight onto the in-process emulator (no HTTP): the rows the worker writes can be read back. */
function engineClient(engine: Engine): DataverseClient & { reads: string[] } {
  const strip = (p: string) => (p.startsWith(`${API_PATH}/`) ? p.slice(API_PATH.length + 1) : p);
  const reads: string[] = [];
  return {
    reads,
    async execute(ops) {
      return ops.map((op) => {
        const req = requestForOp(op);
        const r = engine.handle({ method: req.method, path: strip(req.path), query: '', headers: { 'content-type': 'application/json', ...(req.headers ?? {}) }, body: JSON.stringify(req.body) });
        return resultFromPart(op, { status: r.status, headers: r.headers as Record<string, string>, body: typeof r.body === 'string' ? r.body : JSON.stringify(r.body ?? '') });
      });
    },
    async query(entitySet, query) {
      reads.push(entitySet);
      const r = engine.handle({ method: 'GET', path: entitySet, query, headers: {}, body: '' });
      if (r.status !== 200) throw new Error(`query ${entitySet} HTTP ${r.status}`);
      return (r.body as { value: DataverseRow[] }).value;
    },
    async retrieve(entitySet, id, select) {
      reads.push(`${entitySet}(${id})`);
      const r = engine.handle({ method: 'GET', path: `${entitySet}(${id})`, query: select ? `$select=${select.join(',')}` : '', headers: {}, body: '' });
      return r.status === 404 ? null : (r.body as DataverseRow);
    },
    async checkAuth() {},
  };
}

describe('SyncWorker against the in-process Dataverse emulator (real CrmLookups, 5 min cache)', () => {
  const I = DEMO_IDS;
  const CLIENT_5555 = '3c000000-0000-4000-8000-000000000001';
  let store: EventStore;
  let clock: Date;
  let engine: Engine;
  let client: ReturnType<typeof engineClient>;
  let w: SyncWorker;
  beforeEach(async () => {
    clock = new Date('2026-11-26T12:00:00Z');
    store = await openStore('sqlite::memory:', { now: () => clock });
    engine = new Engine(buildSchema(), { baseUrl: 'https://dataverse.test' });
    for (const [table, rows] of Object.entries(demoSeed())) engine.seedRows(table, rows);
    client = engineClient(engine);
    w = new SyncWorker({
      store, dataverse: client, lookups: new CrmLookups(client, { now: () => clock.getTime() }),
      plan: { granularity: 'aggregate', spamComplaintOptOut: true }, bounceLimits: { hard: 3, soft: 5 }, now: () => clock, fillWaitMs: 0,
    });
  });
  afterEach(async () => {
    await store.close();
  });
  const append = (events: NormalizedEvent[]) => store.append(events.map((e) => ({ clientId: e.clientId, raw: JSON.stringify(e), normalized: e })));
  const advance = (ms: number) => { clock = new Date(clock.getTime() + ms); };
  const run = async (events: NormalizedEvent[]) => {
    await append(events);
    return (await w.runOnce()).outcomes;
  };
  const historyOf = (consentId: string) => engine.rows('crs_optinhistory').filter((h) => h._crs_advertisingconsentid_value === consentId);
  const consentsOf = (person: string) => engine.rows('crs_advertisingconsent').filter((c) => c._crs_contactid_value === person || c._crs_leadid_value === person);

  it('R3: an unsubscribe for a newsletter added after the table was cached opts out of that newsletter only', async () => {
    // Warm the caches: the newsletter table (an opt-in) and Ben's address.
    expect((await run([ev({ type: 'doubleoptin', email: 'ben.keller@example.com', recipientListId: '5678', mailingId: undefined })])).map((o) => o.state)).toEqual(['applied']);
    const before = { email: historyOf(I.consentBenEmail).length, sms: historyOf(I.consentBenSms).length };
    // A minute later the admin adds a newsletter for recipient list 9999; Ben unsubscribes from it.
    const NL_EVENTS = '3c000000-0000-4000-8000-0000000000e1';
    engine.seedRows('crs_newsletter', [{ crs_newsletterid: NL_EVENTS, crs_name: 'Events', _crs_campaignclientid_value: I.client1234, crs_recipientlistid: '9999', crs_channel: CHANNEL.Email }]);
    advance(60_000);
    expect((await run([ev({ type: 'unsubscribe', email: 'ben.keller@example.com', recipientListId: '9999', mailingId: '1002' })])).map((o) => o.state)).toEqual(['applied']);
    const events = consentsOf(I.contactBen).filter((c) => c._crs_newsletterid_value === NL_EVENTS);
    expect(events).toEqual([expect.objectContaining({ crs_status: CONSENT_STATUS.OptedOut })]);
    expect(historyOf(String(events[0]!.crs_advertisingconsentid))).toHaveLength(1);
    // No other consent is touched.
    expect({ email: historyOf(I.consentBenEmail).length, sms: historyOf(I.consentBenSms).length }).toEqual(before);
  });

  it('R3: a stale mailing row (newsletter set since) is re-read before falling back to every newsletter', async () => {
    expect((await run([ev({ type: 'open', email: 'ben.keller@example.com', mailingId: '1002' })])).map((o) => o.state)).toEqual(['applied']);
    const sms = historyOf(I.consentBenSms).length;
    // The admin links mailing 1002 to the email newsletter; Ben unsubscribes from it (no recipient list in the event).
    engine.handle({ method: 'PATCH', path: `crs_campaignmailings(${I.mailing1002})`, query: '', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ 'crs_newsletterid@odata.bind': `/crs_newsletters(${I.newsletterEmail})` }) });
    advance(60_000);
    expect((await run([ev({ type: 'unsubscribe', email: 'ben.keller@example.com', mailingId: '1002', occurredAt: '2026-11-25T10:00:00Z' })])).map((o) => o.state)).toEqual(['applied']);
    expect(historyOf(I.consentBenSms)).toHaveLength(sms); // not every newsletter of the client
    expect(historyOf(I.consentBenEmail).filter((h) => h.crs_occurredon === '2026-11-25T10:00:00Z')).toHaveLength(1);
  });

  it('R3/R8: compliance events read persons fresh — a contact created after its address was cached gets the opt-out', async () => {
    expect((await run([ev({ type: 'open', email: 'david.braun@example.net', mailingId: '1001' })])).map((o) => o.state)).toEqual(['applied']);
    const CONTACT_DAVID = '3c000000-0000-4000-8000-0000000000d1';
    engine.seedRows('contact', [{ contactid: CONTACT_DAVID, fullname: 'David Braun', emailaddress1: 'david.braun@example.net' }]);
    advance(60_000);
    // An open may still use the cached match (lead only) …
    const reads = client.reads.length;
    expect((await run([ev({ type: 'open', email: 'david.braun@example.net', mailingId: '1001', occurredAt: '2026-11-21T10:00:00Z' })])).map((o) => o.state)).toEqual(['applied']);
    expect(client.reads.slice(reads).filter((r) => r === 'contacts' || r === 'leads')).toEqual([]);
    // … an unsubscribe never does.
    expect((await run([ev({ type: 'unsubscribe', email: 'david.braun@example.net', recipientListId: '5678', mailingId: undefined })])).map((o) => o.state)).toEqual(['applied']);
    expect(consentsOf(CONTACT_DAVID)).toEqual([expect.objectContaining({ _crs_newsletterid_value: I.newsletterEmail, crs_status: CONSENT_STATUS.OptedOut })]);
    expect(consentsOf(I.leadDavid)).toEqual([expect.objectContaining({ _crs_newsletterid_value: I.newsletterEmail, crs_status: CONSENT_STATUS.OptedOut })]);
  });

  it('R1: an unsubscribe of a campaign-management mailing whose client has no newsletter writes the response now; the opt-out follows once a newsletter exists; counted once', async () => {
    engine.seedRows('crs_campaignclient', [{ crs_campaignclientid: CLIENT_5555, crs_name: 'c5555', crs_clientid: '5555' }]);
    engine.seedRows('crs_campaignmailing', [{ crs_campaignmailingid: '3c000000-0000-4000-8000-000000000003', crs_name: 'm2001', crs_mailingid: '2001', _crs_campaignclientid_value: CLIENT_5555, _crs_campaignid_value: I.campaignSpring }]);
    const unsubscribe = ev({ type: 'unsubscribe', clientId: '5555', mailingId: '2001', email: 'ben.keller@example.com', occurredAt: '2026-11-20T10:00:00Z' });
    const responses = () => engine.rows('campaignresponse').filter((r) => r.crs_mailingid === '2001');
    const first = await run([unsubscribe]);
    expect(first).toEqual([expect.objectContaining({ state: 'unmatched', error: expect.stringMatching(/no newsletter resolves/) })]);
    expect(responses()).toEqual([expect.objectContaining({ category: 'Unsubscription', crs_eventcount: 1, responsecode: 3 })]);
    // Retried with back-off: the response is not written or counted twice.
    advance(3 * 3_600_000);
    expect((await w.runOnce()).outcomes).toEqual([expect.objectContaining({ state: 'unmatched' })]);
    expect(responses()).toEqual([expect.objectContaining({ crs_eventcount: 1 })]);
    // The admin adds the client's newsletter: the next retry writes the opt-out and the event is applied.
    const NL_5555 = '3c000000-0000-4000-8000-000000000002';
    engine.seedRows('crs_newsletter', [{ crs_newsletterid: NL_5555, crs_name: 'nl 5555', _crs_campaignclientid_value: CLIENT_5555, crs_channel: CHANNEL.Email }]);
    advance(6 * 3_600_000);
    expect((await w.runOnce()).outcomes).toEqual([expect.objectContaining({ state: 'applied' })]);
    expect(consentsOf(I.contactBen).filter((c) => c._crs_newsletterid_value === NL_5555)).toEqual([expect.objectContaining({ crs_status: CONSENT_STATUS.OptedOut })]);
    expect(responses()).toEqual([expect.objectContaining({ crs_eventcount: 1 })]);
  });

  it('R5: an outbounce carrying only a CRM identity flags every contact and lead with the identity’s address', async () => {
    const outbounce = ev({ type: 'outbounce', mailingId: undefined, recipientId: '777', crmEntity: { type: 'contact', id: I.contactAnna }, occurredAt: '2026-11-20T10:00:00Z' });
    expect((await run([outbounce])).map((o) => o.state)).toEqual(['applied']);
    const flagged = engine.rows('crs_advertisingconsent').filter((c) => c.crs_outbounce === true).map((c) => c.crs_advertisingconsentid).sort();
    expect(flagged).toEqual([I.consentAnnaEmail, I.consentLeadAnnaEmail].sort());
    expect(await store.getState('outbounce:anna.schmidt@example.com')).toBe('2026-11-20T10:00:00Z');
  });
});
