/**
 * The event store conformance suite: one set of behaviours, run against every engine
 * (store-sqlite.test.ts, store-postgres.test.ts). Time is a fake clock, so lease expiry and
 * retry times are exact, not waited for.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { priorityOf } from '../../service/events.js';
import type { EventType, NormalizedEvent } from '../../service/events.js';
import { EVENT_STATES } from '../../service/store/types.js';
import type { EventStore, IncomingEvent } from '../../service/store/types.js';

export class FakeClock {
  private t = Date.parse('2026-11-26T10:00:00.000Z');
  readonly now = (): Date => new Date(this.t);
  advance(ms: number): void {
    this.t += ms;
  }
  iso(): string {
    return new Date(this.t).toISOString();
  }
}

export interface EngineHarness {
  /** Opens a fresh, empty, migrated store using `clock`. */
  open(clock: FakeClock): Promise<EventStore>;
  /** Opens a second handle on the SAME store as the last open() (another connection / process view). */
  reopen(clock: FakeClock): Promise<EventStore>;
  /** Versions recorded in crs_schema_migrations of the last open()ed store. */
  migrationVersions(): Promise<number[]>;
  /** The engine's migration versions, in order (each must be recorded exactly once). */
  schemaVersions: number[];
}

export function normalized(key: string, type: EventType = 'open', extra: Partial<NormalizedEvent> = {}): NormalizedEvent {
  return {
    key, type, clientId: '100', occurredAt: '2026-11-26T09:00:00Z', origin: 'webhook',
    recipientId: 'a@example.com', email: 'a@example.com', mailingId: '42', ...extra,
  };
}

export function incoming(key: string, type: EventType = 'open', extra: Partial<NormalizedEvent> = {}): IncomingEvent {
  const n = normalized(key, type, extra);
  return { clientId: n.clientId, raw: JSON.stringify({ id: key, type, email: n.email }), normalized: n };
}

export function quarantinedElement(raw: string, reason = 'missing timestamp'): IncomingEvent {
  return { clientId: '100', raw, quarantineReason: reason };
}

export function describeEventStoreConformance(engine: 'sqlite' | 'postgres', harness: EngineHarness): void {
  describe(`EventStore conformance: ${engine}`, () => {
    const opened: EventStore[] = [];
    let clock: FakeClock;

    async function fresh(): Promise<EventStore> {
      clock = new FakeClock();
      const store = await harness.open(clock);
      opened.push(store);
      return store;
    }
    async function second(): Promise<EventStore> {
      const store = await harness.reopen(clock);
      opened.push(store);
      return store;
    }

    afterEach(async () => {
      for (const s of opened.splice(0)) await s.close();
    });

    describe('migrate', () => {
      it('reports its engine and records each schema version once, however often it runs', async () => {
        const store = await fresh();
        expect(store.engine).toBe(engine);
        await store.append([incoming('k1')]);
        await store.migrate();
        await Promise.all([store.migrate(), store.migrate()]);
        const other = await second(); // opening runs migrate again
        await other.migrate();
        expect(await harness.migrationVersions()).toEqual(harness.schemaVersions);
        expect((await store.counts()).pending).toBe(1);
      });
    });

    describe('append', () => {
      it('returns an empty result for no events', async () => {
        const store = await fresh();
        expect(await store.append([])).toEqual({ accepted: 0, duplicates: 0, quarantined: 0 });
        expect((await store.counts()).received).toBe(0);
      });

      it('counts accepted, duplicates within one call and quarantined elements', async () => {
        const store = await fresh();
        const result = await store.append([
          incoming('k1'), incoming('k2', 'unsubscribe'), incoming('k1'), quarantinedElement('{"x":1}'), incoming('k2', 'unsubscribe'),
        ]);
        expect(result).toEqual({ accepted: 2, duplicates: 2, quarantined: 1 });
        expect(await store.counts()).toEqual({ received: 3, pending: 2, applied: 0, ignored: 0, unmatched: 0, quarantined: 1, deadLetter: 0 });
      });

      it('counts a key already stored by an earlier call as duplicate, also when calls run concurrently', async () => {
        const store = await fresh();
        expect(await store.append([incoming('k1')])).toEqual({ accepted: 1, duplicates: 0, quarantined: 0 });
        expect(await store.append([incoming('k1'), incoming('k3')])).toEqual({ accepted: 1, duplicates: 1, quarantined: 0 });
        const [a, b] = await Promise.all([store.append([incoming('k9'), incoming('k1')]), store.append([incoming('k9')])]);
        expect(a.accepted + b.accepted).toBe(1);
        expect(a.duplicates + b.duplicates).toBe(2);
        expect((await store.counts()).received).toBe(3);
      });

      it('stores every quarantined element, even the same raw text twice', async () => {
        const store = await fresh();
        await store.append([quarantinedElement('{"a":1}', 'first')]);
        await store.append([quarantinedElement('{"a":1}', 'second')]);
        const list = await store.list('quarantined', 10);
        expect(list.map((e) => [e.raw, e.lastError, e.dedupKey, e.normalized])).toEqual([
          ['{"a":1}', 'second', null, null],
          ['{"a":1}', 'first', null, null],
        ]);
      });

      it('keeps the raw text exactly and stores every documented field', async () => {
        const store = await fresh();
        const raw = ' {"type":"OPEN",  "email":"Ä@Example.com", "note":"日本\\u0000"} ';
        const n = normalized('k1', 'bounce', { email: 'ä@example.com', bounceKind: 'hard', reason: 'x\u0000y' });
        await store.append([{ clientId: '100', raw, normalized: n }]);
        const [e] = await store.list('pending', 1);
        expect(e).toMatchObject({
          clientId: '100', dedupKey: 'k1', raw, normalized: n, state: 'pending', priority: priorityOf('bounce'),
          attempts: 0, lastError: null, receivedAt: clock.iso(), nextAttemptAt: clock.iso(), firstUnmatchedAt: null,
          eventType: 'bounce', appliedAt: null, leaseOwner: null, leaseExpiresAt: null,
        });
        expect(e!.id).toMatch(/^[1-9][0-9]*$/);
      });

      it('groups appends issued in the same tick into one transaction and still answers each caller separately', async () => {
        const store = await fresh();
        const results = await Promise.all(Array.from({ length: 50 }, (_, i) => store.append([incoming(`k${i % 25}`), incoming(`own${i}`)])));
        expect(results.slice(0, 25).every((r) => r.accepted === 2 && r.duplicates === 0)).toBe(true);
        expect(results.slice(25).every((r) => r.accepted === 1 && r.duplicates === 1)).toBe(true);
        expect((await store.counts()).received).toBe(75);
      });

      it('is one event whether it comes with an event id (webhook) or without (REST record), in either order (R9)', async () => {
        const store = await fresh();
        const withId = (id: string, naturalKey: string, extra: Partial<NormalizedEvent> = {}) =>
          incoming(`id:100:${id}`, 'unsubscribe', { eventId: id, naturalKey, ...extra });
        const dup = { accepted: 0, duplicates: 1, quarantined: 0 };
        expect(await store.append([withId('w1', 'nk:same')])).toEqual({ accepted: 1, duplicates: 0, quarantined: 0 });
        expect(await store.append([incoming('nk:same', 'unsubscribe')])).toEqual(dup); // the reconciliation's copy
        expect(await store.append([incoming('nk:other', 'unsubscribe')])).toEqual({ accepted: 1, duplicates: 0, quarantined: 0 });
        expect(await store.append([withId('w2', 'nk:other')])).toEqual(dup); // the webhook copy arriving second
        // The same id again with another time (so another natural key): still the same event.
        expect(await store.append([withId('w1', 'nk:later', { occurredAt: '2026-11-26T09:05:00Z' })])).toEqual(dup);
        // Both copies in one call, and (below) in two concurrent calls that share one group commit.
        expect(await store.append([withId('w3', 'nk:third'), incoming('nk:third', 'unsubscribe')])).toEqual({ accepted: 1, duplicates: 1, quarantined: 0 });
        const [a, b] = await Promise.all([store.append([incoming('nk:fourth', 'unsubscribe')]), store.append([withId('w4', 'nk:fourth')])]);
        expect([a, b]).toEqual([{ accepted: 1, duplicates: 0, quarantined: 0 }, dup]);
        const stored = await store.list('pending', 10);
        expect(stored.map((e) => e.dedupKey).sort()).toEqual(['id:100:w1', 'id:100:w3', 'nk:fourth', 'nk:other']);
      });

      it('fails only the append whose transaction fails when a group cannot be committed', async () => {
        const store = await fresh();
        const bad = { clientId: null as unknown as string, raw: '{}', quarantineReason: 'x' }; // violates NOT NULL
        const [ok, failed] = await Promise.allSettled([store.append([incoming('k1')]), store.append([bad])]);
        expect(ok).toEqual({ status: 'fulfilled', value: { accepted: 1, duplicates: 0, quarantined: 0 } });
        expect(failed.status).toBe('rejected');
        expect((await store.counts()).received).toBe(1);
      });

      it('has committed when the promise resolves: another connection sees the events', async () => {
        const store = await fresh();
        await store.append([incoming('k1'), quarantinedElement('{')]);
        const other = await second();
        expect((await other.counts()).received).toBe(2);
      });
    });

    describe('lease', () => {
      it('hands out compliance events first, then oldest first, up to the limit, counting attempts', async () => {
        const store = await fresh();
        await store.append([incoming('o1', 'open'), incoming('c1', 'click'), incoming('u1', 'unsubscribe'), incoming('o2', 'open'),
          incoming('b1', 'bounce'), quarantinedElement('{}')]);
        const leased = await store.lease({ owner: 'w1', limit: 3, leaseMs: 30_000 });
        expect(leased.map((e) => e.dedupKey)).toEqual(['u1', 'b1', 'o1']);
        const expiry = new Date(clock.now().getTime() + 30_000).toISOString();
        for (const e of leased) expect(e).toMatchObject({ attempts: 1, leaseOwner: 'w1', leaseExpiresAt: expiry });
        const rest = await store.lease({ owner: 'w2', limit: 10, leaseMs: 30_000 });
        expect(rest.map((e) => e.dedupKey)).toEqual(['c1', 'o2']); // never the quarantined element, never w1's
        expect(await store.lease({ owner: 'w3', limit: 10, leaseMs: 30_000 })).toEqual([]);
        expect(await store.lease({ owner: 'w3', limit: 0, leaseMs: 30_000 })).toEqual([]);
      });

      it('hands an event out again only after its lease expired, with attempts counted', async () => {
        const store = await fresh();
        await store.append([incoming('k1')]);
        await store.lease({ owner: 'w1', limit: 10, leaseMs: 1_000 });
        clock.advance(999);
        expect(await store.lease({ owner: 'w2', limit: 10, leaseMs: 1_000 })).toEqual([]);
        clock.advance(1);
        const again = await store.lease({ owner: 'w2', limit: 10, leaseMs: 1_000 });
        expect(again.map((e) => [e.dedupKey, e.leaseOwner, e.attempts])).toEqual([['k1', 'w2', 2]]);
      });

      it('leases unmatched and retried events only when their next attempt is due', async () => {
        const store = await fresh();
        await store.append([incoming('u'), incoming('p')]);
        const [u, p] = await store.lease({ owner: 'w1', limit: 10, leaseMs: 60_000 });
        const inOneHour = new Date(clock.now().getTime() + 3_600_000);
        const inTwoHours = new Date(clock.now().getTime() + 7_200_000);
        await store.complete('w1', [
          { id: u!.id, state: 'unmatched', error: 'no contact or lead', nextAttemptAt: inOneHour },
          { id: p!.id, state: 'pending', error: 'HTTP 503', nextAttemptAt: inTwoHours },
        ]);
        expect(await store.lease({ owner: 'w1', limit: 10, leaseMs: 60_000 })).toEqual([]);
        clock.advance(3_600_000);
        const due = await store.lease({ owner: 'w1', limit: 10, leaseMs: 60_000 });
        expect(due.map((e) => [e.dedupKey, e.state, e.attempts])).toEqual([['u', 'unmatched', 2]]);
        await store.complete('w1', [{ id: due[0]!.id, state: 'applied' }]);
        clock.advance(3_600_000);
        expect((await store.lease({ owner: 'w1', limit: 10, leaseMs: 60_000 })).map((e) => [e.dedupKey, e.state, e.lastError]))
          .toEqual([['p', 'pending', 'HTTP 503']]);
      });

      it('merges retries that came due with the backlog by priority, then age', async () => {
        const store = await fresh();
        await store.append([incoming('late-open'), incoming('waiting-open')]);
        const first = await store.lease({ owner: 'w1', limit: 2, leaseMs: 60_000 });
        await store.complete('w1', first.map((e) => ({
          id: e.id, state: 'unmatched' as const,
          nextAttemptAt: new Date(clock.now().getTime() + (e.dedupKey === 'late-open' ? 60_000 : 86_400_000)),
        })));
        await store.append([incoming('new-open'), incoming('new-unsubscribe', 'unsubscribe')]);
        clock.advance(60_000);
        const leased = await store.lease({ owner: 'w1', limit: 10, leaseMs: 60_000 });
        expect(leased.map((e) => e.dedupKey)).toEqual(['new-unsubscribe', 'late-open', 'new-open']);
        expect(leased.map((e) => e.state)).toEqual(['pending', 'unmatched', 'pending']);
      });

      it('never hands one event to two concurrent callers', async () => {
        const store = await fresh();
        await store.append(Array.from({ length: 60 }, (_, i) => incoming(`k${i}`, i % 3 === 0 ? 'unsubscribe' : 'open')));
        const other = await second();
        const batches = await Promise.all([
          store.lease({ owner: 'a', limit: 20, leaseMs: 60_000 }), other.lease({ owner: 'b', limit: 20, leaseMs: 60_000 }),
          store.lease({ owner: 'c', limit: 20, leaseMs: 60_000 }), other.lease({ owner: 'd', limit: 20, leaseMs: 60_000 }),
        ]);
        const ids = batches.flat().map((e) => e.id);
        expect(ids).toHaveLength(60);
        expect(new Set(ids).size).toBe(60);
      });
    });

    describe('complete', () => {
      it('records each outcome state, frees the lease and returns how many were recorded', async () => {
        const store = await fresh();
        await store.append(['a', 'i', 'd', 'q'].map((k) => incoming(k)));
        const leased = await store.lease({ owner: 'w1', limit: 10, leaseMs: 60_000 });
        const id = (k: string) => leased.find((e) => e.dedupKey === k)!.id;
        clock.advance(5_000);
        const n = await store.complete('w1', [
          { id: id('a'), state: 'applied' },
          { id: id('i'), state: 'ignored', error: 'not a campaign-management mailing' },
          { id: id('d'), state: 'deadLetter', error: 'unmatched for 30 days' },
          { id: id('q'), state: 'quarantined', error: 'mapping rejected' },
        ]);
        expect(n).toBe(4);
        const byKey = new Map((await store.get(leased.map((e) => e.id))).map((e) => [e.dedupKey, e]));
        expect(byKey.get('a')).toMatchObject({ state: 'applied', appliedAt: clock.iso(), lastError: null, leaseOwner: null, leaseExpiresAt: null });
        expect(byKey.get('i')).toMatchObject({ state: 'ignored', lastError: 'not a campaign-management mailing', appliedAt: null, leaseOwner: null });
        expect(byKey.get('d')).toMatchObject({ state: 'deadLetter', lastError: 'unmatched for 30 days' });
        expect(byKey.get('q')).toMatchObject({ state: 'quarantined', lastError: 'mapping rejected' });
        expect(await store.counts()).toMatchObject({ received: 4, pending: 0, applied: 1, ignored: 1, deadLetter: 1, quarantined: 1 });
        expect(await store.lease({ owner: 'w2', limit: 10, leaseMs: 60_000 })).toEqual([]);
      });

      it('sets firstUnmatchedAt the first time an event becomes unmatched and keeps it on later retries', async () => {
        const store = await fresh();
        await store.append([incoming('k1')]);
        const [e] = await store.lease({ owner: 'w1', limit: 1, leaseMs: 60_000 });
        const firstAt = clock.iso();
        await store.complete('w1', [{ id: e!.id, state: 'unmatched', error: 'no match' }]);
        clock.advance(86_400_000);
        const [again] = await store.lease({ owner: 'w1', limit: 1, leaseMs: 60_000 });
        expect(again).toMatchObject({ id: e!.id, state: 'unmatched', firstUnmatchedAt: firstAt, attempts: 2 });
        await store.complete('w1', [{ id: e!.id, state: 'unmatched', error: 'still no match' }]);
        const [stored] = await store.get([e!.id]);
        expect(stored).toMatchObject({ state: 'unmatched', firstUnmatchedAt: firstAt, lastError: 'still no match', nextAttemptAt: clock.iso() });
        expect((await store.counts()).unmatched).toBe(1);
      });

      it('ignores a stale owner whose lease expired and was taken over', async () => {
        const store = await fresh();
        await store.append([incoming('k1')]);
        const [e] = await store.lease({ owner: 'slow', limit: 1, leaseMs: 1_000 });
        clock.advance(2_000);
        await store.lease({ owner: 'fast', limit: 1, leaseMs: 60_000 });
        expect(await store.complete('slow', [{ id: e!.id, state: 'applied' }])).toBe(0);
        const [mid] = await store.get([e!.id]);
        expect(mid).toMatchObject({ state: 'pending', leaseOwner: 'fast', appliedAt: null });
        expect(await store.complete('fast', [{ id: e!.id, state: 'ignored' }])).toBe(1);
        expect((await store.get([e!.id]))[0]!.state).toBe('ignored');
      });

      it('ignores an owner whose lease expired even before anyone took it over, and outcomes for unleased or unknown events', async () => {
        const store = await fresh();
        await store.append([incoming('k1'), incoming('k2')]);
        const [e1] = await store.lease({ owner: 'w1', limit: 1, leaseMs: 1_000 });
        const [k2] = await store.list('pending', 1); // newest first: k2, never leased
        clock.advance(1_000);
        expect(await store.complete('w1', [{ id: e1!.id, state: 'applied' }, { id: k2!.id, state: 'applied' }, { id: '999999', state: 'applied' }, { id: 'x', state: 'applied' }])).toBe(0);
        expect((await store.counts()).pending).toBe(2);
      });

      it('rejects an unknown state before writing anything', async () => {
        const store = await fresh();
        await store.append([incoming('k1'), incoming('k2')]);
        const [a, b] = await store.lease({ owner: 'w1', limit: 2, leaseMs: 60_000 });
        await expect(store.complete('w1', [{ id: a!.id, state: 'applied' }, { id: b!.id, state: 'done' as never }]))
          .rejects.toThrow(/unknown event state "done"/);
        expect((await store.counts()).applied).toBe(0);
      });
    });

    describe('releaseAll', () => {
      it("frees only that owner's leases, making the events leasable again", async () => {
        const store = await fresh();
        await store.append([incoming('k1'), incoming('k2'), incoming('k3')]);
        await store.lease({ owner: 'w1', limit: 2, leaseMs: 60_000 });
        await store.lease({ owner: 'w2', limit: 1, leaseMs: 60_000 });
        await store.releaseAll('w1');
        const again = await store.lease({ owner: 'w3', limit: 10, leaseMs: 60_000 });
        expect(again.map((e) => e.dedupKey)).toEqual(['k1', 'k2']);
        expect(await store.complete('w1', again.map((e) => ({ id: e.id, state: 'applied' as const })))).toBe(0);
      });
    });

    describe('status queries', () => {
      it('answers zeros and nulls on an empty store', async () => {
        const store = await fresh();
        expect(await store.counts()).toEqual({ received: 0, pending: 0, applied: 0, ignored: 0, unmatched: 0, quarantined: 0, deadLetter: 0 });
        expect(await store.oldestPendingReceivedAt()).toBeNull();
        expect(await store.lastReceivedAt()).toBeNull();
        expect(await store.lastAppliedAt()).toBeNull();
        expect(await store.list('deadLetter', 10)).toEqual([]);
        expect(await store.get([])).toEqual([]);
      });

      it('reports oldest pending, last received and last applied times', async () => {
        const store = await fresh();
        const t0 = clock.now();
        await store.append([incoming('k1')]);
        clock.advance(60_000);
        const t1 = clock.now();
        await store.append([incoming('k2'), quarantinedElement('{}')]);
        expect(await store.oldestPendingReceivedAt()).toEqual(t0);
        expect(await store.lastReceivedAt()).toEqual(t1);
        const [first] = await store.lease({ owner: 'w', limit: 1, leaseMs: 60_000 });
        clock.advance(1_000);
        await store.complete('w', [{ id: first!.id, state: 'applied' }]);
        expect(await store.lastAppliedAt()).toEqual(clock.now());
        expect(await store.oldestPendingReceivedAt()).toEqual(t1);
      });

      it('lists a state newest first with limit and offset, and gets events by id', async () => {
        const store = await fresh();
        await store.append(Array.from({ length: 5 }, (_, i) => incoming(`k${i}`)));
        const all = await store.list('pending', 10);
        expect(all.map((e) => e.dedupKey)).toEqual(['k4', 'k3', 'k2', 'k1', 'k0']);
        expect((await store.list('pending', 2, 1)).map((e) => e.dedupKey)).toEqual(['k3', 'k2']);
        expect(await store.list('applied', 10)).toEqual([]);
        await expect(store.list('bogus' as never, 10)).rejects.toThrow(/unknown event state/);
        const got = await store.get([all[0]!.id, all[4]!.id, '424242', 'not-an-id', '-1']);
        expect(got.map((e) => e.dedupKey)).toEqual(['k0', 'k4']); // ordered by id
      });
    });

    describe('requeue (replay)', () => {
      it('makes events pending again with the new normalized form, fresh attempts and no lease', async () => {
        const store = await fresh();
        await store.append([incoming('k1', 'open')]);
        const [e] = await store.lease({ owner: 'w1', limit: 1, leaseMs: 60_000 });
        await store.complete('w1', [{ id: e!.id, state: 'unmatched', error: 'no match' }]);
        clock.advance(10_000);
        const [leasedAgain] = await store.lease({ owner: 'w1', limit: 1, leaseMs: 60_000 });
        clock.advance(1_000);
        const renormalized = normalized('k1', 'unsubscribe', { email: 'B@Example.com', reason: 'mapping fix' });
        expect(await store.requeue([{ id: leasedAgain!.id, normalized: renormalized }])).toBe(1);
        const [stored] = await store.get([e!.id]);
        expect(stored).toMatchObject({
          state: 'pending', normalized: renormalized, priority: priorityOf('unsubscribe'), eventType: 'unsubscribe', attempts: 0,
          lastError: null, firstUnmatchedAt: null, nextAttemptAt: clock.iso(), leaseOwner: null, leaseExpiresAt: null,
        });
        // the worker that held the lease before the replay cannot overwrite the replayed event
        expect(await store.complete('w1', [{ id: e!.id, state: 'applied' }])).toBe(0);
        expect((await store.lease({ owner: 'w2', limit: 1, leaseMs: 60_000 })).map((x) => x.id)).toEqual([e!.id]);
      });

      it('quarantines with the new reason, and un-quarantines a fixed element', async () => {
        const store = await fresh();
        await store.append([incoming('k1'), quarantinedElement('{"type":"opn"}', 'unknown type "opn"')]);
        const [q] = await store.list('quarantined', 1);
        const [p] = await store.list('pending', 1);
        expect(await store.requeue([
          { id: p!.id, quarantineReason: 'missing timestamp (new mapping)' },
          { id: q!.id, normalized: normalized('k2', 'open') },
        ])).toBe(2);
        const [nowQuarantined, nowPending] = await store.get([p!.id, q!.id]);
        expect(nowQuarantined).toMatchObject({ state: 'quarantined', lastError: 'missing timestamp (new mapping)', normalized: null, dedupKey: null });
        expect(nowPending).toMatchObject({ state: 'pending', dedupKey: 'k2', raw: '{"type":"opn"}', lastError: null });
        // the fixed element now deduplicates later deliveries of the same event
        expect(await store.append([incoming('k2'), incoming('k1')])).toEqual({ accepted: 1, duplicates: 1, quarantined: 0 });
      });

      it('marks a replayed event that turns out to be a duplicate of another stored event as ignored', async () => {
        const store = await fresh();
        await store.append([incoming('k1'), quarantinedElement('{"late":true}')]);
        const [q] = await store.list('quarantined', 1);
        const [original] = await store.list('pending', 1);
        expect(await store.requeue([{ id: q!.id, normalized: normalized('k1') }])).toBe(0);
        const [dup] = await store.get([q!.id]);
        expect(dup).toMatchObject({ state: 'ignored', lastError: `replay: duplicate of event ${original!.id}`, dedupKey: null });
        expect(await store.requeue([{ id: '987654', normalized: normalized('zz') }, { id: 'bad', normalized: normalized('zz') }])).toBe(0);
      });

      it('marks a replayed event as a duplicate when either of its keys belongs to another stored event', async () => {
        const store = await fresh();
        await store.append([
          incoming('id:100:e1', 'open', { eventId: 'e1', naturalKey: 'nk:n1' }), incoming('nk:n2'), quarantinedElement('{"a":1}'), quarantinedElement('{"b":2}'),
        ]);
        const [e1] = (await store.list('pending', 10)).filter((e) => e.dedupKey === 'id:100:e1');
        const [n2] = (await store.list('pending', 10)).filter((e) => e.dedupKey === 'nk:n2');
        const [qa, qb] = (await store.list('quarantined', 10)).sort((x, y) => Number(x.id) - Number(y.id));
        // qa re-derives to another id but e1's natural key; qb to e1's id with another natural key.
        expect(await store.requeue([
          { id: qa!.id, normalized: normalized('id:100:e9', 'open', { eventId: 'e9', naturalKey: 'nk:n1' }) },
          { id: qb!.id, normalized: normalized('id:100:e1', 'open', { eventId: 'e1', naturalKey: 'nk:n3' }) },
        ])).toBe(0);
        expect((await store.get([qa!.id, qb!.id])).map((e) => [e.state, e.lastError])).toEqual([
          ['ignored', `replay: duplicate of event ${e1!.id}`], ['ignored', `replay: duplicate of event ${e1!.id}`],
        ]);
        // A replay that keeps its own keys is requeued (n2 re-derived as itself).
        expect(await store.requeue([{ id: n2!.id, normalized: normalized('nk:n2') }])).toBe(1);
      });
    });

    describe('countBounces', () => {
      it('counts distinct hard and soft bounces of one address in one client, case-insensitively', async () => {
        const store = await fresh();
        await store.append([
          incoming('b1', 'bounce', { email: 'x@example.com', bounceKind: 'hard' }),
          incoming('b2', 'bounce', { email: 'X@Example.com', bounceKind: 'hard' }),
          incoming('b2', 'bounce', { email: 'x@example.com', bounceKind: 'hard' }), // duplicate delivery
          incoming('b3', 'bounce', { email: 'x@example.com', bounceKind: 'soft' }),
          incoming('b4', 'bounce', { email: 'x@example.com', bounceKind: 'soft', clientId: '200' }),
          { ...incoming('b5', 'bounce', { email: 'x@example.com', bounceKind: 'soft' }), clientId: '200' },
          incoming('b6', 'bounce', { email: 'y@example.com', bounceKind: 'hard' }),
          incoming('o1', 'open', { email: 'x@example.com' }),
          incoming('ob', 'outbounce', { email: 'x@example.com' }),
          quarantinedElement('{"type":"bounce","email":"x@example.com"}'),
        ]);
        expect(await store.countBounces('100', 'X@EXAMPLE.COM')).toEqual({ hard: 2, soft: 1 });
        // the envelope's client (the webhook URL path) decides, as for every stored event
        expect(await store.countBounces('200', 'x@example.com')).toEqual({ hard: 0, soft: 2 });
        expect(await store.countBounces('100', 'nobody@example.com')).toEqual({ hard: 0, soft: 0 });
      });
    });

    describe('addToAggregate', () => {
      it('is idempotent per (response, event) and returns count, first and last occurrence', async () => {
        const store = await fresh();
        expect(await store.addToAggregate('r1', 'e1', '2026-11-26T10:00:00Z')).toEqual({ count: 1, firstAt: '2026-11-26T10:00:00Z', lastAt: '2026-11-26T10:00:00Z' });
        expect(await store.addToAggregate('r1', 'e2', '2026-11-25T08:00:00Z')).toEqual({ count: 2, firstAt: '2026-11-25T08:00:00Z', lastAt: '2026-11-26T10:00:00Z' });
        expect(await store.addToAggregate('r1', 'e2', '2026-11-25T08:00:00Z')).toEqual({ count: 2, firstAt: '2026-11-25T08:00:00Z', lastAt: '2026-11-26T10:00:00Z' });
        expect(await store.addToAggregate('r1', 'e3', '2026-11-27T00:00:00Z')).toEqual({ count: 3, firstAt: '2026-11-25T08:00:00Z', lastAt: '2026-11-27T00:00:00Z' });
        expect(await store.addToAggregate('r2', 'e1', '2026-11-26T10:00:00Z')).toMatchObject({ count: 1 });
        const concurrent = await Promise.all(['e4', 'e5', 'e6'].map((k) => store.addToAggregate('r1', k, '2026-11-26T11:00:00Z')));
        expect(concurrent.map((r) => r.count).sort()).toEqual([4, 5, 6]);
      });

      it('records many pairs at once, idempotently, and returns the aggregate of each response over all its events', async () => {
        const store = await fresh();
        expect(await store.addToAggregates([])).toEqual(new Map());
        await store.addToAggregate('r1', 'e0', '2026-11-26T10:00:00Z');
        const items = [
          { responseKey: 'r1', eventKey: 'e1', occurredAt: '2026-11-27T00:00:00Z' },
          { responseKey: 'r2', eventKey: 'e1', occurredAt: '2026-11-20T00:00:00Z' },
          { responseKey: 'r1', eventKey: 'e2', occurredAt: '2026-11-25T08:00:00Z' },
          { responseKey: 'r1', eventKey: 'e1', occurredAt: '2026-11-27T00:00:00Z' }, // same pair twice in one call
        ];
        const expected = new Map([
          ['r1', { count: 3, firstAt: '2026-11-25T08:00:00Z', lastAt: '2026-11-27T00:00:00Z' }],
          ['r2', { count: 1, firstAt: '2026-11-20T00:00:00Z', lastAt: '2026-11-20T00:00:00Z' }],
        ]);
        expect(await store.addToAggregates(items)).toEqual(expected);
        expect(await store.addToAggregates(items)).toEqual(expected); // a retried round changes nothing
        expect(await store.addToAggregate('r1', 'e2', '2026-11-25T08:00:00Z')).toEqual(expected.get('r1'));
        // concurrent batches over the same keys: each sees at least its own pairs, and nothing is lost
        const batches = await Promise.all([3, 4, 5].map((n) => store.addToAggregates([
          { responseKey: 'r1', eventKey: `c${n}`, occurredAt: '2026-11-26T11:00:00Z' },
          { responseKey: 'r3', eventKey: `c${n}`, occurredAt: '2026-11-26T11:00:00Z' },
        ])));
        expect(batches.map((b) => b.get('r1')!.count).sort()).toEqual([4, 5, 6]);
        expect(batches.map((b) => b.get('r3')!.count).sort()).toEqual([1, 2, 3]);
      });
    });

    describe('purge (retention)', () => {
      const HOUR = 3_600_000;
      const DAY = 24 * HOUR;

      /** Leases every pending event (long lease) and returns a key → id lookup. */
      async function leaseAll(store: EventStore): Promise<(key: string) => string> {
        const leased = await store.lease({ owner: 'w', limit: 100, leaseMs: 100 * DAY });
        return (key) => leased.find((e) => e.dedupKey === key)!.id;
      }

      it('deletes only applied and ignored events that finished before the cut-off, never unfinished ones or bounces', async () => {
        const store = await fresh();
        const t0 = clock.now().getTime();
        await store.append([
          incoming('applied-early'), incoming('applied-late'), incoming('ignored-early'), incoming('ignored-late'),
          incoming('bounce-ignored', 'bounce', { bounceKind: 'soft' }), incoming('bounce-applied', 'bounce', { bounceKind: 'hard' }),
          incoming('pending'), incoming('unmatched'), incoming('dead'), incoming('quarantined'), incoming('replayed'),
          quarantinedElement('{"type":"opn"}'),
        ]);
        const id = await leaseAll(store);
        clock.advance(HOUR);
        const later = new Date(t0 + 100 * DAY);
        await store.complete('w', [
          { id: id('applied-early'), state: 'applied' }, { id: id('ignored-early'), state: 'ignored', error: 'R2' },
          { id: id('bounce-ignored'), state: 'ignored', error: 'below threshold' }, { id: id('bounce-applied'), state: 'applied' },
          { id: id('pending'), state: 'pending', error: 'HTTP 503', nextAttemptAt: later },
          { id: id('unmatched'), state: 'unmatched', nextAttemptAt: later }, { id: id('dead'), state: 'deadLetter' },
          { id: id('quarantined'), state: 'quarantined', error: 'mapping rejected' }, { id: id('replayed'), state: 'applied' },
        ]);
        // replay makes an applied event pending again (its applied_at stays): unfinished work, kept
        await store.requeue([{ id: id('replayed'), normalized: normalized('replayed') }]);
        clock.advance(2 * DAY);
        await store.complete('w', [{ id: id('applied-late'), state: 'applied' }, { id: id('ignored-late'), state: 'ignored' }]);
        const appliedLateAt = t0 + HOUR + 2 * DAY;

        // applied events age from applied_at; ignored ones (no outcome time is recorded) from received_at
        expect(await store.purge({ before: new Date(t0 + DAY), limit: 100 })).toBe(3);
        const remaining = async () => (await Promise.all(EVENT_STATES.map((state) => store.list(state, 100))))
          .flat().map((e) => e.dedupKey ?? e.state);
        expect((await remaining()).sort()).toEqual([
          'applied-late', 'bounce-applied', 'bounce-ignored', 'dead', 'pending', 'quarantined', 'quarantined', 'replayed', 'unmatched',
        ].sort());
        expect(await store.purge({ before: new Date(t0 + DAY), limit: 100 })).toBe(0);
        expect(await store.purge({ before: new Date(appliedLateAt), limit: 100 })).toBe(0); // finished exactly at the cut-off
        expect(await store.purge({ before: new Date(appliedLateAt + 1), limit: 100 })).toBe(1);

        // far in the future: whatever is left is unfinished, needs an operator, or is a bounce
        expect(await store.purge({ before: new Date(t0 + 1000 * DAY), limit: 100 })).toBe(0);
        expect((await remaining()).sort()).toEqual([
          'bounce-applied', 'bounce-ignored', 'dead', 'pending', 'quarantined', 'quarantined', 'replayed', 'unmatched',
        ].sort());
        expect(await store.counts()).toEqual({ received: 8, pending: 2, applied: 1, ignored: 1, unmatched: 1, quarantined: 2, deadLetter: 1 });
        expect(await store.countBounces('100', 'a@example.com')).toEqual({ hard: 1, soft: 1 });
      });

      it('deletes at most `limit` events per call, those that finished first', async () => {
        const store = await fresh();
        await store.append(['k0', 'k1', 'k2', 'k3', 'k4'].map((k) => incoming(k)));
        const id = await leaseAll(store);
        for (const k of ['k3', 'k1', 'k4', 'k0', 'k2']) {
          clock.advance(60_000);
          await store.complete('w', [{ id: id(k), state: 'applied' }]);
        }
        const before = new Date(clock.now().getTime() + 1);
        expect(await store.purge({ before, limit: 0 })).toBe(0);
        expect(await store.purge({ before, limit: 2 })).toBe(2);
        expect((await store.list('applied', 10)).map((e) => e.dedupKey)).toEqual(['k4', 'k2', 'k0']); // k3, k1 finished first
        expect(await store.counts()).toMatchObject({ received: 3, applied: 3 });
        expect(await store.purge({ before, limit: 2 })).toBe(2);
        expect(await store.purge({ before, limit: 2 })).toBe(1);
        expect(await store.counts()).toEqual({ received: 0, pending: 0, applied: 0, ignored: 0, unmatched: 0, quarantined: 0, deadLetter: 0 });
      });

      it('lets concurrent purges (two connections) share the work without deleting an event twice', async () => {
        const store = await fresh();
        await store.append(Array.from({ length: 10 }, (_, i) => incoming(`k${i}`)));
        const id = await leaseAll(store);
        await store.complete('w', Array.from({ length: 10 }, (_, i) => ({ id: id(`k${i}`), state: 'ignored' as const })));
        const other = await second();
        const before = new Date(clock.now().getTime() + 1);
        const [a, b] = await Promise.all([store.purge({ before, limit: 3 }), other.purge({ before, limit: 3 })]);
        expect(a + b).toBe(6);
        expect((await store.counts()).ignored).toBe(4);
      });

      it('accepts a re-delivery of a purged event as new (its dedup key is gone); aggregates and key/value state are untouched', async () => {
        const store = await fresh();
        await store.append([incoming('purged'), incoming('kept')]);
        const id = await leaseAll(store);
        await store.addToAggregates([
          { responseKey: 'r1', eventKey: 'purged', occurredAt: '2026-11-26T09:00:00Z' },
          { responseKey: 'r1', eventKey: 'kept', occurredAt: '2026-11-26T09:30:00Z' },
        ]);
        await store.setState('poll.watermark.100', '2026-11-26T09:00:00Z');
        await store.complete('w', [{ id: id('purged'), state: 'applied' }]);
        clock.advance(DAY);
        await store.complete('w', [{ id: id('kept'), state: 'applied' }]);
        expect(await store.purge({ before: clock.now(), limit: 10 })).toBe(1);

        // Expected: the event is stored and processed again. Harmless: Dataverse ids are deterministic and
        // the aggregate already holds this event key, so its count does not grow.
        expect(await store.append([incoming('purged'), incoming('kept')])).toEqual({ accepted: 1, duplicates: 1, quarantined: 0 });
        expect((await store.list('pending', 10)).map((e) => e.dedupKey)).toEqual(['purged']);
        expect(await store.addToAggregate('r1', 'purged', '2026-11-26T09:00:00Z'))
          .toEqual({ count: 2, firstAt: '2026-11-26T09:00:00Z', lastAt: '2026-11-26T09:30:00Z' });
        expect(await store.getState('poll.watermark.100')).toBe('2026-11-26T09:00:00Z');
      });

      it('rejects an invalid cut-off date', async () => {
        const store = await fresh();
        await expect(store.purge({ before: new Date('not a date'), limit: 10 })).rejects.toThrow(/valid date/);
      });
    });

    describe('key/value state, ping, close', () => {
      it('gets null for an unknown key, then the latest value set', async () => {
        const store = await fresh();
        expect(await store.getState('poll.watermark.100')).toBeNull();
        await store.setState('poll.watermark.100', '2026-11-26T09:00:00Z');
        await store.setState('poll.watermark.100', '2026-11-26T10:00:00Z');
        expect(await store.getState('poll.watermark.100')).toBe('2026-11-26T10:00:00Z');
        expect(await (await second()).getState('poll.watermark.100')).toBe('2026-11-26T10:00:00Z');
      });

      it('pings while open; every call rejects once closed, and close is idempotent', async () => {
        const store = await fresh();
        await expect(store.ping()).resolves.toBeUndefined();
        await store.close();
        await store.close();
        await expect(store.append([incoming('k1')])).rejects.toThrow(/closed/);
        await expect(store.ping()).rejects.toThrow(/closed/);
        await expect(store.counts()).rejects.toThrow(/closed/);
      });

      it('commits appends that were issued just before close', async () => {
        const store = await fresh();
        const pending = store.append([incoming('k1')]);
        await store.close();
        await expect(pending).resolves.toEqual({ accepted: 1, duplicates: 0, quarantined: 0 });
        expect((await (await second()).counts()).received).toBe(1);
      });
    });
  });
}
