/**
 * The CRM facts the pure planner works on. The worker gathers them (lookups, store), the planner
 * turns events + facts into Dataverse writes without any I/O.
 */
import type { CrmEntityType } from '../events.js';
import type { EntryType } from '../consent/state.js';

export const RESPONSE_CATEGORIES = ['Open', 'Click', 'Reply', 'Autoresponder', 'Unsubscription'] as const;
export type ResponseCategory = (typeof RESPONSE_CATEGORIES)[number];

/** Where a history entry came from (maps onto the crs_source choice). */
export type EntrySourceCode = 'unsubscribe' | 'spamcomplaint' | 'singleoptin' | 'confirmedoptin' | 'doubleoptin';

export interface PersonRef {
  type: CrmEntityType;
  id: string;
}

/** A matched contact or lead (R8). */
export interface Person extends PersonRef {
  /** emailaddress1, lower-cased. */
  email?: string;
  fullName?: string;
}

/** A crs_campaignclient row. */
export interface ClientRow {
  id: string;
  clientId: string;
  name?: string;
}

/** A crs_newsletter row. */
export interface NewsletterRow {
  id: string;
  name: string;
  /** crs_campaignclientid (the client row's GUID). */
  clientRowId: string;
  recipientListId?: string;
  /** crs_channel choice value (CHANNEL.Email, …). */
  channel: number;
}

/** A crs_campaignmailing row: the mailing is a campaign-management mailing (R2). */
export interface MailingRow {
  id: string;
  mailingId: string;
  clientRowId: string;
  name?: string;
  /** crs_campaignid: the CRM campaign the responses are regarding. */
  campaignId: string;
  newsletterId?: string;
}

export interface HistoryEntryRow {
  id: string;
  entryType: EntryType;
  occurredOn: string;
}

/** An existing crs_advertisingconsent row with ALL its history entries (including CRM users' and imports'). */
export interface ConsentRow {
  id: string;
  person: PersonRef;
  newsletterId: string;
  status?: EntryType;
  statusChangedOn?: string;
  outbounce: boolean;
  outbounceOn?: string;
  etag?: string;
  history: HistoryEntryRow[];
}

/** An existing campaignresponse row the service wrote (R10). */
export interface ResponseRow {
  id: string;
  eventCount?: number;
  receivedOn?: string;
  lastOccurredOn?: string;
  etag?: string;
}

/** The store's idempotent aggregate of one response key (absolute values, never increments). */
export interface Aggregate {
  count: number;
  firstAt: string;
  lastAt: string;
}

/** Per-event facts for `decide`. */
export interface EventFacts {
  /** R8: the matched contacts and leads (identity from the event, else by email). */
  persons: Person[];
  /** The crs_campaignclient row of the event's client, if configured. */
  client?: ClientRow;
  /** The crs_campaignmailing row of (client, mailing), when it is a campaign-management mailing. */
  mailing?: MailingRow;
  /** Every newsletter of the event's client. */
  newsletters: NewsletterRow[];
  /** R5: whether this event makes the address an outbounce (event, REST threshold or local count). */
  outbounceLearned?: boolean;
  /**
   * R5: when the outbounce happened, if not the event's own time. Local counting reports the first
   * bounce of the series, so the result does not depend on the order the bounces are processed in.
   */
  outbounceAt?: string;
  /** R5: every contact and lead with the event's address (all clients), plus the identity match. */
  outbouncePersons?: Person[];
}

/** Facts for a whole batch of decided events, read fresh from Dataverse and the store. */
export interface BatchFacts {
  /** Existing consents (with history) of every person that gets an entry or an outbounce. */
  consents: ConsentRow[];
  /** Every newsletter (all clients): the channel decides R5. */
  newsletters: NewsletterRow[];
  /** Existing campaign responses, by id. */
  responses: ResponseRow[];
  /** Aggregates by response id (R10). */
  aggregates: Map<string, Aggregate>;
  /** Addresses known to be outbounced, with the earliest report (store state). */
  outbouncedAddresses: Map<string, string>;
}

export interface PlanOptions {
  granularity: 'aggregate' | 'event';
  /** R7: a spam complaint appends an opt-out entry (can be switched off). */
  spamComplaintOptOut: boolean;
}

export const DEFAULT_PLAN_OPTIONS: PlanOptions = { granularity: 'aggregate', spamComplaintOptOut: true };
