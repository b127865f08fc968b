/**
 * Ingestion: a webhook body → elements (each with its exact raw JSON text) → IncomingEvent[] →
 * store.append (durably committed before the caller answers). Also replay: re-run the normalizer
 * on stored raw payloads and requeue.
 */
import type { EventType } from '../events.js';
import type { Metrics } from '../metrics.js';
import type { AppendResult, EventState, EventStore, IncomingEvent, StoredEvent } from '../store/types.js';
import { normalizeEvent } from './normalize.js';

export interface RawElement {
  /** The element's JSON text exactly as received. */
  raw: string;
  value: unknown;
}

/** A body the webhook refuses, with the HTTP status to answer (400, or 413 for too many elements). */
export class BodyError extends Error {
  constructor(
    message: string,
    readonly status: 400 | 413 = 400,
  ) {
    super(message);
    this.name = 'BodyError';
  }
}

/**
 * Most elements accepted in one body. A 5 MB body of real events holds at most ~40,000; this bound
 * only stops bodies of millions of tiny junk elements (`[0,0,0,…]`) from blocking the store for minutes.
 */
export const MAX_ELEMENTS = 50_000;

/**
 * Parses a webhook body: a JSON array of events or one event object. Throws BodyError with a
 * one-line reason for anything else. JSON.parse creates `__proto__` as a plain own property (it
 * never changes a prototype), and the normalizer never reads such keys, so hostile keys are inert.
 */
export function parseBody(body: string): RawElement[] {
  const text = body.charCodeAt(0) === 0xfeff ? body.slice(1) : body; // tolerate a UTF-8 BOM
  if (text.trim() === '') throw new BodyError('empty body: expected a JSON array of events or one event object');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const message = (err as Error).message.replace(/\s+/g, ' ');
    throw new BodyError(`invalid JSON: ${message.length > 160 ? `${message.slice(0, 160)}…` : message}`);
  }
  if (Array.isArray(value)) {
    if (value.length > MAX_ELEMENTS) {
      throw new BodyError(`too many events in one request: ${value.length} (at most ${MAX_ELEMENTS}); send smaller batches`, 413);
    }
    const raws = splitTopLevelArray(text);
    if (raws.length !== value.length) throw new Error(`internal: split ${raws.length} elements, parsed ${value.length}`);
    return value.map((v, i) => ({ raw: raws[i]!, value: v }));
  }
  if (typeof value === 'object' && value !== null) return [{ raw: text.trim(), value }];
  throw new BodyError(`body must be a JSON array of events or one event object, got ${value === null ? 'null' : typeof value}`);
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

/** The exact text of each element of a top-level JSON array. `text` must already be valid JSON. */
export function splitTopLevelArray(text: string): string[] {
  const elements: string[] = [];
  const start = text.indexOf('[');
  let depth = 0;
  let elementStart = start + 1;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === BACKSLASH) i++;
      else if (c === QUOTE) inString = false;
      continue;
    }
    if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACKET || c === OPEN_BRACE) depth++;
    else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) {
      depth--;
      if (depth === 0) {
        const last = text.slice(elementStart, i).trim();
        if (last !== '') elements.push(last);
        break;
      }
    } else if (c === COMMA && depth === 1) {
      elements.push(text.slice(elementStart, i).trim());
      elementStart = i + 1;
    }
  }
  return elements;
}

/** Normalizes elements of one client; malformed ones become quarantined IncomingEvents. */
export function toIncomingEvents(elements: RawElement[], clientId: string, origin: 'webhook' | 'poll'): IncomingEvent[] {
  return elements.map(({ raw, value }) => {
    const result = normalizeEvent(value, { pathClientId: clientId, origin });
    return result.ok ? { clientId, raw, normalized: result.event } : { clientId, raw, quarantineReason: result.reason };
  });
}

export interface IngestResult extends AppendResult {
  received: number;
}

/** Stores the events durably and counts them in the metrics. Resolves only after the commit. */
export async function ingestEvents(store: EventStore, events: IncomingEvent[], metrics?: Metrics): Promise<IngestResult> {
  const result = await store.append(events);
  if (metrics) countIngest(metrics, events, result);
  return { received: events.length, ...result };
}

function countIngest(metrics: Metrics, events: IncomingEvent[], result: AppendResult): void {
  // Campaign registers one webhook per event type, so a request is usually of one type; the store
  // reports accepted/duplicates per request, so mixed requests are labelled `mixed`.
  let type: EventType | 'mixed' | undefined;
  for (const e of events) {
    if (!e.normalized) continue;
    if (type === undefined) type = e.normalized.type;
    else if (type !== e.normalized.type) type = 'mixed';
  }
  if (result.accepted > 0) metrics.events.inc({ type: type ?? 'unknown', outcome: 'accepted' }, result.accepted);
  if (result.duplicates > 0) metrics.events.inc({ type: type ?? 'unknown', outcome: 'duplicate' }, result.duplicates);
  if (result.quarantined > 0) metrics.events.inc({ type: 'unknown', outcome: 'quarantined' }, result.quarantined);
}

export type ReplaySelector = { state: EventState } | { ids: string[] };

export interface ReplayResult {
  /** Events looked at. */
  selected: number;
  /** Events that normalized and are pending again. */
  requeued: number;
  /** Events that normalized to a dedup key another stored event holds (marked ignored by the store, R9). */
  duplicates: number;
  /** Events that still fail to normalize (kept quarantined with the current reason). */
  stillQuarantined: number;
}

const REPLAY_PAGE = 1000;
/** Bound on one replay call so an operator mistake cannot pin the process; run it again for more. */
export const MAX_REPLAY = 100_000;

/** Replay (spec §5): re-derive each stored raw payload with the current normalizer, then requeue. */
export async function replayEvents(store: EventStore, selector: ReplaySelector): Promise<ReplayResult> {
  let selected: StoredEvent[];
  if ('ids' in selector) {
    selected = await store.get(selector.ids.slice(0, MAX_REPLAY));
  } else {
    // Collect first: requeue moves events out of the state, which would shift the pages.
    selected = [];
    for (let offset = 0; selected.length < MAX_REPLAY; offset += REPLAY_PAGE) {
      const page = await store.list(selector.state, Math.min(REPLAY_PAGE, MAX_REPLAY - selected.length), offset);
      selected.push(...page);
      if (page.length < REPLAY_PAGE) break;
    }
  }
  let stillQuarantined = 0;
  const items = selected.map((event) => {
    const origin = event.normalized?.origin ?? 'webhook';
    let value: unknown;
    try {
      value = JSON.parse(event.raw);
    } catch {
      stillQuarantined++;
      return { id: event.id, quarantineReason: 'stored raw payload is not valid JSON' };
    }
    const result = normalizeEvent(value, { pathClientId: event.clientId, origin });
    if (result.ok) return { id: event.id, normalized: result.event };
    stillQuarantined++;
    return { id: event.id, quarantineReason: result.reason };
  });
  // store.requeue counts the rows it updated: re-quarantined ones too, replay duplicates not.
  let updated = 0;
  for (let i = 0; i < items.length; i += REPLAY_PAGE) {
    updated += await store.requeue(items.slice(i, i + REPLAY_PAGE));
  }
  const normalized = items.length - stillQuarantined;
  const requeued = Math.max(0, Math.min(normalized, updated - stillQuarantined));
  return { selected: selected.length, requeued, duplicates: normalized - requeued, stillQuarantined };
}
