/** Engine-independent store logic (service/store/rows.ts): pure, table-driven. */
import { describe, expect, it } from 'vitest';
import { normalizeEvent } from '../../service/ingest/normalize.js';
import {
  checkOutcomes, isStoreId, keyOfStoredDedupKey, lastOutcomePerId, splitGroupResults, storedDedupKey, toNewEventRow, toRequeueRow,
} from '../../service/store/rows.js';
import { incoming, normalized, quarantinedElement } from './store-conformance.js';

describe('toNewEventRow', () => {
  it('maps a normalized event to a pending row with priority, type, lower-cased email and bounce kind', () => {
    const row = toNewEventRow(incoming('k1', 'bounce', { email: 'Mixed@Example.COM', bounceKind: 'soft' }));
    expect(row).toMatchObject({
      clientId: '100', dedupKey: 'k1', state: 'pending', priority: 0, lastError: null, eventType: 'bounce',
      email: 'mixed@example.com', bounceKind: 'soft',
    });
    expect(JSON.parse(row.normalized!)).toMatchObject({ key: 'k1', email: 'Mixed@Example.COM' });
  });

  it.each([
    ['a quarantine reason', quarantinedElement('{"x":1}', 'missing timestamp'), 'missing timestamp'],
    ['a reason even when a normalized form is present', { ...incoming('k1'), quarantineReason: 'client mismatch' }, 'client mismatch'],
    ['neither', { clientId: '100', raw: '{}' }, 'not normalized'],
  ])('quarantines an element with %s, without dedup key', (_label, event, reason) => {
    expect(toNewEventRow(event)).toMatchObject({ state: 'quarantined', dedupKey: null, normalized: null, lastError: reason, eventType: null });
  });

  it('gives opens lower priority than compliance events', () => {
    expect(toNewEventRow(incoming('a', 'open')).priority).toBeGreaterThan(toNewEventRow(incoming('b', 'unsubscribe')).priority);
  });
});

describe('storedDedupKey (the dedup_key column)', () => {
  const natural = (timestamp: string, recipientId = 'r1') => {
    const result = normalizeEvent({ type: 'open', mailingId: 7, recipientId, timestamp }, { pathClientId: '100', origin: 'webhook' });
    if (!result.ok) throw new Error(result.reason);
    return result.event;
  };

  it('puts occurredAt in front of a natural key, and maps back to the key', () => {
    const n = natural('2026-11-26T10:59:59Z');
    expect(n.key).toMatch(/^nk:[0-9a-f]{64}$/);
    expect(storedDedupKey(n)).toBe(`2026-11-26T10:59:59|${n.key}`);
    expect(keyOfStoredDedupKey(storedDedupKey(n))).toBe(n.key);
    expect(toNewEventRow({ clientId: '100', raw: '{}', normalized: n }).dedupKey).toBe(`2026-11-26T10:59:59|${n.key}`);
  });

  it('gives equal column values to equal keys, and different ones to events of another time or recipient', () => {
    expect(storedDedupKey(natural('2026-11-26T10:00:00Z'))).toBe(storedDedupKey(natural('2026-11-26T10:00:00.900Z')));
    expect(storedDedupKey(natural('2026-11-26T10:00:00Z'))).not.toBe(storedDedupKey(natural('2026-11-26T10:00:01Z')));
    expect(storedDedupKey(natural('2026-11-26T10:00:00Z'))).not.toBe(storedDedupKey(natural('2026-11-26T10:00:00Z', 'r2')));
  });

  it('keeps event-id keys and other keys as they are (one event whatever time it comes with)', () => {
    for (const key of ['id:100:evt-1', 'k1', 'id:100:2026-11-26T10:00:00|nk:x']) {
      expect(storedDedupKey({ key, occurredAt: '2026-11-26T10:00:00Z' })).toBe(key);
      expect(keyOfStoredDedupKey(key)).toBe(key);
    }
  });
});

describe('toRequeueRow', () => {
  it('takes the new normalized form, or the new quarantine reason', () => {
    expect(toRequeueRow({ id: '7', normalized: normalized('k2', 'spamcomplaint') })).toMatchObject({ id: '7', dedupKey: 'k2', state: 'pending', priority: 0 });
    expect(toRequeueRow({ id: '7', quarantineReason: 'r' })).toMatchObject({ id: '7', dedupKey: null, state: 'quarantined', lastError: 'r' });
  });
});

describe('isStoreId', () => {
  it.each([['1', true], ['123456789012345678', true], ['0', false], ['-1', false], ['1.5', false], ['abc', false], ['', false], ['1234567890123456789', false]])(
    '%j → %s', (id, ok) => expect(isStoreId(id)).toBe(ok),
  );
});

describe('outcomes', () => {
  it('keeps the last outcome per id and drops ids that cannot exist', () => {
    expect(lastOutcomePerId([
      { id: '1', state: 'pending' }, { id: '2', state: 'applied' }, { id: '1', state: 'applied' }, { id: 'x', state: 'applied' },
    ])).toEqual([{ id: '1', state: 'applied' }, { id: '2', state: 'applied' }]);
  });

  it('rejects unknown states and invalid retry times', () => {
    expect(() => checkOutcomes([{ id: '1', state: 'applied' }, { id: '2', state: 'unmatched', nextAttemptAt: new Date(0) }])).not.toThrow();
    expect(() => checkOutcomes([{ id: '1', state: 'Applied' as never }])).toThrow('unknown event state "Applied"');
    expect(() => checkOutcomes([{ id: '3', state: 'pending', nextAttemptAt: new Date('nope') }])).toThrow('outcome for event 3: nextAttemptAt is not a valid date');
  });
});

describe('splitGroupResults (group commit)', () => {
  const rows = (...keys: (string | null)[]) =>
    keys.map((k) => toNewEventRow(k === null ? quarantinedElement('{}') : incoming(k)));

  it.each([
    ['all new', [rows('a', 'b'), rows('c')], ['a', 'b', 'c'], [[2, 0, 0], [1, 0, 0]]],
    ['a repeat in a later call is its duplicate', [rows('a'), rows('a', 'b')], ['a', 'b'], [[1, 0, 0], [1, 1, 0]]],
    ['a repeat inside one call', [rows('a', 'a')], ['a'], [[1, 1, 0]]],
    ['stored before by someone else', [rows('a'), rows('b')], ['b'], [[0, 1, 0], [1, 0, 0]]],
    ['quarantined elements always count as quarantined', [rows(null, 'a', null)], ['a'], [[1, 0, 2]]],
  ])('%s', (_label, groups, inserted, expected) => {
    expect(splitGroupResults(groups, new Set(inserted)).map((r) => [r.accepted, r.duplicates, r.quarantined])).toEqual(expected);
  });
});
