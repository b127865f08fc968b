/** service/store/row-frames.ts: the HTTP thread → SQLite writer hand-off keeps every row exactly. */
import { describe, expect, it } from 'vitest';
import { decodeRows, encodeRows } from '../../service/store/row-frames.js';
import { toNewEventRow, type NewEventRow } from '../../service/store/rows.js';
import { incoming, quarantinedElement } from './store-conformance.js';

/** Strings that would break a naive framing: separators, digits, escapes, astral characters, empties. */
const NASTY = ['', '~', ':', '12:', '|', '3|x', '0', '\\"', '"}]', 'a\u0000b', '\u2028\n\t', 'Ünïcödé ✓', '😀 surrogate pair 😀', 'x'.repeat(10_000)];

function row(overrides: Partial<NewEventRow>): NewEventRow {
  return { ...toNewEventRow(incoming('k1', 'click', { email: 'a@example.com' })), ...overrides };
}

describe('encodeRows / decodeRows', () => {
  it('round-trips real rows: pending, quarantined, bounce with kind', () => {
    const rows = [
      toNewEventRow(incoming('k1', 'open')),
      toNewEventRow(quarantinedElement('{"type":', 'invalid JSON')),
      toNewEventRow(incoming('k2', 'bounce', { email: 'B@Example.com', bounceKind: 'hard' })),
    ];
    expect(decodeRows(encodeRows(rows))).toEqual(rows);
  });

  it.each(NASTY.map((s) => [JSON.stringify(s).slice(0, 40), s]))('keeps %s exactly in every text field', (_label, text) => {
    const rows = [row({ clientId: text, dedupKey: text, raw: text, normalized: text, lastError: text, eventType: text, email: text, bounceKind: text })];
    const decoded = decodeRows(encodeRows(rows));
    expect(decoded).toEqual(rows);
  });

  it('keeps nulls apart from the text "~" and from empty strings', () => {
    const rows = [row({ dedupKey: null, normalized: null, email: '~', bounceKind: '' }), row({ lastError: null, eventType: null })];
    expect(decodeRows(encodeRows(rows))).toEqual(rows);
  });

  it('keeps priorities as numbers, and an empty list as an empty list', () => {
    expect(decodeRows(encodeRows([row({ priority: 0 }), row({ priority: 42 })])).map((r) => r.priority)).toEqual([0, 42]);
    expect(decodeRows(encodeRows([]))).toEqual([]);
  });

  it('refuses a damaged frame instead of inventing rows', () => {
    const frame = encodeRows([row({})]);
    expect(() => decodeRows(frame.slice(0, -3))).toThrow(/malformed row frame/);
    expect(() => decodeRows(`${frame}x`)).toThrow(/malformed row frame/);
    expect(() => decodeRows(frame.replace('|', '|x'))).toThrow(/malformed row frame/);
  });
});
