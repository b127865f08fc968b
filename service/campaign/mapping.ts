/**
 * REST records → raw events with the spec §4 alias names, so the reconciliation feeds the same
 * normalizer and store as webhooks (R9: the same unsubscribe seen by both is one event — same type,
 * client, mailing, recipient and second). Pure.
 */
import type { RestResponse, RestUnsubscribe } from './schemas.js';

export type RawEvent = Record<string, unknown>;

/** Marks where a raw event came from (kept in the raw payload, ignored by the normalizer). */
export const REST_SOURCE = 'campaign-rest';

/** `0` / empty ids mean "none" in REST records (e.g. an unsubscribe without mailing reference). */
function id(value: string | undefined): string | undefined {
  return value === undefined || value === '' || value === '0' ? undefined : value;
}

function put(target: RawEvent, key: string, value: unknown): void {
  if (value !== undefined) target[key] = value;
}

export function unsubscribeToRaw(u: RestUnsubscribe): RawEvent {
  const e: RawEvent = { type: 'unsubscribe', recipientId: u.recipientId, timestamp: u.created };
  put(e, 'mailingId', id(u.mailingId));
  put(e, 'recipientListId', id(u.recipientListId));
  put(e, 'reason', u.reason);
  put(e, 'mediaType', u.mediaType);
  e.source = `${REST_SOURCE}:unsubscribes`;
  return e;
}

/**
 * REST response categories → event types: autoresponder → autoresponder; `unknown` (inbound mail that
 * is neither bounce nor autoresponder) → reply (R11); hard/soft bounce → bounce with its kind.
 */
export function responseEventType(category: string): 'autoresponder' | 'reply' | 'bounce' | undefined {
  switch (category.toLowerCase()) {
    case 'autoresponder':
      return 'autoresponder';
    case 'unknown':
      return 'reply';
    case 'hardbounce':
    case 'softbounce':
      return 'bounce';
    default:
      return undefined;
  }
}

/** `category` is the category we asked for (records may omit theirs). */
export function responseToRaw(r: RestResponse, category: string): RawEvent | undefined {
  const type = responseEventType(category);
  if (!type) return undefined;
  const e: RawEvent = { type, recipientId: r.recipientId, timestamp: r.created };
  put(e, 'mailingId', id(r.mailingId));
  put(e, 'mailId', r.mailId);
  put(e, 'recipientListId', id(r.recipientListId));
  // Only a bounce carries `category` (the normalizer reads it as the bounce kind).
  if (type === 'bounce') e.category = category.toLowerCase();
  else e.restCategory = category.toLowerCase();
  put(e, 'subject', r.subject);
  put(e, 'ruleName', r.ruleName);
  e.source = `${REST_SOURCE}:responses`;
  return e;
}

/**
 * Campaign says the address is over its bounce threshold (R5). `occurredAt` is the latest bounce
 * that led us to ask, so a repeated finding yields the same event key.
 */
export function outbounceRaw(recipientId: string, occurredAt: string): RawEvent {
  return { type: 'outbounce', recipientId, timestamp: occurredAt, thresholdExceeded: true, source: `${REST_SOURCE}:thresholdExceeded` };
}

/** Epoch ms of a REST date-time (zone-less values are UTC, like the normalizer reads them); NaN if unreadable. */
export function restTime(value: string): number {
  const v = value.trim();
  const zoned = /([zZ]|[+-]\d{2}:?\d{2})$/.test(v) || !/\d{2}:\d{2}/.test(v) ? v : `${v}Z`;
  return Date.parse(zoned.replace(' ', 'T'));
}
