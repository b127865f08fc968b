/**
 * The canonical (normalized) Campaign event — spec §4. Produced by the pure normalizer from a raw
 * webhook element or a reconciliation (REST) record; consumed by the planner.
 */

export const EVENT_TYPES = [
  'open', 'click', 'bounce', 'unsubscribe', 'sent', 'spamcomplaint', 'singleoptin', 'confirmedoptin',
  'doubleoptin', 'blocklist', 'archive', 'filteredbyblocklist', 'reply', 'autoresponder', 'outbounce',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** Compliance events overtake opens and clicks (spec §6). Lower number = leased first. */
export const COMPLIANCE_TYPES: ReadonlySet<EventType> = new Set<EventType>([
  'unsubscribe', 'spamcomplaint', 'bounce', 'outbounce', 'singleoptin', 'confirmedoptin', 'doubleoptin',
]);
export function priorityOf(type: EventType | undefined): number {
  return type && COMPLIANCE_TYPES.has(type) ? 0 : 1;
}

export type CrmEntityType = 'contact' | 'lead';

export interface NormalizedEvent {
  /** Deduplication key: `id:<clientId>:<event id>` or `nk:<sha256 of the natural key>` (R9). */
  key: string;
  /**
   * The natural key (`nk:…`) when `key` is an event id key. The store deduplicates by both, so the
   * webhook copy of an event (with an id) and the reconciliation's copy (REST records have none) are one event.
   */
  naturalKey?: string;
  /** The event id Campaign sent, if any. */
  eventId?: string;
  type: EventType;
  clientId: string;
  mailingId?: string;
  mailId?: string;
  recipientListId?: string;
  recipientId?: string;
  /** Lower-cased email address. */
  email?: string;
  /** ISO 8601 UTC, truncated to whole seconds, e.g. 2026-11-26T10:00:00Z. */
  occurredAt: string;
  linkUrl?: string;
  linkId?: string;
  bounceKind?: 'hard' | 'soft';
  thresholdExceeded?: boolean;
  reason?: string;
  crmEntity?: { type: CrmEntityType; id: string };
  /** Where we learned it: a webhook POST or the reconciliation poller. */
  origin: 'webhook' | 'poll';
}

export type NormalizeResult =
  | { ok: true; event: NormalizedEvent }
  | { ok: false; reason: string };
