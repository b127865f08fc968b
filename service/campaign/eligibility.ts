/**
 * R6 — the consent gate: may this person be transmitted to Campaign for this newsletter?
 * Not when the current entry of their consent's opt-in history is an opt-out (R4, the shared rule
 * in service/consent/state.ts), nor when the consent has outbounce Yes (R5). The decision is pure
 * (`decideEligibility`); `readEligibility` fetches the consent rows and history from Dataverse.
 *
 * Decisions (docs/campaign.md): no consent row for the newsletter → not eligible (the original
 * integration only transmits people with a consent); an opted-out crs_status counts as an entry at
 * its crs_statuschangedon (consent/state.ts statusEntry: set in CRM or imported, it may have no history
 * row, and an older opt-in must not undo it); a consent without any history entry falls back to its
 * crs_status column.
 */
import { currentConsentState, statusEntry, type HistoryEntryLike } from '../consent/state.js';
import type { DataverseClient } from '../dataverse/types.js';
import {
  advertisingConsent, CONSENT_STATUS, ENTRY_TYPE, newsletter, optInHistory,
} from '../../solution/model/index.js';
import { odataQuery } from './directory.js';

export type PersonType = 'contact' | 'lead';

export interface EligibilityRequest {
  newsletterId: string;
  person: { type: PersonType; id: string };
}

export interface ConsentRecord {
  consentId: string;
  /** crs_status: an opt-out counts as an entry at statusChangedOn; without history and date it decides alone. */
  status?: 'optin' | 'optout';
  statusChangedOn?: string;
  outbounce: boolean;
  outbounceOn?: string;
}

export interface HistoryEntry extends HistoryEntryLike {
  id: string;
  consentId: string;
  source?: string;
  mailingId?: string;
  reason?: string;
}

export type IneligibilityReason =
  | { code: 'optedOut'; since?: string; basis: 'history' | 'status'; source?: string; mailingId?: string; reason?: string; entryId?: string }
  | { code: 'outbounce'; since?: string }
  | { code: 'noConsent' };

export interface EligibilityVerdict {
  eligible: boolean;
  newsletterId: string;
  contactId?: string;
  leadId?: string;
  /** The consent rows looked at (normally one). */
  consentIds: string[];
  /** R4 state of the history: the deciding entry's type, or none without history. */
  state: 'optin' | 'optout' | 'none';
  decidingEntry?: { id: string; entryType: 'optin' | 'optout'; occurredOn: string; source?: string };
  reasons: IneligibilityReason[];
}

/** Pure R6 decision for one person and newsletter. */
export function decideEligibility(req: EligibilityRequest, consents: readonly ConsentRecord[], history: readonly HistoryEntry[]): EligibilityVerdict {
  const base = {
    newsletterId: req.newsletterId,
    ...(req.person.type === 'contact' ? { contactId: req.person.id } : { leadId: req.person.id }),
    consentIds: consents.map((c) => c.consentId),
  };
  if (consents.length === 0) return { ...base, eligible: false, state: 'none', reasons: [{ code: 'noConsent' }] };

  const reasons: IneligibilityReason[] = [];
  const ids = new Set(consents.map((c) => c.consentId));
  const verdict = currentConsentState(history.filter((h) => ids.has(h.consentId)));
  const deciding = verdict.decidingEntry;
  // The same rule with each consent's opted-out status as one more entry (the planner's R4).
  const statusEntries = consents.flatMap((c) => {
    const e = statusEntry(c.status, c.statusChangedOn);
    return e ? [{ ...e, fromStatus: true as const }] : [];
  });
  const withStatus = currentConsentState<HistoryEntryLike & { fromStatus?: true }>([...(deciding ? [deciding] : []), ...statusEntries]);
  if (withStatus.decidingEntry?.fromStatus) {
    reasons.push({ code: 'optedOut', basis: 'status', since: withStatus.decidingEntry.occurredOn });
  } else if (verdict.state === 'optout' && deciding) {
    reasons.push({
      code: 'optedOut', since: deciding.occurredOn, basis: 'history', entryId: deciding.id,
      ...(deciding.source ? { source: deciding.source } : {}),
      ...(deciding.mailingId ? { mailingId: deciding.mailingId } : {}),
      ...(deciding.reason ? { reason: deciding.reason } : {}),
    });
  } else if (verdict.state === 'none') {
    const optedOut = consents.find((c) => c.status === 'optout');
    if (optedOut) reasons.push({ code: 'optedOut', basis: 'status', ...(optedOut.statusChangedOn ? { since: optedOut.statusChangedOn } : {}) });
  }
  const outbounced = consents.filter((c) => c.outbounce).sort((a, b) => (a.outbounceOn ?? '').localeCompare(b.outbounceOn ?? ''))[0];
  if (outbounced) reasons.push({ code: 'outbounce', ...(outbounced.outbounceOn ? { since: outbounced.outbounceOn } : {}) });

  return {
    ...base,
    eligible: reasons.length === 0,
    state: verdict.state,
    ...(deciding ? { decidingEntry: { id: deciding.id, entryType: deciding.entryType, occurredOn: deciding.occurredOn, ...(deciding.source ? { source: deciding.source } : {}) } } : {}),
    reasons,
  };
}

/** One-line human summary, e.g. "not eligible: opted out on 2026-11-20T10:00:00Z (Campaign unsubscribe); outbounce since …". */
export function describeVerdict(v: EligibilityVerdict): string {
  if (v.eligible) return v.state === 'optin' ? `eligible (opted in on ${v.decidingEntry?.occurredOn})` : 'eligible (consent without history entries, status opted in)';
  const parts = v.reasons.map((r) => {
    if (r.code === 'noConsent') return 'no advertising consent for this newsletter';
    if (r.code === 'outbounce') return `outbounce${r.since ? ` since ${r.since}` : ''}`;
    return `opted out${r.since ? ` on ${r.since}` : ''}${r.source ? ` (${r.source})` : r.basis === 'status' ? ' (consent status)' : ''}`;
  });
  return `not eligible: ${parts.join('; ')}`;
}

// ---- reading from Dataverse -----------------------------------------------------------------

const GUID = /^\{?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\}?$/i;

/** Lower-case GUID, or undefined when `value` is not one. */
export function parseGuid(value: string | undefined): string | undefined {
  const m = value ? GUID.exec(value.trim()) : null;
  return m ? m[1]!.toLowerCase() : undefined;
}

export class NotFoundError extends Error {}

const sourceLabels = new Map(
  (optInHistory.columns.find((c) => c.logicalName === 'crs_source')?.options ?? []).map((o) => [o.value, o.label]),
);
const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

/** Reads the consent rows and their history, then decides. Throws NotFoundError for an unknown newsletter. */
export async function readEligibility(dataverse: Pick<DataverseClient, 'query' | 'retrieve'>, req: EligibilityRequest): Promise<EligibilityVerdict> {
  const personColumn = req.person.type === 'contact' ? '_crs_contactid_value' : '_crs_leadid_value';
  const consentKey = advertisingConsent.primaryIdAttribute;
  const consentRows = await dataverse.query(
    advertisingConsent.entitySetName,
    odataQuery(
      [consentKey, 'crs_status', 'crs_statuschangedon', 'crs_outbounce', 'crs_outbounceon'],
      `_crs_newsletterid_value eq ${req.newsletterId} and ${personColumn} eq ${req.person.id}`,
    ),
  );
  if (consentRows.length === 0) {
    const nl = await dataverse.retrieve(newsletter.entitySetName, req.newsletterId, [newsletter.primaryIdAttribute]);
    if (!nl) throw new NotFoundError(`newsletter ${req.newsletterId} not found`);
  }
  const consents: ConsentRecord[] = consentRows.map((r) => ({
    consentId: String(r[consentKey]).toLowerCase(),
    ...(r.crs_status === CONSENT_STATUS.OptedOut ? { status: 'optout' as const } : r.crs_status === CONSENT_STATUS.OptedIn ? { status: 'optin' as const } : {}),
    ...(str(r.crs_statuschangedon) ? { statusChangedOn: str(r.crs_statuschangedon) } : {}),
    outbounce: r.crs_outbounce === true,
    ...(str(r.crs_outbounceon) ? { outbounceOn: str(r.crs_outbounceon) } : {}),
  }));
  const history: HistoryEntry[] = [];
  if (consents.length) {
    const historyKey = optInHistory.primaryIdAttribute;
    const rows = await dataverse.query(
      optInHistory.entitySetName,
      odataQuery(
        [historyKey, '_crs_advertisingconsentid_value', 'crs_entrytype', 'crs_occurredon', 'crs_source', 'crs_mailingid', 'crs_reason'],
        consents.map((c) => `_crs_advertisingconsentid_value eq ${c.consentId}`).join(' or '),
      ),
    );
    for (const r of rows) {
      const occurredOn = str(r.crs_occurredon);
      const entryType = r.crs_entrytype === ENTRY_TYPE.OptOut ? 'optout' : r.crs_entrytype === ENTRY_TYPE.OptIn ? 'optin' : undefined;
      if (!occurredOn || !entryType) continue; // an entry without time or type cannot decide (R4)
      const source = typeof r.crs_source === 'number' ? sourceLabels.get(r.crs_source) : undefined;
      history.push({
        id: String(r[historyKey]).toLowerCase(),
        consentId: String(r._crs_advertisingconsentid_value).toLowerCase(),
        entryType, occurredOn,
        ...(source ? { source } : {}),
        ...(str(r.crs_mailingid) ? { mailingId: str(r.crs_mailingid) } : {}),
        ...(str(r.crs_reason) ? { reason: str(r.crs_reason) } : {}),
      });
    }
  }
  return decideEligibility(req, consents, history);
}

/** Validates query parameters (`newsletter` and exactly one of `contact` / `lead`); throws a one-line Error. */
export function parseEligibilityRequest(q: { newsletter?: string; contact?: string; lead?: string }): EligibilityRequest {
  if (!q.newsletter) throw new Error('newsletter is required (the crs_newsletter id)');
  const newsletterId = parseGuid(q.newsletter);
  if (!newsletterId) throw new Error(`newsletter must be a GUID, got "${q.newsletter.slice(0, 60)}"`);
  if (q.contact && q.lead) throw new Error('give contact or lead, not both');
  const raw = q.contact ?? q.lead;
  if (!raw) throw new Error('contact or lead is required (the person\'s id)');
  const id = parseGuid(raw);
  if (!id) throw new Error(`${q.contact ? 'contact' : 'lead'} must be a GUID, got "${raw.slice(0, 60)}"`);
  return { newsletterId, person: { type: q.contact ? 'contact' : 'lead', id } };
}
