/**
 * Advertising consents of one person with their opt-in history: the Web API queries and the pure
 * shaping of the rows. The current state is computed here from the history by R4 (the shared rule
 * in service/consent/state.ts), so it is right even when the stored crs_status is stale.
 */
import {
  advertisingConsent,
  campaignClient,
  column,
  CONSENT_STATUS,
  ENTRY_TYPE,
  newsletter,
  optInHistory,
} from '../../../solution/model/tables.js';
import { compareNewestFirst, currentConsentState, statusEntry, type ConsentVerdict, type EntryType } from '../../../service/consent/state.js';
import type { Row } from '../shared/data-client.js';
import { col, FORMATTED, num, str } from '../shared/format.js';
import type { PanelRecord } from '../shared/host.js';

export const CONSENT_ENTITY = advertisingConsent.logicalName;
export const HISTORY_ENTITY = optInHistory.logicalName;

const AC = {
  id: advertisingConsent.primaryIdAttribute,
  name: col(advertisingConsent, 'crs_name'),
  contact: col(advertisingConsent, 'crs_contactid'),
  lead: col(advertisingConsent, 'crs_leadid'),
  newsletter: col(advertisingConsent, 'crs_newsletterid'),
  status: col(advertisingConsent, 'crs_status'),
  statusChangedOn: col(advertisingConsent, 'crs_statuschangedon'),
  outbounce: col(advertisingConsent, 'crs_outbounce'),
  outbounceOn: col(advertisingConsent, 'crs_outbounceon'),
} as const;
const NL = { name: col(newsletter, 'crs_name'), channel: col(newsletter, 'crs_channel'), client: col(newsletter, 'crs_campaignclientid') } as const;
const CL = { name: col(campaignClient, 'crs_name'), clientId: col(campaignClient, 'crs_clientid') } as const;
const OH = {
  id: optInHistory.primaryIdAttribute,
  consent: col(optInHistory, 'crs_advertisingconsentid'),
  entryType: col(optInHistory, 'crs_entrytype'),
  occurredOn: col(optInHistory, 'crs_occurredon'),
  source: col(optInHistory, 'crs_source'),
  mailing: col(optInHistory, 'crs_mailingid'),
  reason: col(optInHistory, 'crs_reason'),
} as const;

/** Collection-valued navigation property consent → history (the relationship's schema name). */
export const HISTORY_NAV = column(optInHistory, OH.consent).relationshipName!;
/** Single-valued navigation properties are named like their lookup columns (spec §3 convention). */
export const NEWSLETTER_NAV = AC.newsletter;
export const CLIENT_NAV = NL.client;

/** History entries expanded with each consent; more are loaded on demand, paged. */
export const HISTORY_PREVIEW = 25;
export const HISTORY_PAGE_SIZE = 100;
export const DEFAULT_PAGE_SIZE = 50;

/** Newest first; on equal time the opt-out first (it wins ties), so the deciding entry is on page one. */
const HISTORY_ORDER = `${OH.occurredOn} desc,${OH.entryType} ${ENTRY_TYPE.OptOut > ENTRY_TYPE.OptIn ? 'desc' : 'asc'}`;
const HISTORY_SELECT = [OH.id, OH.entryType, OH.occurredOn, OH.source, OH.mailing, OH.reason].join(',');

export function consentsQuery(record: PanelRecord): string {
  const owner = record.entityType === 'contact' ? AC.contact : AC.lead;
  const select = [AC.id, AC.name, AC.status, AC.statusChangedOn, AC.outbounce, AC.outbounceOn, `_${AC.newsletter}_value`].join(',');
  const expand =
    `${NEWSLETTER_NAV}($select=${NL.name},${NL.channel};$expand=${CLIENT_NAV}($select=${CL.name},${CL.clientId})),` +
    `${HISTORY_NAV}($select=${HISTORY_SELECT};$orderby=${HISTORY_ORDER};$top=${HISTORY_PREVIEW})`;
  return `?$select=${select}&$expand=${expand}&$filter=_${owner}_value eq ${record.id}&$orderby=${AC.name} asc`;
}

/** The whole history of one consent, paged. */
export function historyQuery(consentId: string): string {
  return `?$select=${HISTORY_SELECT}&$filter=_${OH.consent}_value eq ${consentId}&$orderby=${HISTORY_ORDER}`;
}

export interface HistoryEntry {
  id: string;
  entryType: EntryType;
  occurredOn: string;
  occurredOnFormatted?: string;
  source?: number;
  sourceFormatted?: string;
  mailingId?: string;
  reason?: string;
}

export function toHistoryEntry(row: Row): HistoryEntry | undefined {
  const type = num(row, OH.entryType);
  const entryType: EntryType | undefined = type === ENTRY_TYPE.OptIn ? 'optin' : type === ENTRY_TYPE.OptOut ? 'optout' : undefined;
  const occurredOn = str(row, OH.occurredOn);
  if (!entryType || !occurredOn) return undefined; // cannot take part in R4 nor be shown sensibly
  const entry: HistoryEntry = { id: str(row, OH.id) ?? '', entryType, occurredOn };
  const occurredOnFormatted = str(row, OH.occurredOn + FORMATTED);
  const source = num(row, OH.source);
  const sourceFormatted = str(row, OH.source + FORMATTED);
  const mailingId = str(row, OH.mailing);
  const reason = str(row, OH.reason);
  if (occurredOnFormatted) entry.occurredOnFormatted = occurredOnFormatted;
  if (source !== undefined) entry.source = source;
  if (sourceFormatted) entry.sourceFormatted = sourceFormatted;
  if (mailingId) entry.mailingId = mailingId;
  if (reason) entry.reason = reason;
  return entry;
}

export interface ConsentCard {
  id: string;
  name?: string;
  newsletterName?: string;
  clientName?: string;
  clientId?: string;
  channel?: number;
  storedStatus?: number;
  storedStatusChangedOn?: string;
  storedStatusChangedOnFormatted?: string;
  outbounce: boolean;
  outbounceOn?: string;
  outbounceOnFormatted?: string;
  /** Newest first. */
  history: HistoryEntry[];
  /** More history exists than is loaded. */
  historyHasMore: boolean;
  verdict: ConsentVerdict<HistoryEntry>;
  /** The stored crs_status disagrees with the verdict from the history. */
  stale: boolean;
}

export function withHistory(card: ConsentCard, history: HistoryEntry[], historyHasMore: boolean): ConsentCard {
  const sorted = [...history].sort(compareNewestFirst);
  const fromHistory = currentConsentState(sorted);
  // An opted-out crs_status counts as an entry at its date (service/consent/state.ts statusEntry), as in
  // the consent gate (R6): an import or a CRM user may have set it without a history row.
  const status = statusEntry(card.storedStatus === CONSENT_STATUS.OptedOut ? 'optout' : undefined, card.storedStatusChangedOn);
  const statusDecides = status !== undefined && fromHistory.decidingEntry !== undefined && compareNewestFirst(status, fromHistory.decidingEntry) < 0;
  const verdict: ConsentVerdict<HistoryEntry> = statusDecides
    ? {
      state: 'optout',
      decidingEntry: {
        id: '', entryType: 'optout', occurredOn: status.occurredOn,
        ...(card.storedStatusChangedOnFormatted ? { occurredOnFormatted: card.storedStatusChangedOnFormatted } : {}),
      },
    }
    : fromHistory;
  const expected = verdict.state === 'optin' ? CONSENT_STATUS.OptedIn : verdict.state === 'optout' ? CONSENT_STATUS.OptedOut : undefined;
  const stale = expected !== undefined && card.storedStatus !== undefined && card.storedStatus !== expected;
  return { ...card, history: sorted, historyHasMore, verdict, stale };
}

export function toConsentCard(row: Row): ConsentCard {
  const nl = row[NEWSLETTER_NAV];
  const nlRow = nl && typeof nl === 'object' ? (nl as Row) : undefined;
  const cl = nlRow?.[CLIENT_NAV];
  const clRow = cl && typeof cl === 'object' ? (cl as Row) : undefined;
  const rawHistory = Array.isArray(row[HISTORY_NAV]) ? (row[HISTORY_NAV] as Row[]) : [];
  const history = rawHistory.map(toHistoryEntry).filter((e): e is HistoryEntry => e !== undefined);
  const historyHasMore = typeof row[`${HISTORY_NAV}@odata.nextLink`] === 'string' || rawHistory.length >= HISTORY_PREVIEW;
  const card: ConsentCard = {
    id: str(row, AC.id) ?? '',
    outbounce: row[AC.outbounce] === true,
    history: [],
    historyHasMore: false,
    verdict: { state: 'none' },
    stale: false,
  };
  const optional: Partial<ConsentCard> = {
    name: str(row, AC.name),
    newsletterName: (nlRow && str(nlRow, NL.name)) ?? str(row, `_${AC.newsletter}_value${FORMATTED}`),
    clientName: clRow && str(clRow, CL.name),
    clientId: clRow && str(clRow, CL.clientId),
    channel: nlRow && num(nlRow, NL.channel),
    storedStatus: num(row, AC.status),
    storedStatusChangedOn: str(row, AC.statusChangedOn),
    storedStatusChangedOnFormatted: str(row, AC.statusChangedOn + FORMATTED),
    outbounceOn: str(row, AC.outbounceOn),
    outbounceOnFormatted: str(row, AC.outbounceOn + FORMATTED),
  };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) (card as unknown as Record<string, unknown>)[k] = v;
  return withHistory(card, history, historyHasMore);
}
