import { describe, expect, it } from 'vitest';
import type { NormalizedEvent } from '../../service/events.js';
import type { DataverseOp } from '../../service/dataverse/types.js';
import { decide, factNeeds, newsletterNamed, planWrites, resolveNewsletters, type Decision, type DecidedEvent } from '../../service/sync/planner.js';
import {
  DEFAULT_PLAN_OPTIONS, type BatchFacts, type ClientRow, type ConsentRow, type EventFacts, type MailingRow, type NewsletterRow,
  type Person, type PlanOptions,
} from '../../service/sync/facts.js';
import { canonicalTime as canonicalTimeOf, consentId, deterministicId, historyEntryId, responseNaturalKey, storedResponseKey } from '../../service/sync/keys.js';
import { CHANNEL, CONSENT_STATUS, ENTRY_SOURCE, ENTRY_TYPE } from '../../solution/model/index.js';

const CLIENT_A: ClientRow = { id: 'aaaaaaaa-0000-0000-0000-000000000001', clientId: '1001', name: 'Client A' };
const CLIENT_B: ClientRow = { id: 'bbbbbbbb-0000-0000-0000-000000000002', clientId: '2002', name: 'Client B' };
const NL_NEWS: NewsletterRow = { id: '11111111-0000-0000-0000-00000000000a', name: 'News', clientRowId: CLIENT_A.id, recipientListId: '500', channel: CHANNEL.Email };
const NL_OFFERS: NewsletterRow = { id: '11111111-0000-0000-0000-00000000000b', name: 'Offers', clientRowId: CLIENT_A.id, recipientListId: '501', channel: CHANNEL.Email };
const NL_SMS: NewsletterRow = { id: '11111111-0000-0000-0000-00000000000c', name: 'SMS alerts', clientRowId: CLIENT_A.id, recipientListId: '502', channel: CHANNEL.SMS };
const NL_B: NewsletterRow = { id: '22222222-0000-0000-0000-00000000000a', name: 'B news', clientRowId: CLIENT_B.id, recipientListId: '900', channel: CHANNEL.Email };
const ALL_NEWSLETTERS = [NL_NEWS, NL_OFFERS, NL_SMS, NL_B];
const MAILING: MailingRow = { id: '33333333-0000-0000-0000-000000000001', mailingId: '7001', clientRowId: CLIENT_A.id, name: 'Winter sale', campaignId: '44444444-0000-0000-0000-000000000001', newsletterId: NL_OFFERS.id };
const MAILING_NO_NL: MailingRow = { ...MAILING, newsletterId: undefined };
const CONTACT: Person = { type: 'contact', id: '55555555-0000-0000-0000-000000000001', email: 'jane@example.com', fullName: 'Jane Doe' };
const LEAD: Person = { type: 'lead', id: '66666666-0000-0000-0000-000000000001', email: 'jane@example.com', fullName: 'Jane Doe' };
const OTHER_CONTACT: Person = { type: 'contact', id: '55555555-0000-0000-0000-000000000002', email: 'jane@example.com' };

function ev(partial: Partial<NormalizedEvent>): NormalizedEvent {
  return {
    key: `nk:${partial.type ?? 'open'}-${partial.occurredAt ?? 'x'}`, type: 'open', clientId: '1001', mailingId: '7001',
    recipientListId: '501', recipientId: 'jane@example.com', email: 'jane@example.com', occurredAt: '2026-11-20T10:00:00Z', origin: 'webhook',
    ...partial,
  };
}
function facts(partial: Partial<EventFacts> = {}): EventFacts {
  return { persons: [CONTACT], client: CLIENT_A, mailing: MAILING, newsletters: [NL_NEWS, NL_OFFERS, NL_SMS], ...partial };
}
function batch(partial: Partial<BatchFacts> = {}): BatchFacts {
  return { consents: [], newsletters: ALL_NEWSLETTERS, responses: [], aggregates: new Map(), outbouncedAddresses: new Map(), ...partial };
}
function applied(d: Decision) {
  if (d.outcome !== 'apply') throw new Error(`expected apply, got ${d.outcome}: ${d.reason}`);
  return d;
}
function plan(items: [string, NormalizedEvent, EventFacts][], bf: BatchFacts, options: PlanOptions = DEFAULT_PLAN_OPTIONS) {
  const decided: DecidedEvent[] = items.map(([eventId, e, f]) => ({ eventId, decision: applied(decide(e, f, options)) }));
  return planWrites(decided, bf, options);
}
const allOps = (p: { phases: DataverseOp[][] }) => p.phases.flat();
const opsOf = (p: { phases: DataverseOp[][] }, set: string, method?: string) =>
  allOps(p).filter((o) => o.entitySet === set && (!method || o.method === method));

describe('decide: outcomes per event type (R1, R2, R7, R8)', () => {
  const cases: {
    name: string; event: Partial<NormalizedEvent>; facts?: Partial<EventFacts>; options?: Partial<PlanOptions>; outcome: Decision['outcome'];
    responses?: number; entries?: number; unresolved?: boolean;
  }[] = [
    { name: 'open of a campaign-management mailing → one response', event: { type: 'open' }, outcome: 'apply', responses: 1, entries: 0 },
    { name: 'click → one response', event: { type: 'click', linkUrl: 'https://x.example/a' }, outcome: 'apply', responses: 1 },
    { name: 'reply → one response', event: { type: 'reply' }, outcome: 'apply', responses: 1 },
    { name: 'autoresponder → one response', event: { type: 'autoresponder' }, outcome: 'apply', responses: 1 },
    { name: 'R2: open without crs_campaignmailing row → ignored', event: { type: 'open' }, facts: { mailing: undefined }, outcome: 'ignored' },
    { name: 'R2: click without campaign-management row → ignored even when unmatched', event: { type: 'click' }, facts: { mailing: undefined, persons: [] }, outcome: 'ignored' },
    { name: 'R2: reply of a copied-marketing-list mailing → ignored', event: { type: 'reply' }, facts: { mailing: undefined }, outcome: 'ignored' },
    { name: 'R1+R3: unsubscribe of a campaign-management mailing → response + opt-out', event: { type: 'unsubscribe' }, outcome: 'apply', responses: 1, entries: 1 },
    { name: 'R3: unsubscribe of another mailing → opt-out only', event: { type: 'unsubscribe' }, facts: { mailing: undefined }, outcome: 'apply', responses: 0, entries: 1 },
    { name: 'R7: sent is stored, not written', event: { type: 'sent' }, outcome: 'ignored' },
    { name: 'R7: blocklist is stored, not written', event: { type: 'blocklist' }, outcome: 'ignored' },
    { name: 'R7: archive is stored, not written', event: { type: 'archive' }, outcome: 'ignored' },
    { name: 'R7: filteredbyblocklist is stored, not written', event: { type: 'filteredbyblocklist' }, outcome: 'ignored' },
    { name: 'R7: spam complaint → opt-out entry, no response', event: { type: 'spamcomplaint' }, outcome: 'apply', responses: 0, entries: 1 },
    { name: 'R7: spam complaint switched off → ignored', event: { type: 'spamcomplaint' }, options: { spamComplaintOptOut: false }, outcome: 'ignored' },
    { name: 'R7: single opt-in → opt-in entry', event: { type: 'singleoptin' }, outcome: 'apply', responses: 0, entries: 1 },
    { name: 'R7: confirmed opt-in → opt-in entry', event: { type: 'confirmedoptin' }, outcome: 'apply', entries: 1 },
    { name: 'R7: double opt-in → opt-in entry', event: { type: 'doubleoptin' }, outcome: 'apply', entries: 1 },
    { name: 'R8: open with no person → unmatched', event: { type: 'open' }, facts: { persons: [] }, outcome: 'unmatched' },
    { name: 'R8: unsubscribe with no person → unmatched', event: { type: 'unsubscribe' }, facts: { persons: [] }, outcome: 'unmatched' },
    { name: 'R8: lead and contact with one address → both get the write', event: { type: 'open' }, facts: { persons: [CONTACT, LEAD] }, outcome: 'apply', responses: 2 },
    { name: 'R8: the same person twice counts once', event: { type: 'open' }, facts: { persons: [CONTACT, { ...CONTACT }] }, outcome: 'apply', responses: 1 },
    { name: 'R5: bounce below threshold → ignored', event: { type: 'bounce', bounceKind: 'soft' }, facts: { outbounceLearned: false, outbouncePersons: [CONTACT] }, outcome: 'ignored' },
    { name: 'R5: bounce over threshold → outbounce', event: { type: 'bounce', thresholdExceeded: true }, facts: { outbounceLearned: true, outbouncePersons: [CONTACT] }, outcome: 'apply', responses: 0, entries: 0 },
    { name: 'R5: outbounce with nobody at the address → unmatched', event: { type: 'outbounce' }, facts: { outbounceLearned: true, outbouncePersons: [] }, outcome: 'unmatched' },
    { name: 'R3: unsubscribe for an unknown client → unmatched (kept, retried)', event: { type: 'unsubscribe' }, facts: { client: undefined, mailing: undefined, newsletters: [] }, outcome: 'unmatched' },
    { name: 'R1: unsubscribe of a campaign-management mailing, client without newsletters → the response now, the opt-out retried', event: { type: 'unsubscribe' }, facts: { newsletters: [] }, outcome: 'apply', responses: 1, entries: 0, unresolved: true },
    { name: 'R3: unsubscribe of another mailing, client without newsletters → unmatched', event: { type: 'unsubscribe' }, facts: { mailing: undefined, newsletters: [] }, outcome: 'unmatched' },
    { name: 'R7: spam complaint of a campaign-management mailing without newsletters → unmatched (no response category)', event: { type: 'spamcomplaint' }, facts: { newsletters: [] }, outcome: 'unmatched' },
    { name: 'R1+R3: unsubscribe whose newsletter resolves is not marked unresolved', event: { type: 'unsubscribe' }, outcome: 'apply', responses: 1, entries: 1, unresolved: false },
    { name: 'R7: opt-in naming no known list or mailing newsletter → unmatched, never opts into everything', event: { type: 'singleoptin', recipientListId: '999' }, facts: { mailing: MAILING_NO_NL }, outcome: 'unmatched' },
  ];
  it.each(cases)('$name', (c) => {
    const d = decide(ev(c.event), facts(c.facts), { ...DEFAULT_PLAN_OPTIONS, ...c.options });
    expect(d.outcome).toBe(c.outcome);
    if (d.outcome === 'apply') {
      if (c.responses !== undefined) expect(d.responses).toHaveLength(c.responses);
      if (c.entries !== undefined) expect(d.entries).toHaveLength(c.entries);
      if (c.unresolved !== undefined) expect(d.unresolved !== undefined).toBe(c.unresolved);
      if (c.unresolved) expect(d.unresolved).toMatch(/no newsletter resolves.*\(R3\)/);
    } else {
      expect(d.reason).toMatch(/\S/);
    }
  });

  it('opt-in types carry their source; unsubscribe and spam complaint are opt-outs', () => {
    const sources = (['unsubscribe', 'spamcomplaint', 'singleoptin', 'confirmedoptin', 'doubleoptin'] as const).map((type) => {
      const d = applied(decide(ev({ type }), facts({ mailing: undefined }), DEFAULT_PLAN_OPTIONS));
      return [type, d.entries[0]?.entryType, d.entries[0]?.source];
    });
    expect(sources).toEqual([
      ['unsubscribe', 'optout', 'unsubscribe'], ['spamcomplaint', 'optout', 'spamcomplaint'], ['singleoptin', 'optin', 'singleoptin'],
      ['confirmedoptin', 'optin', 'confirmedoptin'], ['doubleoptin', 'optin', 'doubleoptin'],
    ]);
  });

  it('factNeeds asks for nothing for store-only events and for persons+newsletters for unsubscribes', () => {
    expect(factNeeds(ev({ type: 'sent' }), DEFAULT_PLAN_OPTIONS)).toEqual({ client: false, mailing: false, newsletters: false, persons: false, outbounce: false, compliance: false });
    expect(factNeeds(ev({ type: 'unsubscribe' }), DEFAULT_PLAN_OPTIONS)).toMatchObject({ client: true, mailing: true, newsletters: true, persons: true });
    expect(factNeeds(ev({ type: 'open' }), DEFAULT_PLAN_OPTIONS)).toMatchObject({ newsletters: false, persons: true });
    expect(factNeeds(ev({ type: 'bounce' }), DEFAULT_PLAN_OPTIONS)).toMatchObject({ outbounce: true, persons: false });
    expect(factNeeds(ev({ type: 'spamcomplaint' }), { ...DEFAULT_PLAN_OPTIONS, spamComplaintOptOut: false })).toMatchObject({ persons: false });
  });

  // Compliance events read their persons fresh (a stale cache would miss an opt-out); opens and clicks may use the cache.
  const compliance: [NormalizedEvent['type'], boolean][] = [
    ['unsubscribe', true], ['spamcomplaint', true], ['singleoptin', true], ['doubleoptin', true], ['bounce', true], ['outbounce', true],
    ['open', false], ['click', false], ['reply', false], ['sent', false],
  ];
  it.each(compliance)('factNeeds: %s is a compliance event: %s', (type, expected) => {
    expect(factNeeds(ev({ type }), DEFAULT_PLAN_OPTIONS).compliance).toBe(expected);
  });
});

describe('R3: newsletter resolution order', () => {
  const cases: { name: string; event: Partial<NormalizedEvent>; mailing?: MailingRow; expected: string[] }[] = [
    { name: 'client + recipient list wins', event: { recipientListId: '500' }, mailing: MAILING, expected: [NL_NEWS.id] },
    { name: 'unknown list → the mailing’s newsletter', event: { recipientListId: '999' }, mailing: MAILING, expected: [NL_OFFERS.id] },
    { name: 'no list → the mailing’s newsletter', event: { recipientListId: undefined }, mailing: MAILING, expected: [NL_OFFERS.id] },
    { name: 'no list, no campaign mailing → every newsletter of the client', event: { recipientListId: undefined }, mailing: undefined, expected: [NL_NEWS.id, NL_OFFERS.id, NL_SMS.id] },
    { name: 'mailing without newsletter → every newsletter of the client', event: { recipientListId: undefined }, mailing: MAILING_NO_NL, expected: [NL_NEWS.id, NL_OFFERS.id, NL_SMS.id] },
    { name: 'a list of another client does not match', event: { recipientListId: '900' }, mailing: undefined, expected: [NL_NEWS.id, NL_OFFERS.id, NL_SMS.id] },
  ];
  it.each(cases)('$name', (c) => {
    const f = facts({ mailing: c.mailing, newsletters: ALL_NEWSLETTERS });
    expect(resolveNewsletters(ev({ type: 'unsubscribe', ...c.event }), f, 'optout').map((n) => n.id)).toEqual(c.expected);
  });

  // Whether the cached rows name the newsletter; if not, the worker re-reads newsletters and mailing before deciding.
  const named: { name: string; event: Partial<NormalizedEvent>; mailing?: MailingRow; newsletters?: NewsletterRow[]; expected: boolean }[] = [
    { name: 'a known recipient list', event: { recipientListId: '500' }, mailing: MAILING, expected: true },
    { name: 'an unknown recipient list (maybe a newsletter added since the table was cached)', event: { recipientListId: '999' }, mailing: MAILING, expected: false },
    { name: 'a list of another client', event: { recipientListId: '900' }, mailing: undefined, expected: false },
    { name: 'no list, the mailing’s newsletter is in the table', event: { recipientListId: undefined }, mailing: MAILING, expected: true },
    { name: 'no list, the mailing’s newsletter is not in the table', event: { recipientListId: undefined }, mailing: MAILING, newsletters: [NL_NEWS], expected: false },
    { name: 'no list, mailing without newsletter (fallback to every newsletter)', event: { recipientListId: undefined }, mailing: MAILING_NO_NL, expected: false },
    { name: 'no list, no campaign mailing (fallback)', event: { recipientListId: undefined }, mailing: undefined, expected: false },
  ];
  it.each(named)('newsletterNamed: $name → $expected', (c) => {
    expect(newsletterNamed(ev({ type: 'unsubscribe', ...c.event }), facts({ mailing: c.mailing, newsletters: c.newsletters ?? ALL_NEWSLETTERS }))).toBe(c.expected);
  });

  it('unsubscribe without recipient list touches only the resolved newsletters, no other consent', () => {
    const existingNews: ConsentRow = { id: 'c0000000-0000-0000-0000-000000000001', person: CONTACT, newsletterId: NL_NEWS.id, status: 'optin', statusChangedOn: '2026-01-01T00:00:00Z', outbounce: false, history: [] };
    const p = plan([['e1', ev({ type: 'unsubscribe', recipientListId: undefined }), facts({ mailing: undefined })]], batch({ consents: [existingNews] }));
    // Three newsletters of client A: the existing News consent gets an entry + status update, Offers and SMS get new consents.
    expect(opsOf(p, 'crs_advertisingconsents', 'create').map((o) => o.body['crs_newsletterid@odata.bind']).sort())
      .toEqual([`/crs_newsletters(${NL_OFFERS.id})`, `/crs_newsletters(${NL_SMS.id})`]);
    expect(opsOf(p, 'crs_optinhistories')).toHaveLength(3);
    expect(opsOf(p, 'crs_advertisingconsents', 'update').map((o) => o.id)).toEqual([existingNews.id]);

    const withList = plan([['e1', ev({ type: 'unsubscribe', recipientListId: '500' }), facts({ mailing: undefined })]], batch({ consents: [existingNews] }));
    expect(opsOf(withList, 'crs_optinhistories')).toHaveLength(1);
    expect(opsOf(withList, 'crs_advertisingconsents', 'create')).toHaveLength(0);
  });
});

describe('planWrites: consents and history (R3, R4, R9)', () => {
  const unsubscribe = ev({ type: 'unsubscribe', recipientListId: '500', occurredAt: '2026-11-20T10:00:00Z', reason: 'too many mails', mailingId: '7001' });

  it('unsubscribe with no consent row creates the consent (opted out) and the opt-out entry, in that phase order', () => {
    const p = plan([['e1', unsubscribe, facts({ mailing: undefined })]], batch());
    const cid = consentId(CONTACT, NL_NEWS.id);
    expect(p.phases[0]).toEqual([expect.objectContaining({ method: 'create', entitySet: 'crs_advertisingconsents', id: cid })]);
    expect(p.phases[0]?.[0]?.body).toMatchObject({
      'crs_contactid@odata.bind': `/contacts(${CONTACT.id})`, 'crs_newsletterid@odata.bind': `/crs_newsletters(${NL_NEWS.id})`,
      crs_status: CONSENT_STATUS.OptedOut, crs_statuschangedon: '2026-11-20T10:00:00Z',
    });
    const entryId = historyEntryId(cid, 'optout', '2026-11-20T10:00:00Z', 'unsubscribe');
    expect(p.phases[1]).toEqual([expect.objectContaining({ method: 'create', entitySet: 'crs_optinhistories', id: entryId })]);
    expect(p.phases[1]?.[0]?.body).toMatchObject({
      'crs_advertisingconsentid@odata.bind': `/crs_advertisingconsents(${cid})`, crs_entrytype: ENTRY_TYPE.OptOut,
      crs_occurredon: '2026-11-20T10:00:00Z', crs_source: ENTRY_SOURCE.CampaignUnsubscribe, crs_mailingid: '7001', crs_reason: 'too many mails',
    });
    expect(p.phases[2]).toEqual([]);
    expect(p.existedIsFine.has(p.phases[1]?.[0]?.tag ?? '')).toBe(true);
    expect(p.opEvents.get(p.phases[0]?.[0]?.tag ?? '')).toEqual(['e1']);
  });

  it('a lead consent binds crs_leadid', () => {
    const p = plan([['e1', unsubscribe, facts({ mailing: undefined, persons: [LEAD] })]], batch());
    expect(p.phases[0]?.[0]?.body['crs_leadid@odata.bind']).toBe(`/leads(${LEAD.id})`);
    expect(p.phases[0]?.[0]?.body).not.toHaveProperty('crs_contactid@odata.bind');
  });

  const consentWith = (history: ConsentRow['history'], status: ConsentRow['status'], statusChangedOn?: string): ConsentRow => ({
    id: 'c1000000-0000-0000-0000-000000000001', person: CONTACT, newsletterId: NL_NEWS.id, status, statusChangedOn, outbounce: false, etag: 'W/"7"', history,
  });

  const r4cases: { name: string; history: ConsentRow['history']; status: ConsentRow['status']; changedOn?: string; event: Partial<NormalizedEvent>; patch: Record<string, unknown> | null }[] = [
    {
      name: 'newer opt-out over an opt-in → opted out',
      history: [{ id: 'h1', entryType: 'optin', occurredOn: '2026-11-01T00:00:00Z' }], status: 'optin', changedOn: '2026-11-01T00:00:00Z',
      event: { type: 'unsubscribe', occurredAt: '2026-11-20T10:00:00Z' },
      patch: { crs_status: CONSENT_STATUS.OptedOut, crs_statuschangedon: '2026-11-20T10:00:00Z' },
    },
    {
      name: 'an older opt-in arriving after a newer opt-out changes nothing',
      history: [{ id: 'h1', entryType: 'optout', occurredOn: '2026-11-20T10:00:00Z' }], status: 'optout', changedOn: '2026-11-20T10:00:00Z',
      event: { type: 'doubleoptin', occurredAt: '2026-11-10T08:00:00Z' }, patch: null,
    },
    {
      name: 'equal-timestamp tie: an opt-in at the same second as the opt-out loses',
      history: [{ id: 'h1', entryType: 'optout', occurredOn: '2026-11-20T10:00:00Z' }], status: 'optout', changedOn: '2026-11-20T10:00:00Z',
      event: { type: 'singleoptin', occurredAt: '2026-11-20T10:00:00.900Z' }, patch: null,
    },
    {
      name: 'equal-timestamp tie: an opt-out at the same second as the opt-in wins',
      history: [{ id: 'h1', entryType: 'optin', occurredOn: '2026-11-20T10:00:00Z' }], status: 'optin', changedOn: '2026-11-20T10:00:00Z',
      event: { type: 'unsubscribe', occurredAt: '2026-11-20T10:00:00Z' },
      patch: { crs_status: CONSENT_STATUS.OptedOut, crs_statuschangedon: '2026-11-20T10:00:00Z' },
    },
    {
      name: 'a CRM user’s newer opt-in entry keeps the consent opted in despite an older unsubscribe',
      history: [{ id: 'crm1', entryType: 'optin', occurredOn: '2026-11-25T00:00:00Z' }], status: 'optin', changedOn: '2026-11-25T00:00:00Z',
      event: { type: 'unsubscribe', occurredAt: '2026-11-20T10:00:00Z' }, patch: null,
    },
    {
      name: 'a status not matching the history (entry by an import) is repaired',
      history: [{ id: 'imp', entryType: 'optout', occurredOn: '2026-11-25T00:00:00Z' }], status: 'optin', changedOn: '2026-01-01T00:00:00Z',
      event: { type: 'singleoptin', occurredAt: '2026-11-01T00:00:00Z' },
      patch: { crs_status: CONSENT_STATUS.OptedOut, crs_statuschangedon: '2026-11-25T00:00:00Z' },
    },
    {
      name: 'a status set in CRM or imported (no history rows): an older opt-in does not override it',
      history: [], status: 'optout', changedOn: '2026-12-01T00:00:00Z',
      event: { type: 'singleoptin', occurredAt: '2026-10-01T10:00:00Z' }, patch: null,
    },
    {
      name: 'a status without history, then an older opt-in entry: the next older opt-in still does not override the status',
      history: [{ id: 'h1', entryType: 'optin', occurredOn: '2026-10-01T10:00:00Z' }], status: 'optout', changedOn: '2026-12-01T00:00:00Z',
      event: { type: 'doubleoptin', occurredAt: '2026-09-01T10:00:00Z' }, patch: null,
    },
    {
      name: 'a status without history: a newer opt-in wins',
      history: [], status: 'optout', changedOn: '2026-12-01T00:00:00Z',
      event: { type: 'singleoptin', occurredAt: '2026-12-02T10:00:00Z' },
      patch: { crs_status: CONSENT_STATUS.OptedIn, crs_statuschangedon: '2026-12-02T10:00:00Z' },
    },
    {
      name: 'a status without history at the same second as an opt-in: the opt-out status wins the tie',
      history: [], status: 'optout', changedOn: '2026-12-01T00:00:00Z',
      event: { type: 'singleoptin', occurredAt: '2026-12-01T00:00:00Z' }, patch: null,
    },
    {
      name: 'a status without a date cannot be ordered: the new entry decides',
      history: [], status: 'optout', changedOn: undefined,
      event: { type: 'singleoptin', occurredAt: '2026-10-01T10:00:00Z' },
      patch: { crs_status: CONSENT_STATUS.OptedIn, crs_statuschangedon: '2026-10-01T10:00:00Z' },
    },
    {
      name: 'an opted-in status set by hand (newer than the opt-out entry, no opt-in entry) is no evidence: the history decides',
      history: [{ id: 'h1', entryType: 'optout', occurredOn: '2026-11-01T00:00:00Z' }], status: 'optin', changedOn: '2026-12-01T00:00:00Z',
      event: { type: 'singleoptin', occurredAt: '2026-10-01T10:00:00Z' },
      patch: { crs_status: CONSENT_STATUS.OptedOut, crs_statuschangedon: '2026-11-01T00:00:00Z' },
    },
    {
      name: 'newer opt-in after an opt-out → opted in',
      history: [{ id: 'h1', entryType: 'optout', occurredOn: '2026-11-01T00:00:00Z' }], status: 'optout', changedOn: '2026-11-01T00:00:00Z',
      event: { type: 'confirmedoptin', occurredAt: '2026-11-21T00:00:00Z' },
      patch: { crs_status: CONSENT_STATUS.OptedIn, crs_statuschangedon: '2026-11-21T00:00:00Z' },
    },
  ];
  it.each(r4cases)('R4: $name', (c) => {
    const existing = consentWith(c.history, c.status, c.changedOn);
    const p = plan([['e1', ev({ recipientListId: '500', ...c.event }), facts({ mailing: undefined })]], batch({ consents: [existing] }));
    const updates = opsOf(p, 'crs_advertisingconsents', 'update');
    expect(opsOf(p, 'crs_advertisingconsents', 'create')).toHaveLength(0);
    expect(opsOf(p, 'crs_optinhistories', 'create')).toHaveLength(1); // the entry is always appended (history is complete)
    // The status is always written with If-Match when an entry is appended (guards concurrent appends);
    // "changes nothing" means the values written are the ones the row already has.
    const unchanged = { crs_status: existing.status === 'optin' ? CONSENT_STATUS.OptedIn : CONSENT_STATUS.OptedOut, crs_statuschangedon: existing.statusChangedOn };
    expect(updates).toEqual([expect.objectContaining({ id: existing.id, body: c.patch ?? unchanged, ifMatch: 'W/"7"', method: 'update' })]);
  });

  it('a consent touched only by a retry (entry already there, status right) gets no write', () => {
    const cid = 'c1000000-0000-0000-0000-000000000001';
    const entryId = historyEntryId(cid, 'optout', '2026-11-20T10:00:00Z', 'unsubscribe');
    const existing = consentWith([{ id: entryId, entryType: 'optout', occurredOn: '2026-11-20T10:00:00Z' }], 'optout', '2026-11-20T10:00:00Z');
    const p = plan([['e1', unsubscribe, facts({ mailing: undefined })]], batch({ consents: [existing] }));
    expect(allOps(p)).toEqual([]);
  });

  it('an entry that already exists (retry after a crash) is not re-created, but the status is still brought in line', () => {
    const cid = 'c1000000-0000-0000-0000-000000000001';
    const entryId = historyEntryId(cid, 'optout', '2026-11-20T10:00:00Z', 'unsubscribe');
    const existing = consentWith([{ id: entryId, entryType: 'optout', occurredOn: '2026-11-20T10:00:00Z' }], 'optin', '2026-01-01T00:00:00Z');
    const p = plan([['e1', unsubscribe, facts({ mailing: undefined })]], batch({ consents: [existing] }));
    expect(opsOf(p, 'crs_optinhistories')).toEqual([]);
    expect(opsOf(p, 'crs_advertisingconsents', 'update')[0]?.body).toEqual({ crs_status: CONSENT_STATUS.OptedOut, crs_statuschangedon: '2026-11-20T10:00:00Z' });
  });

  it('webhook and poll copies of one unsubscribe are one history row (R9)', () => {
    const webhook = ev({ type: 'unsubscribe', key: 'id:1001:abc', recipientListId: '500', occurredAt: '2026-11-20T10:00:00.250Z' });
    const poll = ev({ type: 'unsubscribe', key: 'nk:zzz', origin: 'poll', recipientListId: '500', occurredAt: '2026-11-20T10:00:00Z' });
    const p = plan([['e1', webhook, facts({ mailing: undefined })], ['e2', poll, facts({ mailing: undefined })]], batch());
    expect(opsOf(p, 'crs_optinhistories')).toHaveLength(1);
    expect(opsOf(p, 'crs_advertisingconsents')).toHaveLength(1);
    expect(p.opEvents.get(opsOf(p, 'crs_optinhistories')[0]?.tag ?? '')).toEqual(['e1', 'e2']);
  });

  it('an opt-out and a later opt-in in one batch give one consent with the latest state', () => {
    const out = ev({ type: 'unsubscribe', key: 'k1', recipientListId: '500', occurredAt: '2026-11-20T10:00:00Z' });
    const back = ev({ type: 'doubleoptin', key: 'k2', recipientListId: '500', occurredAt: '2026-11-21T10:00:00Z' });
    const forward = plan([['e1', out, facts({ mailing: undefined })], ['e2', back, facts({ mailing: undefined })]], batch());
    const reversed = plan([['e2', back, facts({ mailing: undefined })], ['e1', out, facts({ mailing: undefined })]], batch());
    expect(opsOf(forward, 'crs_advertisingconsents')).toHaveLength(1);
    expect(opsOf(forward, 'crs_advertisingconsents')[0]?.body).toMatchObject({ crs_status: CONSENT_STATUS.OptedIn, crs_statuschangedon: '2026-11-21T10:00:00Z' });
    expect(allOps(reversed).map((o) => [o.id, o.body])).toEqual(allOps(forward).map((o) => [o.id, o.body]));
  });

  it('duplicate consents of one person and newsletter (CRM duplicates) all get the entry', () => {
    const a = consentWith([], 'optin');
    const b = { ...consentWith([], 'optin'), id: 'c2000000-0000-0000-0000-000000000002' };
    const p = plan([['e1', unsubscribe, facts({ mailing: undefined })]], batch({ consents: [a, b] }));
    expect(opsOf(p, 'crs_optinhistories').map((o) => o.body['crs_advertisingconsentid@odata.bind']).sort())
      .toEqual([`/crs_advertisingconsents(${a.id})`, `/crs_advertisingconsents(${b.id})`]);
  });

  it('long reason and event id are cut to the column lengths, never rejected', () => {
    const p = plan([['e1', ev({ type: 'unsubscribe', recipientListId: '500', reason: 'r'.repeat(1000), key: 'k'.repeat(300), mailingId: '9'.repeat(40) }), facts({ mailing: undefined })]], batch());
    const body = opsOf(p, 'crs_optinhistories')[0]?.body ?? {};
    expect(String(body.crs_reason)).toHaveLength(400);
    expect(String(body.crs_sourceeventid)).toHaveLength(100);
    expect(String(body.crs_mailingid)).toHaveLength(20);
  });
});

describe('planWrites: campaign responses (R1, R10)', () => {
  const open = ev({ type: 'open', key: 'nk:open1', occurredAt: '2026-11-20T10:00:00Z' });

  it('writes the response of spec §3 with the aggregate’s absolute values', () => {
    const naturalKey = responseNaturalKey(open, CONTACT, 'Open', undefined, 'aggregate');
    const id = deterministicId(naturalKey);
    const p = plan([['e1', open, facts()]], batch({ aggregates: new Map([[id, { count: 3, firstAt: '2026-11-19T08:00:00Z', lastAt: '2026-11-20T10:00:00Z' }]]) }));
    expect(p.phases[1]).toHaveLength(1);
    const op = p.phases[1]?.[0];
    expect(op).toMatchObject({ method: 'create', entitySet: 'campaignresponses', id });
    expect(op?.body).toEqual({
      activityid: id,
      subject: 'Open: Winter sale',
      category: 'Open',
      channeltypecode: 1,
      receivedon: '2026-11-19T08:00:00Z',
      'regardingobjectid_campaign_campaignresponse@odata.bind': `/campaigns(${MAILING.campaignId})`,
      campaignresponse_activity_parties: [{ participationtypemask: 11, 'partyid_contact@odata.bind': `/contacts(${CONTACT.id})` }],
      emailaddress: 'jane@example.com',
      crs_clientid: '1001',
      crs_mailingid: '7001',
      crs_eventcount: 3,
      crs_lastoccurredon: '2026-11-20T10:00:00Z',
      crs_responsekey: `1001|7001|contact:${CONTACT.id}|Open`,
    });
  });

  const codes: [NormalizedEvent['type'], number | undefined][] = [['open', undefined], ['click', 1], ['reply', 1], ['autoresponder', undefined], ['unsubscribe', 3]];
  it.each(codes)('%s → responsecode %s', (type, code) => {
    const p = plan([['e1', ev({ type, linkUrl: type === 'click' ? 'https://x.example' : undefined }), facts()]], batch());
    const body = opsOf(p, 'campaignresponses')[0]?.body ?? {};
    expect(body.responsecode).toBe(code);
  });

  it('a click carries the link: subcategory cut to 250, crs_linkurl to 2000; the key is hashed to ≤ 100 characters', () => {
    const url = `https://shop.example/${'x'.repeat(3000)}`;
    const p = plan([['e1', ev({ type: 'click', linkUrl: url }), facts()]], batch());
    const body = opsOf(p, 'campaignresponses')[0]?.body ?? {};
    expect(String(body.subcategory)).toBe(url.slice(0, 250));
    expect(String(body.crs_linkurl)).toBe(url.slice(0, 2000));
    expect(String(body.crs_responsekey).length).toBeLessThanOrEqual(100);
    expect(body.crs_responsekey).toBe(storedResponseKey(responseNaturalKey(ev({}), CONTACT, 'Click', url, 'aggregate')));
  });

  it('the subject falls back to "Mailing <id>" and is cut to 200', () => {
    const p1 = plan([['e1', open, facts({ mailing: { ...MAILING, name: undefined } })]], batch());
    expect(opsOf(p1, 'campaignresponses')[0]?.body.subject).toBe('Open: Mailing 7001');
    const p2 = plan([['e1', open, facts({ mailing: { ...MAILING, name: 'n'.repeat(500) } })]], batch());
    expect(String(opsOf(p2, 'campaignresponses')[0]?.body.subject)).toHaveLength(200);
  });

  it('clicks on different links are different responses; repeat opens are one', () => {
    const c1 = ev({ type: 'click', key: 'a', linkUrl: 'https://x/1' });
    const c2 = ev({ type: 'click', key: 'b', linkUrl: 'https://x/2' });
    const o1 = ev({ type: 'open', key: 'c', occurredAt: '2026-11-20T10:00:00Z' });
    const o2 = ev({ type: 'open', key: 'd', occurredAt: '2026-11-20T11:00:00Z' });
    const p = plan([['1', c1, facts()], ['2', c2, facts()], ['3', o1, facts()], ['4', o2, facts()]], batch());
    const creates = opsOf(p, 'campaignresponses', 'create');
    expect(creates).toHaveLength(3);
    const openOp = creates.find((o) => o.body.category === 'Open');
    expect(p.opEvents.get(openOp?.tag ?? '')).toEqual(['3', '4']);
  });

  it('event granularity: one response per event, count 1', () => {
    const options: PlanOptions = { ...DEFAULT_PLAN_OPTIONS, granularity: 'event' };
    const o1 = ev({ type: 'open', key: 'c', occurredAt: '2026-11-20T10:00:00Z' });
    const o2 = ev({ type: 'open', key: 'd', occurredAt: '2026-11-20T11:00:00Z' });
    const p = plan([['3', o1, facts()], ['4', o2, facts()]], batch(), options);
    const creates = opsOf(p, 'campaignresponses', 'create');
    expect(creates).toHaveLength(2);
    expect(creates.map((o) => o.body.crs_eventcount)).toEqual([1, 1]);
    expect(new Set(creates.map((o) => o.id)).size).toBe(2);
  });

  it('a lead and a contact with one address get one response each, with the right party', () => {
    const p = plan([['e1', open, facts({ persons: [CONTACT, LEAD] })]], batch());
    const parties = opsOf(p, 'campaignresponses').map((o) => o.body.campaignresponse_activity_parties);
    expect(parties).toContainEqual([{ participationtypemask: 11, 'partyid_lead@odata.bind': `/leads(${LEAD.id})` }]);
    expect(parties).toContainEqual([{ participationtypemask: 11, 'partyid_contact@odata.bind': `/contacts(${CONTACT.id})` }]);
  });

  const id = deterministicId(responseNaturalKey(open, CONTACT, 'Open', undefined, 'aggregate'));
  const updateCases: { name: string; row: { eventCount?: number; receivedOn?: string; lastOccurredOn?: string }; agg: { count: number; firstAt: string; lastAt: string }; patch: Record<string, unknown> | null }[] = [
    { name: 'a repeat open updates count and last occurrence (absolute values)', row: { eventCount: 1, receivedOn: '2026-11-20T10:00:00Z', lastOccurredOn: '2026-11-20T10:00:00Z' }, agg: { count: 2, firstAt: '2026-11-20T10:00:00Z', lastAt: '2026-11-21T10:00:00Z' }, patch: { crs_eventcount: 2, crs_lastoccurredon: '2026-11-21T10:00:00Z' } },
    { name: 'a late older event moves the first occurrence back', row: { eventCount: 1, receivedOn: '2026-11-20T10:00:00Z', lastOccurredOn: '2026-11-20T10:00:00Z' }, agg: { count: 2, firstAt: '2026-11-19T10:00:00Z', lastAt: '2026-11-20T10:00:00Z' }, patch: { crs_eventcount: 2, receivedon: '2026-11-19T10:00:00Z' } },
    { name: 'the same event again (retry) changes nothing', row: { eventCount: 2, receivedOn: '2026-11-19T10:00:00Z', lastOccurredOn: '2026-11-20T10:00:00Z' }, agg: { count: 2, firstAt: '2026-11-19T10:00:00Z', lastAt: '2026-11-20T10:00:00Z' }, patch: null },
    { name: 'an older aggregate snapshot never lowers the count', row: { eventCount: 5, receivedOn: '2026-11-19T10:00:00Z', lastOccurredOn: '2026-11-22T10:00:00Z' }, agg: { count: 3, firstAt: '2026-11-19T10:00:00Z', lastAt: '2026-11-20T10:00:00Z' }, patch: null },
  ];
  it.each(updateCases)('$name', (c) => {
    const p = plan([['e1', open, facts()]], batch({ responses: [{ id, etag: 'W/"9"', ...c.row }], aggregates: new Map([[id, c.agg]]) }));
    expect(opsOf(p, 'campaignresponses', 'create')).toEqual([]);
    const updates = opsOf(p, 'campaignresponses', 'update');
    if (c.patch === null) expect(updates).toEqual([]);
    else expect(updates).toEqual([expect.objectContaining({ id, body: c.patch, ifMatch: 'W/"9"' })]);
    // never re-sends the party list or regarding (spec §3 write pattern)
    for (const u of updates) expect(u.body).not.toHaveProperty('campaignresponse_activity_parties');
  });
});

describe('planWrites: outbounce (R5)', () => {
  const outbounce = ev({ type: 'outbounce', occurredAt: '2026-11-22T00:00:00Z', clientId: '2002' });
  const consent = (id: string, person: Person, newsletterId: string, outbounce = false, outbounceOn?: string): ConsentRow => ({
    id, person, newsletterId, status: 'optin', outbounce, outbounceOn, etag: `W/"${id.slice(0, 2)}"`, history: [],
  });

  it('sets outbounce on every Email consent of every person with the address, across clients, but not SMS', () => {
    const consents = [
      consent('c1000000-0000-0000-0000-000000000001', CONTACT, NL_NEWS.id),
      consent('c2000000-0000-0000-0000-000000000002', CONTACT, NL_SMS.id),
      consent('c3000000-0000-0000-0000-000000000003', LEAD, NL_B.id),
      consent('c4000000-0000-0000-0000-000000000004', OTHER_CONTACT, NL_OFFERS.id),
      consent('c5000000-0000-0000-0000-000000000005', LEAD, NL_OFFERS.id, true, '2026-10-01T00:00:00Z'),
    ];
    const p = plan([['e1', outbounce, facts({ outbounceLearned: true, outbouncePersons: [CONTACT, LEAD, OTHER_CONTACT] })]], batch({ consents }));
    const updates = opsOf(p, 'crs_advertisingconsents', 'update');
    expect(updates.map((u) => u.id).sort()).toEqual(['c1000000-0000-0000-0000-000000000001', 'c3000000-0000-0000-0000-000000000003', 'c4000000-0000-0000-0000-000000000004']);
    for (const u of updates) expect(u.body).toEqual({ crs_outbounce: true, crs_outbounceon: '2026-11-22T00:00:00Z' });
    expect(allOps(p).filter((o) => o.method !== 'update')).toEqual([]);
  });

  it('an earlier report of the outbounce moves crs_outbounceon back; a later one changes nothing', () => {
    const c = consent('c1000000-0000-0000-0000-000000000001', CONTACT, NL_NEWS.id, true, '2026-11-23T00:00:00Z');
    const earlier = plan([['e1', outbounce, facts({ outbounceLearned: true, outbouncePersons: [CONTACT] })]], batch({ consents: [c] }));
    expect(opsOf(earlier, 'crs_advertisingconsents', 'update')[0]?.body).toEqual({ crs_outbounce: true, crs_outbounceon: '2026-11-22T00:00:00Z' });
    const later = plan([['e1', ev({ type: 'outbounce', occurredAt: '2026-11-24T00:00:00Z' }), facts({ outbounceLearned: true, outbouncePersons: [CONTACT] })]], batch({ consents: [c] }));
    expect(allOps(later)).toEqual([]);
  });

  it('a consent created for an address known as outbounced starts with outbounce Yes (order-independent)', () => {
    const unsub = ev({ type: 'unsubscribe', recipientListId: '500', occurredAt: '2026-11-25T00:00:00Z' });
    const p = plan([['e1', unsub, facts({ mailing: undefined })]], batch({ outbouncedAddresses: new Map([['jane@example.com', '2026-11-22T00:00:00Z']]) }));
    expect(opsOf(p, 'crs_advertisingconsents', 'create')[0]?.body).toMatchObject({ crs_outbounce: true, crs_outbounceon: '2026-11-22T00:00:00Z' });
    const sms = plan([['e1', ev({ type: 'unsubscribe', recipientListId: '502' }), facts({ mailing: undefined })]], batch({ outbouncedAddresses: new Map([['jane@example.com', '2026-11-22T00:00:00Z']]) }));
    expect(opsOf(sms, 'crs_advertisingconsents', 'create')[0]?.body).not.toHaveProperty('crs_outbounce');
  });

  it('outbounce and unsubscribe in one batch: the new consent gets both', () => {
    const unsub = ev({ type: 'unsubscribe', key: 'u', recipientListId: '500', occurredAt: '2026-11-25T00:00:00Z' });
    const p = plan([
      ['e1', unsub, facts({ mailing: undefined })],
      ['e2', outbounce, facts({ outbounceLearned: true, outbouncePersons: [CONTACT] })],
    ], batch());
    const create = opsOf(p, 'crs_advertisingconsents', 'create')[0];
    expect(create?.body).toMatchObject({ crs_status: CONSENT_STATUS.OptedOut, crs_outbounce: true, crs_outbounceon: '2026-11-22T00:00:00Z' });
    expect(p.opEvents.get(create?.tag ?? '')).toEqual(['e1', 'e2']);
  });
});

describe('keys (R9)', () => {
  it('times are UTC whole seconds; ids do not depend on GUID case or sub-second noise', () => {
    expect(canonicalTimeOf('2026-11-20T11:00:00.999+01:00')).toBe('2026-11-20T10:00:00Z');
    const upper = { ...CONTACT, id: CONTACT.id.toUpperCase() };
    expect(consentId(upper, NL_NEWS.id.toUpperCase())).toBe(consentId(CONTACT, NL_NEWS.id));
    expect(historyEntryId('C1', 'optout', '2026-11-20T10:00:00.400Z', 'unsubscribe')).toBe(historyEntryId('c1', 'optout', '2026-11-20T10:00:00Z', 'unsubscribe'));
    expect(historyEntryId('c1', 'optout', '2026-11-20T10:00:00Z', 'unsubscribe')).not.toBe(historyEntryId('c1', 'optout', '2026-11-20T10:00:00Z', 'spamcomplaint'));
  });

  it('the stored response key is the natural key up to 100 characters, else a stable hash that fits', () => {
    expect(storedResponseKey('1001|7001|contact:x|Open')).toBe('1001|7001|contact:x|Open');
    const long = `1001|7001|contact:${CONTACT.id}|Click|https://x.example/${'a'.repeat(200)}`;
    expect(storedResponseKey(long)).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(storedResponseKey(long)).toBe(storedResponseKey(long));
    expect(storedResponseKey(long)).not.toBe(storedResponseKey(`${long}b`));
  });
});
