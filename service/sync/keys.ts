/**
 * Deterministic ids (R9): every Dataverse row the service creates gets a UUID v5 of its natural
 * key, so a retry after a crash addresses the same row and can never create a second one.
 */
import { createHash } from 'node:crypto';
import { v5 as uuidv5 } from 'uuid';
import type { NormalizedEvent } from '../events.js';
import type { PersonRef, ResponseCategory } from './facts.js';

/** The one namespace of every id the service derives (never change it: ids would change). */
export const CRS_ID_NAMESPACE = '6f1c1d2e-8a53-4f5b-9a63-3c1f0b7d2a90';

/** `crs_responsekey` holds at most 100 characters. */
export const RESPONSE_KEY_MAX = 100;

export function deterministicId(naturalKey: string): string {
  return uuidv5(naturalKey, CRS_ID_NAMESPACE);
}

/** R9: UTC, whole seconds, `Z` suffix. Accepts any string Date can parse. */
export function canonicalTime(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new Error(`not a timestamp: ${iso}`);
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

export function personKey(p: PersonRef): string {
  return `${p.type}:${p.id.toLowerCase()}`;
}

/**
 * R10 natural key of a campaign response:
 * `client|mailing|personType:personId|category[|linkUrl]` (aggregate), plus `|ev:<event key>` with
 * event granularity. The full key names the row (UUID v5); what is stored in `crs_responsekey` is the
 * key itself when it fits in 100 characters, else `sha256:` + the hex SHA-256 of it (71 characters).
 */
export function responseNaturalKey(
  event: Pick<NormalizedEvent, 'clientId' | 'mailingId' | 'key'>,
  person: PersonRef,
  category: ResponseCategory,
  linkUrl: string | undefined,
  granularity: 'aggregate' | 'event',
): string {
  const parts = [event.clientId, event.mailingId ?? '', personKey(person), category];
  if (category === 'Click' && linkUrl) parts.push(linkUrl);
  if (granularity === 'event') parts.push(`ev:${event.key}`);
  return parts.join('|');
}

export function storedResponseKey(naturalKey: string): string {
  if (naturalKey.length <= RESPONSE_KEY_MAX) return naturalKey;
  const hash = createHash('sha256').update(naturalKey).digest('hex');
  return `sha256:${hash}`;
}

export function consentId(person: PersonRef, newsletterId: string): string {
  return deterministicId(`${personKey(person)}|${newsletterId.toLowerCase()}`);
}

/** Webhook and poll copies of one unsubscribe share consent, type, time and source: one row. */
export function historyEntryId(consent: string, entryType: 'optin' | 'optout', occurredAt: string, source: string): string {
  return deterministicId(`${consent.toLowerCase()}|${entryType}|${canonicalTime(occurredAt)}|${source}`);
}
