/**
 * The normalizer (spec §4): one raw Campaign event (a parsed webhook element or a REST record) →
 * the canonical NormalizedEvent, or a quarantine reason. Pure and deterministic, so a replay after a
 * mapping fix re-derives exactly what a fresh delivery would.
 *
 * Tolerance rules:
 * - Aliases: the first present name wins; `null` and empty/blank strings count as absent.
 * - Only own properties with the listed names are read: `__proto__`, `constructor` and `prototype`
 *   are never interpreted, and nothing from the input is merged into another object.
 * - Unknown fields are ignored (the raw text keeps them). Values are never cut to Dataverse column
 *   sizes here (the planner does that); each string is only capped at MAX_FIELD_LENGTH to bound memory.
 */
import { hash } from 'node:crypto';
import { EVENT_TYPES } from '../events.js';
import type { CrmEntityType, EventType, NormalizedEvent, NormalizeResult } from '../events.js';

export interface NormalizeContext {
  /** The client id from the URL path (webhook) or the client being polled. */
  pathClientId: string;
  origin: 'webhook' | 'poll';
}

/** The alias table of spec §4. Exported so docs and tests use the same list. */
export const ALIASES = {
  type: ['type', 'eventType', 'event'],
  client: ['mailingGroupId', 'clientId'],
  mailingId: ['mailingId'],
  mailId: ['mailId', 'bmMailId'],
  recipientListId: ['recipientListId'],
  recipientId: ['recipientId', 'bmRecipientId'],
  email: ['email', 'address', 'emailAddress'],
  occurredAt: ['timestamp', 'created', 'eventTime', 'date'],
  link: ['url', 'link', 'linkUrl'],
  linkId: ['linkId'],
  bounceKind: ['category', 'bounceType', 'bounceCategory'],
  thresholdExceeded: ['thresholdExceeded', 'outbounce'],
  reason: ['reason'],
  eventId: ['id', 'eventId'],
} as const;

/** CRM identity pairs, first complete or partial pair present wins. */
export const CRM_ENTITY_ALIASES = [
  ['crmEntityType', 'crmEntityId'],
  ['entity-type', 'entity-id'],
  ['entityType', 'entityId'],
] as const;

/** Type spellings besides the canonical EVENT_TYPES (compared lower-cased). */
const TYPE_SYNONYMS: Record<string, EventType> = { archived: 'archive' };

const BOUNCE_KINDS: Record<string, 'hard' | 'soft'> = {
  hardbounce: 'hard',
  hard: 'hard',
  softbounce: 'soft',
  soft: 'soft',
};

/** Upper bound for any single string kept in the normalized form (the raw text keeps everything). */
export const MAX_FIELD_LENGTH = 8192;
/** Event ids longer than this are hashed in the dedup key (keeps index entries small). */
const MAX_KEY_ID_LENGTH = 200;

const GUID = /^\{?([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\}?$/i;
/** ISO 8601 date or date-time; a space instead of `T` is accepted, the zone is optional (then UTC). */
const ISO_DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d+)?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;
/** `2026-11-26T10:00:00Z` / `2026-11-26T10:00:00.123Z`: what Campaign's REST API and most senders use. */
const CANONICAL_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?Z$/;
/** Epoch values below this are seconds, at or above it milliseconds (1e11 s is the year 5138). */
const EPOCH_SECONDS_LIMIT = 1e11;
const EARLIEST = Date.UTC(2000, 0, 1);
const LATEST = Date.UTC(2100, 0, 1);

class Quarantine extends Error {}

type Obj = Record<string, unknown>;

function isPresent(value: unknown): boolean {
  return value !== undefined && value !== null && !(typeof value === 'string' && value.trim() === '');
}

/** First alias present as an own property: [name, value] or undefined. */
function pick(obj: Obj, names: readonly string[]): [string, unknown] | undefined {
  for (const name of names) {
    if (Object.hasOwn(obj, name) && isPresent(obj[name])) return [name, obj[name]];
  }
  return undefined;
}

function cap(s: string): string {
  return s.length > MAX_FIELD_LENGTH ? s.slice(0, MAX_FIELD_LENGTH) : s;
}

/** A string or finite number, as a trimmed string. */
function scalarText(obj: Obj, names: readonly string[]): string | undefined {
  const found = pick(obj, names);
  if (!found) return undefined;
  const [name, value] = found;
  if (typeof value === 'string') return cap(value.trim());
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'bigint') return String(value);
  throw new Quarantine(`${name} must be a string or number, got ${describe(value)}`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'number') return `the number ${value}`;
  return `a ${typeof value}`;
}

function short(s: string): string {
  const one = s.replace(/\s+/g, ' ');
  return one.length > 60 ? `${one.slice(0, 60)}…` : one;
}

function parseType(obj: Obj): EventType {
  const found = pick(obj, ALIASES.type);
  if (!found) throw new Quarantine('event type missing (type, eventType or event)');
  const [name, value] = found;
  if (typeof value !== 'string') throw new Quarantine(`${name} must be a string, got ${describe(value)}`);
  const lower = value.trim().toLowerCase();
  const type = (EVENT_TYPES as readonly string[]).includes(lower) ? (lower as EventType) : TYPE_SYNONYMS[lower];
  if (!type) throw new Quarantine(`unknown event type "${short(value.trim())}"`);
  return type;
}

/** Digits at [start, start + length) of a string known to hold digits there (CANONICAL_UTC matched). */
function digitsAt(s: string, start: number, length: number): number {
  let n = 0;
  for (let i = start; i < start + length; i++) n = n * 10 + (s.charCodeAt(i) - 48);
  return n;
}

/** `YYYY-MM-DDTHH:MM:SS…Z` names a real instant from 2000 up to (not including) 2100. */
function isValidCanonicalUtc(s: string): boolean {
  const year = digitsAt(s, 0, 4);
  const month = digitsAt(s, 5, 2);
  const day = digitsAt(s, 8, 2);
  if (year < 2000 || year >= 2100 || month < 1 || month > 12 || day < 1) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const daysInMonth = month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  return day <= daysInMonth && digitsAt(s, 11, 2) <= 23 && digitsAt(s, 14, 2) <= 59 && digitsAt(s, 17, 2) <= 59;
}

/** ISO 8601 or epoch milliseconds/seconds → `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds). */
export function parseOccurredAt(value: unknown): string | { error: string } {
  // Fast path for the common canonical form: check the calendar fields by arithmetic (Date.parse would
  // roll 2026-02-31 over to March) and keep the text. Measured at a tenth of the Date round trip, which
  // was the largest single cost of normalizing a batch. Anything else takes the general path below,
  // which also words the errors.
  if (typeof value === 'string' && CANONICAL_UTC.test(value) && isValidCanonicalUtc(value)) return `${value.slice(0, 19)}Z`;
  let ms: number;
  if (typeof value === 'number' || (typeof value === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(value))) {
    const n = Number(value);
    if (!Number.isFinite(n)) return { error: 'is not a valid time' };
    ms = n < EPOCH_SECONDS_LIMIT ? n * 1000 : n;
  } else if (typeof value === 'string') {
    const m = ISO_DATE_TIME.exec(value.trim());
    if (!m) return { error: `"${short(value)}" is not ISO 8601 or epoch time` };
    const [, y, mo, d, h = '00', mi = '00', s = '00', frac = '', zone = 'Z'] = m;
    let offset = zone.toUpperCase();
    if (offset !== 'Z') {
      const digits = offset.slice(1).replace(':', '');
      offset = `${offset[0]}${digits.slice(0, 2)}:${digits.slice(2, 4) || '00'}`;
    }
    // Check the calendar fields ourselves: Date.parse would roll 2026-02-31 over to March.
    const calendar = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
    const validDate = calendar.getUTCMonth() === Number(mo) - 1 && calendar.getUTCDate() === Number(d);
    const validTime = Number(h) <= 23 && Number(mi) <= 59 && Number(s) <= 59;
    if (!validDate || !validTime) return { error: `"${short(value)}" is not a valid date` };
    ms = Date.parse(`${y}-${mo}-${d}T${h}:${mi}:${s}${frac.slice(0, 4)}${offset}`);
    if (Number.isNaN(ms)) return { error: `"${short(value)}" is not a valid date` };
  } else {
    return { error: `must be ISO 8601 text or epoch time, got ${describe(value)}` };
  }
  if (!(ms >= EARLIEST && ms < LATEST)) return { error: 'is outside 2000–2099' };
  const truncated = Math.floor(ms / 1000) * 1000;
  return new Date(truncated).toISOString().replace('.000Z', 'Z');
}

function parseBool(obj: Obj, names: readonly string[]): boolean | undefined {
  const found = pick(obj, names);
  if (!found) return undefined;
  const [name, value] = found;
  if (typeof value === 'boolean') return value;
  if (value === 1 || value === 0) return value === 1;
  if (typeof value === 'string') {
    const v = value.trim().toLowerCase();
    if (v === 'true' || v === '1' || v === 'yes') return true;
    if (v === 'false' || v === '0' || v === 'no') return false;
  }
  throw new Quarantine(`${name} must be true or false, got ${typeof value === 'string' ? `"${short(value)}"` : describe(value)}`);
}

function parseCrmEntity(obj: Obj): { type: CrmEntityType; id: string } | undefined {
  for (const [typeName, idName] of CRM_ENTITY_ALIASES) {
    const hasType = Object.hasOwn(obj, typeName) && isPresent(obj[typeName]);
    const hasId = Object.hasOwn(obj, idName) && isPresent(obj[idName]);
    if (!hasType && !hasId) continue;
    if (!hasType) throw new Quarantine(`${idName} given without ${typeName}`);
    if (!hasId) throw new Quarantine(`${typeName} given without ${idName}`);
    const type = obj[typeName];
    const id = obj[idName];
    const lowerType = typeof type === 'string' ? type.trim().toLowerCase() : undefined;
    if (lowerType !== 'contact' && lowerType !== 'lead') {
      throw new Quarantine(`${typeName} must be contact or lead, got ${typeof type === 'string' ? `"${short(type)}"` : describe(type)}`);
    }
    const guid = typeof id === 'string' ? GUID.exec(id.trim()) : null;
    if (!guid) throw new Quarantine(`${idName} must be a GUID, got ${typeof id === 'string' ? `"${short(id)}"` : describe(id)}`);
    return { type: lowerType, id: guid[1]!.toLowerCase() };
  }
  return undefined;
}

/** The fields a dedup key is made of. */
export interface KeyFields {
  eventId?: string;
  clientId: string;
  type: EventType;
  mailingId?: string;
  recipientId?: string;
  email?: string;
  occurredAt: string;
  linkUrl?: string;
}

/** R9: `id:<clientId>:<id>` when Campaign sent an id, else the natural key. */
export function dedupKey(e: KeyFields): string {
  if (e.eventId !== undefined) {
    const id = e.eventId.length > MAX_KEY_ID_LENGTH ? `sha256-${sha256(e.eventId)}` : e.eventId;
    return `id:${e.clientId}:${id}`;
  }
  return naturalKey(e);
}

/** `nk:` + sha256 of client, type, mailing, recipient, time and link (spec §4, last row). */
export function naturalKey(e: KeyFields): string {
  // The recipient falls back to the email so a webhook carrying only `email` and a REST record
  // carrying the address as recipientId give the same key.
  const recipient = (e.recipientId ?? e.email ?? '').toLowerCase();
  const natural = JSON.stringify([e.clientId, e.type, e.mailingId ?? '', recipient, e.occurredAt, e.linkUrl ?? '']);
  return `nk:${sha256(natural)}`;
}

function noneIfZero(id: string | undefined): string | undefined {
  return id === undefined || /^0+$/.test(id) ? undefined : id;
}

function sha256(text: string): string {
  return hash('sha256', text, 'hex');
}

export function normalizeEvent(raw: unknown, ctx: NormalizeContext): NormalizeResult {
  try {
    return { ok: true, event: normalizeOrThrow(raw, ctx) };
  } catch (err) {
    if (err instanceof Quarantine) return { ok: false, reason: err.message };
    throw err;
  }
}

function normalizeOrThrow(raw: unknown, ctx: NormalizeContext): NormalizedEvent {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new Quarantine(`event must be a JSON object, got ${describe(raw)}`);
  }
  const obj = raw as Obj;
  const type = parseType(obj);

  const bodyClient = scalarText(obj, ALIASES.client);
  const sameClient = (a: string, b: string) => a === b || (/^\d+$/.test(a) && /^\d+$/.test(b) && a.replace(/^0+(?=\d)/, '') === b.replace(/^0+(?=\d)/, ''));
  if (bodyClient !== undefined && !sameClient(bodyClient, ctx.pathClientId)) {
    throw new Quarantine(`client "${short(bodyClient)}" in the event differs from client ${ctx.pathClientId} of the URL`);
  }

  const occurredRaw = pick(obj, ALIASES.occurredAt);
  if (!occurredRaw) throw new Quarantine('time missing (timestamp, created, eventTime or date)');
  const occurredAt = parseOccurredAt(occurredRaw[1]);
  if (typeof occurredAt !== 'string') throw new Quarantine(`${occurredRaw[0]} ${occurredAt.error}`);

  // Campaign writes 0 for "no mailing / no list" (REST records do too; mapping.ts drops them the same way).
  const mailingId = noneIfZero(scalarText(obj, ALIASES.mailingId));
  const mailId = scalarText(obj, ALIASES.mailId);
  const recipientListId = noneIfZero(scalarText(obj, ALIASES.recipientListId));
  const recipientId = scalarText(obj, ALIASES.recipientId);

  // The first alias that holds an address, else the recipient id when it is one. A value that is no
  // address (a postal address, an IP) is not guessed around but passed over: it stays in the raw payload,
  // and quarantining the event for it would hold back an unsubscribe that the recipient id identifies.
  let email: string | undefined;
  for (const name of ALIASES.email) {
    const value = Object.hasOwn(obj, name) ? obj[name] : undefined;
    if (typeof value === 'string' && value.includes('@')) {
      email = cap(value.trim().toLowerCase());
      break;
    }
  }
  if (email === undefined && recipientId?.includes('@')) email = recipientId.toLowerCase();

  const crmEntity = parseCrmEntity(obj);
  if (recipientId === undefined && email === undefined && crmEntity === undefined) {
    throw new Quarantine('recipient missing (recipientId, email or CRM entity)');
  }

  const linkUrl = scalarText(obj, ALIASES.link);
  const linkId = scalarText(obj, ALIASES.linkId);

  let bounceKind: 'hard' | 'soft' | undefined;
  const kindFound = pick(obj, ALIASES.bounceKind);
  if (kindFound) {
    const [name, value] = kindFound;
    const kind = typeof value === 'string' ? BOUNCE_KINDS[value.trim().toLowerCase().replace(/[\s_-]/g, '')] : undefined;
    // `category` is a generic name: only a bounce must carry a recognizable kind.
    if (kind) bounceKind = kind;
    else if (type === 'bounce') {
      throw new Quarantine(`${name} must be hardbounce or softbounce, got ${typeof value === 'string' ? `"${short(value)}"` : describe(value)}`);
    }
  }

  const thresholdExceeded = parseBool(obj, ALIASES.thresholdExceeded);
  const reason = scalarText(obj, ALIASES.reason);
  const eventId = scalarText(obj, ALIASES.eventId);

  const keyFields: KeyFields = { eventId, clientId: ctx.pathClientId, type, mailingId, recipientId, email, occurredAt, linkUrl };
  const event: NormalizedEvent = {
    key: dedupKey(keyFields),
    type,
    clientId: ctx.pathClientId,
    occurredAt,
    origin: ctx.origin,
  };
  if (eventId !== undefined) {
    event.eventId = eventId;
    event.naturalKey = naturalKey(keyFields);
  }
  if (mailingId !== undefined) event.mailingId = mailingId;
  if (mailId !== undefined) event.mailId = mailId;
  if (recipientListId !== undefined) event.recipientListId = recipientListId;
  if (recipientId !== undefined) event.recipientId = recipientId;
  if (email !== undefined) event.email = email;
  if (linkUrl !== undefined) event.linkUrl = linkUrl;
  if (linkId !== undefined) event.linkId = linkId;
  if (bounceKind !== undefined) event.bounceKind = bounceKind;
  if (thresholdExceeded !== undefined) event.thresholdExceeded = thresholdExceeded;
  if (reason !== undefined) event.reason = reason;
  if (crmEntity !== undefined) event.crmEntity = crmEntity;
  return event;
}
