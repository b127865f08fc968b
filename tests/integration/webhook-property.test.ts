/**
 * Property tests of the webhook over a real socket (fast-check generates the input): whatever is
 * sent, the answer is a 4xx or a 200 — never a 5xx — and is one line of JSON; and every element of
 * an accepted body is accounted for: received = accepted + duplicates + quarantined, and the store
 * holds exactly the accepted and quarantined ones more than before.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { openStore } from '../../service/store/index.js';
import type { EventStore } from '../../service/store/types.js';
import { ENGINES, listenApp, send, type HttpAnswer } from './webhook-helpers.js';

const TOKEN = 'property-token-0123';
const AUTH = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
const RUNS = 200;

interface Counts {
  received: number;
  accepted: number;
  duplicates: number;
  quarantined: number;
}

/** Every answer: no 5xx, one line, JSON; an error answer is exactly {"error": "<text>"}. */
function expectWellFormed(answer: HttpAnswer, allowed: number[]): void {
  expect(allowed).toContain(answer.status);
  expect(answer.text).not.toContain('\n');
  expect(answer.json).toBeTypeOf('object');
  if (answer.status !== 200) {
    expect(Object.keys(answer.json as object)).toEqual(['error']);
    expect((answer.json as { error: unknown }).error).toBeTypeOf('string');
  }
}

/** An event-like object: the alias names of spec §4 with plausible and implausible values, plus noise. */
const eventLike = fc.record(
  {
    type: fc.oneof(fc.constantFrom('open', 'click', 'unsubscribe', 'bounce', 'reply', 'autoresponder', 'webhooknode', 'OPEN'), fc.string()),
    eventType: fc.constantFrom('open', 'click', 'unsubscribe'),
    recipientId: fc.oneof(fc.emailAddress(), fc.string(), fc.integer()),
    email: fc.emailAddress(),
    timestamp: fc.oneof(
      fc.date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2099-12-31T23:59:59Z'), noInvalidDate: true }).map((d) => d.toISOString()),
      fc.integer({ min: 0, max: 4_102_444_800_000 }),
      fc.string(),
    ),
    mailingId: fc.oneof(fc.integer({ min: 0 }), fc.string()),
    id: fc.string({ maxLength: 12 }),
    url: fc.webUrl(),
  },
  { requiredKeys: [] },
);

describe.each(ENGINES)('webhook properties with the $name store', (engine) => {
  let app: FastifyInstance;
  let store: EventStore;
  let base: string;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const location = engine.create();
    cleanup = location.cleanup;
    store = await openStore(location.url);
    ({ app, base } = await listenApp(store, TOKEN));
  });
  afterAll(async () => {
    await app?.close();
    await store?.close();
    await cleanup?.();
  });

  const storedTotal = async () => {
    const c = await store.counts();
    return c.pending + c.quarantined;
  };

  it('accounts for every element of any JSON array of event-like objects, stores exactly the accepted and quarantined ones, and a re-delivery stores no event twice', async () => {
    const seen = { accepted: 0, duplicates: 0, quarantined: 0, resent: 0 };
    const elementsArb = fc.array(fc.oneof({ weight: 4, arbitrary: eventLike }, { weight: 1, arbitrary: fc.jsonValue() }), { maxLength: 20 });
    await fc.assert(
      fc.asyncProperty(elementsArb, fc.boolean(), async (elements, resend) => {
        const body = JSON.stringify(elements);
        const before = await storedTotal();
        const answer = await send(base, { path: '/webhooks/campaign/77', headers: AUTH, body });
        expectWellFormed(answer, [200]);
        const counts = answer.json as Counts;
        expect(counts.received).toBe(elements.length);
        expect(counts.accepted + counts.duplicates + counts.quarantined).toBe(counts.received);
        expect(await storedTotal()).toBe(before + counts.accepted + counts.quarantined);
        seen.accepted += counts.accepted;
        seen.duplicates += counts.duplicates;
        seen.quarantined += counts.quarantined;
        if (!resend) return;
        // Campaign retrying the same request: every event is a duplicate now; quarantined elements
        // are kept each time (they have no dedup key), so nothing that could be a consent signal is lost.
        seen.resent += 1;
        const again = (await send(base, { path: '/webhooks/campaign/77', headers: AUTH, body })).json as Counts;
        expect(again).toEqual({ received: counts.received, accepted: 0, duplicates: counts.accepted + counts.duplicates, quarantined: counts.quarantined });
        expect(await storedTotal()).toBe(before + counts.accepted + 2 * counts.quarantined);
      }),
      { numRuns: RUNS },
    );
    // The generator reaches every outcome, so the property says something about each.
    expect(seen.accepted).toBeGreaterThan(0);
    expect(seen.quarantined).toBeGreaterThan(0);
    expect(seen.resent).toBeGreaterThan(0);
  });

  it('answers any JSON value with 200 (object or array) or a one-line 400, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue(), async (value) => {
        const answer = await send(base, { path: '/webhooks/campaign/78', headers: AUTH, body: JSON.stringify(value) });
        const acceptable = Array.isArray(value) || (typeof value === 'object' && value !== null);
        expectWellFormed(answer, acceptable ? [200] : [400]);
        if (acceptable) expect((answer.json as Counts).received).toBe(Array.isArray(value) ? value.length : 1);
      }),
      { numRuns: RUNS },
    );
  });

  it('answers arbitrary bytes with 200 or a one-line 400, never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
        const answer = await send(base, { path: '/webhooks/campaign/79', headers: AUTH, body: Buffer.from(bytes) });
        expectWellFormed(answer, [200, 400]);
      }),
      { numRuns: RUNS },
    );
  });

  it('answers any client id segment, content type and authorization with a 2xx or 4xx', async () => {
    const printable = fc.stringMatching(/^[\x20-\x7e]{0,40}$/);
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(fc.string({ maxLength: 25 }), fc.bigInt({ min: 0n, max: 10n ** 22n }).map(String)),
        fc.oneof(fc.constant('application/json'), printable),
        fc.oneof(fc.constant(`Bearer ${TOKEN}`), printable),
        async (clientId, contentType, authorization) => {
          const headers: Record<string, string> = { authorization, 'content-type': contentType };
          if (contentType.trim() === '') delete headers['content-type'];
          if (authorization.trim() === '') delete headers.authorization;
          const answer = await send(base, { path: `/webhooks/campaign/${encodeURIComponent(clientId)}`, headers, body: '{"type":"open","recipientId":"p@example.com","timestamp":"2026-11-26T10:00:00Z"}' });
          expectWellFormed(answer, [200, 400, 401, 404, 415]);
        },
      ),
      { numRuns: RUNS },
    );
  });
});
