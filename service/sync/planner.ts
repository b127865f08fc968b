/**
 * The pure planner: rules R1–R10 as functions of a normalized event and the CRM facts, without I/O.
 *
 * Two steps, because some facts depend on the first step's answer:
 *  1. `factNeeds` / `decide` — per event: is it ignored, unmatched, or what does it write
 *     (responses, history entries, an outbounce)?
 *  2. `planWrites` — per batch: given the decisions and the current rows (consents with their whole
 *     history, existing responses, aggregates), the Dataverse ops in ordered phases:
 *     phase 0 creates consents, phase 1 creates history entries and responses, phase 2 updates.
 *     A later phase may depend on an earlier one (a history entry binds to its consent).
 */
import type { NormalizedEvent } from '../events.js';
import type { DataverseOp } from '../dataverse/types.js';
import { currentConsentState, statusEntry, type EntryType } from '../consent/state.js';
import {
  advertisingConsent, campaign, campaignResponse, CHANNEL, contact, lead, newsletter as newsletterTable, CONSENT_STATUS, ENTRY_SOURCE, ENTRY_TYPE, maxLengthOf, optInHistory,
} from '../../solution/model/index.js';
import {
  canonicalTime, consentId, deterministicId, historyEntryId, personKey, responseNaturalKey, storedResponseKey,
} from './keys.js';
import type {
  Aggregate, BatchFacts, ConsentRow, EntrySourceCode, EventFacts, NewsletterRow, Person, PersonRef, PlanOptions,
  ResponseCategory,
} from './facts.js';

// ---- step 1: per-event decision ------------------------------------------------------------------

export interface ResponseIntent {
  /** activityid: UUID v5 of the natural key. */
  id: string;
  naturalKey: string;
  /** What goes into crs_responsekey (≤ 100 characters). */
  responseKey: string;
  person: Person;
  category: ResponseCategory;
  campaignId: string;
  subject: string;
  clientId: string;
  mailingId?: string;
  linkUrl?: string;
  email?: string;
  occurredAt: string;
  eventKey: string;
}

export interface EntryIntent {
  person: Person;
  newsletter: NewsletterRow;
  entryType: EntryType;
  source: EntrySourceCode;
  occurredAt: string;
  mailingId?: string;
  reason?: string;
  sourceEventId: string;
}

export interface OutbounceIntent {
  persons: Person[];
  email?: string;
  occurredAt: string;
}

export type Decision =
  | { outcome: 'ignored'; reason: string }
  | { outcome: 'unmatched'; reason: string }
  | {
    outcome: 'apply'; responses: ResponseIntent[]; entries: EntryIntent[]; outbounce?: OutbounceIntent;
    /**
     * Set when only part of the event can be written yet: an unsubscribe of a campaign-management
     * mailing whose newsletter does not resolve still writes its R1 response, but the opt-out (R3)
     * waits. Once the writes succeed the event is `unmatched` with this reason and retried (the
     * response write is idempotent), so the opt-out follows when the newsletter exists.
     */
    unresolved?: string;
  };

const RESPONSE_CATEGORY: Partial<Record<NormalizedEvent['type'], ResponseCategory>> = {
  open: 'Open', click: 'Click', reply: 'Reply', autoresponder: 'Autoresponder', unsubscribe: 'Unsubscription',
};

const CONSENT_ENTRY: Partial<Record<NormalizedEvent['type'], { entryType: EntryType; source: EntrySourceCode }>> = {
  unsubscribe: { entryType: 'optout', source: 'unsubscribe' },
  spamcomplaint: { entryType: 'optout', source: 'spamcomplaint' },
  singleoptin: { entryType: 'optin', source: 'singleoptin' },
  confirmedoptin: { entryType: 'optin', source: 'confirmedoptin' },
  doubleoptin: { entryType: 'optin', source: 'doubleoptin' },
};

const SOURCE_VALUE: Record<EntrySourceCode, number> = {
  unsubscribe: ENTRY_SOURCE.CampaignUnsubscribe,
  spamcomplaint: ENTRY_SOURCE.CampaignSpamComplaint,
  singleoptin: ENTRY_SOURCE.CampaignSingleOptIn,
  confirmedoptin: ENTRY_SOURCE.CampaignConfirmedOptIn,
  doubleoptin: ENTRY_SOURCE.CampaignDoubleOptIn,
};

/** R7: stored and counted, never written to CRM. */
const STORE_ONLY = new Set<NormalizedEvent['type']>(['sent', 'blocklist', 'archive', 'filteredbyblocklist']);

/** Which facts `decide` needs for this event, so the worker looks up nothing in vain. */
export interface FactNeeds {
  client: boolean;
  mailing: boolean;
  newsletters: boolean;
  persons: boolean;
  /** bounce: learn whether the threshold is exceeded; bounce/outbounce: every person with the address. */
  outbounce: boolean;
  /**
   * A compliance event (consent entry or outbounce): its persons are read fresh, never from the cache,
   * because a person missed by a stale cache would miss an opt-out or outbounce.
   */
  compliance: boolean;
}

export function factNeeds(event: NormalizedEvent, options: PlanOptions): FactNeeds {
  const none: FactNeeds = { client: false, mailing: false, newsletters: false, persons: false, outbounce: false, compliance: false };
  if (STORE_ONLY.has(event.type)) return none;
  if (event.type === 'bounce' || event.type === 'outbounce') return { ...none, outbounce: true, compliance: true };
  if (event.type === 'spamcomplaint' && !options.spamComplaintOptOut) return none;
  const consent = CONSENT_ENTRY[event.type] !== undefined;
  return { client: true, mailing: Boolean(event.mailingId), newsletters: consent, persons: true, outbounce: false, compliance: consent };
}

/** `<category>: <mailing name, or "Mailing <id>">`, at most 200 characters (spec §3). */
export function responseSubject(category: ResponseCategory, mailingName: string | undefined, mailingId: string | undefined): string {
  const name = mailingName?.trim() || `Mailing ${mailingId ?? '?'}`;
  return cut(`${category}: ${name}`, maxLengthOf(campaignResponse, 'subject'));
}

/**
 * R3 newsletter resolution, first match wins: client + recipient list; the mailing's newsletter;
 * every newsletter of the client. Opt-ins (R7) stop before the last step: opting a person into every
 * newsletter of a client because the event named none would invent consent.
 */
export function resolveNewsletters(event: NormalizedEvent, facts: EventFacts, entryType: EntryType): NewsletterRow[] {
  const ofClient = facts.client ? facts.newsletters.filter((n) => n.clientRowId === facts.client?.id) : [];
  if (event.recipientListId) {
    const byList = ofClient.filter((n) => n.recipientListId !== undefined && n.recipientListId === event.recipientListId);
    if (byList.length > 0) return byList;
  }
  if (facts.mailing?.newsletterId) {
    const byMailing = ofClient.filter((n) => n.id === facts.mailing?.newsletterId);
    if (byMailing.length > 0) return byMailing;
  }
  return entryType === 'optout' ? ofClient : [];
}

/**
 * Whether R3 resolves through a newsletter the facts name and contain: the recipient list's or, when
 * the event names no list, the mailing's. Anything else (an unknown list, a mailing newsletter missing
 * from the rows, the fallback to every newsletter, no newsletter at all) may come from cached rows
 * older than a newsletter or mailing change in CRM, so the worker re-reads them before deciding.
 */
export function newsletterNamed(event: NormalizedEvent, facts: Pick<EventFacts, 'client' | 'mailing' | 'newsletters'>): boolean {
  const ofClient = facts.client ? facts.newsletters.filter((n) => n.clientRowId === facts.client?.id) : [];
  if (event.recipientListId) return ofClient.some((n) => n.recipientListId === event.recipientListId);
  const named = facts.mailing?.newsletterId;
  return named !== undefined && ofClient.some((n) => n.id === named);
}

export function decide(event: NormalizedEvent, facts: EventFacts, options: PlanOptions): Decision {
  if (STORE_ONLY.has(event.type)) return { outcome: 'ignored', reason: `${event.type} events are stored, not written to CRM (R7)` };
  const occurredAt = canonicalTime(event.occurredAt);

  if (event.type === 'bounce' || event.type === 'outbounce') {
    if (event.type === 'bounce' && !facts.outbounceLearned) return { outcome: 'ignored', reason: 'bounce below the outbounce threshold (R5)' };
    const persons = uniquePersons(facts.outbouncePersons ?? []);
    if (persons.length === 0) return { outcome: 'unmatched', reason: `no contact or lead with address ${event.email ?? event.recipientId ?? '?'} (R8)` };
    const at = facts.outbounceAt ? canonicalTime(facts.outbounceAt) : occurredAt;
    return { outcome: 'apply', responses: [], entries: [], outbounce: { persons, email: event.email, occurredAt: at } };
  }

  if (event.type === 'spamcomplaint' && !options.spamComplaintOptOut) {
    return { outcome: 'ignored', reason: 'spam complaints are switched off as opt-outs (R7)' };
  }

  const category = RESPONSE_CATEGORY[event.type];
  const consent = CONSENT_ENTRY[event.type];
  const writesResponse = category !== undefined && facts.mailing !== undefined;
  if (!writesResponse && consent === undefined) {
    return { outcome: 'ignored', reason: `mailing ${event.mailingId ?? '(none)'} of client ${event.clientId} is not a campaign-management mailing (R2)` };
  }

  const persons = uniquePersons(facts.persons);
  if (persons.length === 0) {
    return { outcome: 'unmatched', reason: `no contact or lead for ${describeIdentity(event)} (R8)` };
  }

  const entries: EntryIntent[] = [];
  let unresolved: string | undefined;
  if (consent) {
    const newsletters = resolveNewsletters(event, facts, consent.entryType);
    if (newsletters.length === 0) {
      const why = facts.client ? 'no newsletter resolves' : `client ${event.clientId} has no crs_campaignclient row`;
      const reason = `${why} for ${event.type} (recipient list ${event.recipientListId ?? '(none)'}) (R3)`;
      // R1 does not depend on the newsletter: the response is written now, the consent part is retried.
      if (!writesResponse) return { outcome: 'unmatched', reason };
      unresolved = reason;
    }
    for (const person of persons) {
      for (const newsletter of newsletters) {
        entries.push({
          person, newsletter, entryType: consent.entryType, source: consent.source, occurredAt,
          mailingId: event.mailingId, reason: event.reason, sourceEventId: event.eventId ?? event.key,
        });
      }
    }
  }

  const responses: ResponseIntent[] = [];
  if (writesResponse && category && facts.mailing) {
    const linkUrl = category === 'Click' ? event.linkUrl : undefined;
    for (const person of persons) {
      const naturalKey = responseNaturalKey(event, person, category, linkUrl, options.granularity);
      responses.push({
        id: deterministicId(naturalKey), naturalKey, responseKey: storedResponseKey(naturalKey), person, category,
        campaignId: facts.mailing.campaignId, subject: responseSubject(category, facts.mailing.name, event.mailingId),
        clientId: event.clientId, mailingId: event.mailingId, linkUrl, email: event.email ?? person.email,
        occurredAt, eventKey: event.key,
      });
    }
  }
  return unresolved ? { outcome: 'apply', responses, entries, unresolved } : { outcome: 'apply', responses, entries };
}

function describeIdentity(event: NormalizedEvent): string {
  if (event.crmEntity) return `${event.crmEntity.type} ${event.crmEntity.id} / ${event.email ?? '(no address)'}`;
  return event.email ?? event.recipientId ?? '(no address)';
}

function uniquePersons(persons: Person[]): Person[] {
  const seen = new Map<string, Person>();
  for (const p of persons) if (!seen.has(personKey(p))) seen.set(personKey(p), p);
  return [...seen.values()];
}

// ---- step 2: batch write plan ------------------------------------------------------------------

export interface DecidedEvent {
  /** Store id of the event (what outcomes are attributed to). */
  eventId: string;
  decision: Extract<Decision, { outcome: 'apply' }>;
}

export interface WritePlan {
  /** Ordered phases: execute one after the other; ops inside a phase are independent. */
  phases: DataverseOp[][];
  /** op tag → the store ids of the events that caused it. */
  opEvents: Map<string, string[]>;
  /** Ops whose `existed` result is a success (history entries never change after creation). */
  existedIsFine: Set<string>;
}

const CONSENT_SET = advertisingConsent.entitySetName;
const HISTORY_SET = optInHistory.entitySetName;
const RESPONSE_SET = campaignResponse.entitySetName;

interface ConsentWork {
  id: string;
  existing?: ConsentRow;
  person: Person;
  newsletter?: NewsletterRow;
  newsletterId: string;
  entries: Map<string, { intent: EntryIntent; events: Set<string> }>;
  outbounceAt?: string;
  outbounceEvents: Set<string>;
}

/** Stable key of (person, newsletter). */
function pairKey(person: PersonRef, newsletterId: string): string {
  return `${personKey(person)}|${newsletterId.toLowerCase()}`;
}

function earlier(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return Date.parse(b) < Date.parse(a) ? b : a;
}

function sameTime(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return Date.parse(a) === Date.parse(b);
}

export function cut(value: string, max: number): string {
  return value.length <= max ? value : value.slice(0, max);
}

function bind(entitySet: string, id: string): string {
  return `/${entitySet}(${id})`;
}

function personBind(person: PersonRef): string {
  return bind(person.type === 'contact' ? contact.entitySetName : lead.entitySetName, person.id);
}

export function planWrites(events: DecidedEvent[], facts: BatchFacts, options: PlanOptions): WritePlan {
  const newsletterById = new Map(facts.newsletters.map((n) => [n.id.toLowerCase(), n]));
  const isEmailNewsletter = (id: string) => newsletterById.get(id.toLowerCase())?.channel === CHANNEL.Email;

  // Existing consents by (person, newsletter); more than one (CRM duplicates) all get the entry.
  const existingByPair = new Map<string, ConsentRow[]>();
  const existingByPerson = new Map<string, ConsentRow[]>();
  for (const c of facts.consents) {
    const k = pairKey(c.person, c.newsletterId);
    existingByPair.set(k, [...(existingByPair.get(k) ?? []), c]);
    const pk = personKey(c.person);
    existingByPerson.set(pk, [...(existingByPerson.get(pk) ?? []), c]);
  }

  const work = new Map<string, ConsentWork>();
  const workFor = (person: Person, existing: ConsentRow | undefined, newsletterId: string, newsletter?: NewsletterRow): ConsentWork => {
    const id = existing?.id ?? consentId(person, newsletterId);
    let w = work.get(id.toLowerCase());
    if (!w) {
      w = { id, existing, person, newsletter: newsletter ?? newsletterById.get(newsletterId.toLowerCase()), newsletterId, entries: new Map(), outbounceEvents: new Set() };
      work.set(id.toLowerCase(), w);
    }
    return w;
  };

  // R3/R7: entries, grouped per consent (new consents get the deterministic id).
  for (const { eventId, decision } of events) {
    for (const intent of decision.entries) {
      const existing = existingByPair.get(pairKey(intent.person, intent.newsletter.id));
      const targets = existing && existing.length > 0
        ? existing.map((c) => workFor(intent.person, c, c.newsletterId, intent.newsletter))
        : [workFor(intent.person, undefined, intent.newsletter.id, intent.newsletter)];
      for (const w of targets) {
        const entryId = historyEntryId(w.id, intent.entryType, intent.occurredAt, intent.source);
        const slot = w.entries.get(entryId) ?? { intent, events: new Set<string>() };
        slot.events.add(eventId);
        w.entries.set(entryId, slot);
      }
    }
  }

  // R5: every Email-channel consent of every person with the address (existing ones, and the ones created now).
  for (const { eventId, decision } of events) {
    const ob = decision.outbounce;
    if (!ob) continue;
    for (const person of ob.persons) {
      for (const c of existingByPerson.get(personKey(person)) ?? []) {
        if (!isEmailNewsletter(c.newsletterId)) continue;
        const w = workFor(person, c, c.newsletterId);
        w.outbounceAt = earlier(w.outbounceAt, ob.occurredAt);
        w.outbounceEvents.add(eventId);
      }
    }
  }
  // A consent created now for an address already known as outbounced starts with outbounce Yes,
  // so the result does not depend on whether the outbounce or the unsubscribe came first.
  for (const w of work.values()) {
    if (w.existing || !isEmailNewsletter(w.newsletterId)) continue;
    const email = w.person.email?.toLowerCase();
    const known = email ? facts.outbouncedAddresses.get(email) : undefined;
    w.outbounceAt = earlier(w.outbounceAt, known);
    for (const { eventId, decision } of events) {
      if (decision.outbounce?.persons.some((p) => personKey(p) === personKey(w.person))) {
        w.outbounceAt = earlier(w.outbounceAt, decision.outbounce.occurredAt);
        w.outbounceEvents.add(eventId);
      }
    }
  }

  const phases: DataverseOp[][] = [[], [], []];
  const opEvents = new Map<string, string[]>();
  const existedIsFine = new Set<string>();
  let n = 0;
  const add = (phase: number, op: Omit<DataverseOp, 'tag'>, eventIds: Iterable<string>): string => {
    const tag = `op${n++}`;
    phases[phase]?.push({ ...op, tag });
    opEvents.set(tag, [...new Set(eventIds)].sort());
    return tag;
  };

  const sortedWork = [...work.values()].sort((a, b) => a.id.localeCompare(b.id));
  for (const w of sortedWork) {
    const allEvents = new Set<string>(w.outbounceEvents);
    for (const slot of w.entries.values()) for (const e of slot.events) allEvents.add(e);
    const knownIds = new Set((w.existing?.history ?? []).map((h) => h.id.toLowerCase()));
    const newEntries = [...w.entries.entries()].filter(([id]) => !knownIds.has(id.toLowerCase()));
    // R4 over every entry of the consent: the existing history (anyone's) plus the new ones, and the
    // current status at its statuschangedon (a status set in CRM or imported may have no history row:
    // an older event must not override it).
    const current = statusEntry(w.existing?.status, w.existing?.statusChangedOn);
    const verdict = currentConsentState([
      ...(current ? [{ id: '', ...current }] : []),
      ...(w.existing?.history ?? []),
      ...[...w.entries.entries()].map(([id, s]) => ({ id, entryType: s.intent.entryType, occurredOn: s.intent.occurredAt })),
    ]);
    const status = verdict.state === 'none' ? undefined : verdict.state;
    const statusChangedOn = verdict.decidingEntry ? canonicalTime(verdict.decidingEntry.occurredOn) : undefined;

    if (!w.existing) {
      const body: Record<string, unknown> = {
        crs_advertisingconsentid: w.id,
        crs_name: cut(`${w.newsletter?.name ?? 'Newsletter'} – ${w.person.email ?? w.person.fullName ?? w.person.id}`, maxLengthOf(advertisingConsent, 'crs_name')),
        [`crs_${w.person.type}id@odata.bind`]: personBind(w.person),
        'crs_newsletterid@odata.bind': bind(newsletterTable.entitySetName, w.newsletterId),
      };
      if (status) {
        body.crs_status = status === 'optin' ? CONSENT_STATUS.OptedIn : CONSENT_STATUS.OptedOut;
        body.crs_statuschangedon = statusChangedOn;
      }
      if (w.outbounceAt) {
        body.crs_outbounce = true;
        body.crs_outbounceon = canonicalTime(w.outbounceAt);
      }
      add(0, { method: 'create', entitySet: CONSENT_SET, id: w.id, body }, allEvents);
    } else {
      const patch: Record<string, unknown> = {};
      // Recomputed whenever an event touches the consent: also repairs a status left behind by a crash
      // between writing the entry and updating the status, or by entries CRM users wrote.
      // When this round appends entries, the status is written even if unchanged: the If-Match on the
      // row read before planning makes a concurrent writer (another process appending another entry
      // from the same stale history) fail with 412 and re-plan, so R4 always sees every entry.
      const statusDiffers = w.existing.status !== status || !sameTime(w.existing.statusChangedOn, statusChangedOn);
      if (w.entries.size > 0 && status && (statusDiffers || newEntries.length > 0)) {
        patch.crs_status = status === 'optin' ? CONSENT_STATUS.OptedIn : CONSENT_STATUS.OptedOut;
        patch.crs_statuschangedon = statusChangedOn;
      }
      // "from No to Yes"; an earlier report of the same outbounce moves the date back (order-independent).
      if (w.outbounceAt && (!w.existing.outbounce || (w.existing.outbounceOn !== undefined && Date.parse(w.outbounceAt) < Date.parse(w.existing.outbounceOn)))) {
        patch.crs_outbounce = true;
        patch.crs_outbounceon = canonicalTime(w.outbounceAt);
      }
      if (Object.keys(patch).length > 0) {
        add(2, { method: 'update', entitySet: CONSENT_SET, id: w.existing.id, body: patch, ifMatch: w.existing.etag ?? '*' }, allEvents);
      }
    }

    for (const [entryId, slot] of newEntries.sort(([a], [b]) => a.localeCompare(b))) {
      const i = slot.intent;
      const body: Record<string, unknown> = {
        crs_optinhistoryid: entryId,
        crs_name: cut(`${i.entryType === 'optin' ? 'Opt-in' : 'Opt-out'} ${i.occurredAt}`, maxLengthOf(optInHistory, 'crs_name')),
        'crs_advertisingconsentid@odata.bind': bind(CONSENT_SET, w.id),
        crs_entrytype: i.entryType === 'optin' ? ENTRY_TYPE.OptIn : ENTRY_TYPE.OptOut,
        crs_occurredon: i.occurredAt,
        crs_source: SOURCE_VALUE[i.source],
        crs_sourceeventid: cut(i.sourceEventId, maxLengthOf(optInHistory, 'crs_sourceeventid')),
      };
      if (i.mailingId) body.crs_mailingid = cut(i.mailingId, maxLengthOf(optInHistory, 'crs_mailingid'));
      if (i.reason) body.crs_reason = cut(i.reason, maxLengthOf(optInHistory, 'crs_reason'));
      const tag = add(1, { method: 'create', entitySet: HISTORY_SET, id: entryId, body }, slot.events);
      existedIsFine.add(tag);
    }
  }

  // R1/R10: one response per natural key; the aggregate's absolute values (never increments).
  const responses = new Map<string, { intent: ResponseIntent; events: Set<string> }>();
  for (const { eventId, decision } of events) {
    for (const r of decision.responses) {
      const slot = responses.get(r.id) ?? { intent: r, events: new Set<string>() };
      slot.events.add(eventId);
      responses.set(r.id, slot);
    }
  }
  const existingResponses = new Map(facts.responses.map((r) => [r.id.toLowerCase(), r]));
  for (const [id, { intent, events: evs }] of [...responses.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const agg: Aggregate = options.granularity === 'event'
      ? { count: 1, firstAt: intent.occurredAt, lastAt: intent.occurredAt }
      : facts.aggregates.get(id) ?? { count: evs.size, firstAt: intent.occurredAt, lastAt: intent.occurredAt };
    const existing = existingResponses.get(id.toLowerCase());
    if (!existing) {
      add(1, { method: 'create', entitySet: RESPONSE_SET, id, body: responseBody(intent, agg) }, evs);
      continue;
    }
    // A smaller count than the row's comes from an older snapshot of the aggregate: never go back.
    if (existing.eventCount !== undefined && agg.count < existing.eventCount) continue;
    const patch: Record<string, unknown> = {};
    if (existing.eventCount !== agg.count) patch.crs_eventcount = agg.count;
    if (!sameTime(existing.lastOccurredOn, canonicalTime(agg.lastAt))) patch.crs_lastoccurredon = canonicalTime(agg.lastAt);
    if (!sameTime(existing.receivedOn, canonicalTime(agg.firstAt))) patch.receivedon = canonicalTime(agg.firstAt);
    if (Object.keys(patch).length > 0) {
      add(2, { method: 'update', entitySet: RESPONSE_SET, id: existing.id, body: patch, ifMatch: existing.etag ?? '*' }, evs);
    }
  }

  return { phases, opEvents, existedIsFine };
}

/** Campaign response columns per spec §3. */
export function responseBody(r: ResponseIntent, agg: Aggregate): Record<string, unknown> {
  const body: Record<string, unknown> = {
    activityid: r.id,
    subject: r.subject,
    category: r.category,
    channeltypecode: 1,
    receivedon: canonicalTime(agg.firstAt),
    'regardingobjectid_campaign_campaignresponse@odata.bind': bind(campaign.entitySetName, r.campaignId),
    campaignresponse_activity_parties: [
      { participationtypemask: 11, [`partyid_${r.person.type}@odata.bind`]: personBind(r.person) },
    ],
    crs_clientid: cut(r.clientId, maxLengthOf(campaignResponse, 'crs_clientid')),
    crs_eventcount: agg.count,
    crs_lastoccurredon: canonicalTime(agg.lastAt),
    crs_responsekey: r.responseKey,
  };
  if (r.category === 'Click' || r.category === 'Reply') body.responsecode = 1;
  if (r.category === 'Unsubscription') body.responsecode = 3;
  if (r.mailingId) body.crs_mailingid = cut(r.mailingId, maxLengthOf(campaignResponse, 'crs_mailingid'));
  if (r.email) body.emailaddress = cut(r.email, maxLengthOf(campaignResponse, 'emailaddress'));
  if (r.linkUrl) {
    body.subcategory = cut(r.linkUrl, maxLengthOf(campaignResponse, 'subcategory'));
    body.crs_linkurl = cut(r.linkUrl, maxLengthOf(campaignResponse, 'crs_linkurl'));
  }
  return body;
}

/** Convenience for one event (tests, replay previews): decide, then plan against the given facts. */
export function planEvent(
  eventId: string, event: NormalizedEvent, eventFacts: EventFacts, batchFacts: BatchFacts, options: PlanOptions,
): { decision: Decision; plan?: WritePlan } {
  const decision = decide(event, eventFacts, options);
  if (decision.outcome !== 'apply') return { decision };
  return { decision, plan: planWrites([{ eventId, decision }], batchFacts, options) };
}
