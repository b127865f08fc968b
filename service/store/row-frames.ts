/**
 * New event rows as one string, for the hand-off from the HTTP thread to the SQLite writer thread.
 *
 * Why not JSON or the structured clone: a row carries the event's normalized form as JSON text, so
 * JSON would escape that text on one thread and unescape it on the other, and the writer would then
 * parse and re-stringify it; the structured clone copies every property of every object. Measured on
 * single-event webhooks, that hand-off was the largest cost of both threads after HTTP itself. Here
 * each field is written as `<length>:<text>` (length in UTF-16 code units, as String#length counts),
 * `~` for null: nothing is escaped, and reading is a series of slices.
 */
import type { NewEventRow } from './rows.js';

const COLON = 0x3a;
const TILDE = 0x7e;

function field(value: string | number | null): string {
  if (value === null) return '~';
  const text = typeof value === 'number' ? String(value) : value;
  return `${text.length}:${text}`;
}

/** Fields in this order: clientId, dedupKey, idKey, raw, normalized, state, priority, lastError, eventType, email, bounceKind. */
export function encodeRows(rows: readonly NewEventRow[]): string {
  // Array join, not `+=`: concatenation builds a rope that postMessage must flatten while it copies,
  // which measured 3-5x slower to send than the flat string join makes.
  const parts: string[] = [`${rows.length}|`];
  for (const r of rows) {
    parts.push(
      field(r.clientId), field(r.dedupKey), field(r.idKey), field(r.raw), field(r.normalized), field(r.state), field(r.priority),
      field(r.lastError), field(r.eventType), field(r.email), field(r.bounceKind),
    );
  }
  return parts.join('');
}

/** Inverse of encodeRows. Throws on a malformed frame (a bug, never input: both ends are ours). */
export function decodeRows(frame: string): NewEventRow[] {
  let at = frame.indexOf('|');
  const count = at > 0 ? Number(frame.slice(0, at)) : NaN;
  if (!Number.isInteger(count)) throw new Error('malformed row frame: no row count');
  at++;
  const next = (): string | null => {
    if (frame.charCodeAt(at) === TILDE) {
      at++;
      return null;
    }
    let length = 0;
    for (let c = frame.charCodeAt(at); c !== COLON; c = frame.charCodeAt(++at)) {
      // Past the end charCodeAt gives NaN, which is no digit either.
      if (!(c >= 0x30 && c <= 0x39)) throw new Error(`malformed row frame at ${at}`);
      length = length * 10 + (c - 0x30);
    }
    if (at + 1 + length > frame.length) throw new Error(`malformed row frame: field at ${at} runs past the end`);
    const text = frame.slice(at + 1, at + 1 + length);
    at += 1 + length;
    return text;
  };
  const rows: NewEventRow[] = [];
  for (let i = 0; i < count; i++) {
    const clientId = next();
    const dedupKey = next();
    const idKey = next();
    const raw = next();
    const normalized = next();
    const state = next();
    const priority = next();
    const lastError = next();
    const eventType = next();
    const email = next();
    const bounceKind = next();
    if (clientId === null || raw === null || priority === null || (state !== 'pending' && state !== 'quarantined')) {
      throw new Error(`malformed row frame: row ${i}`);
    }
    rows.push({ clientId, dedupKey, idKey, raw, normalized, state, priority: Number(priority), lastError, eventType, email, bounceKind });
  }
  if (at !== frame.length) throw new Error(`malformed row frame: ${frame.length - at} characters after the last row`);
  return rows;
}
