import { describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '../../service/events.js';
import type { NormalizedEvent } from '../../service/events.js';
import { unsubscribeToRaw } from '../../service/campaign/mapping.js';
import { ALIASES, MAX_FIELD_LENGTH, dedupKey, naturalKey, normalizeEvent, parseOccurredAt } from '../../service/ingest/normalize.js';
import type { NormalizeContext } from '../../service/ingest/normalize.js';

const ctx: NormalizeContext = { pathClientId: '1234', origin: 'webhook' };
const base = { type: 'open', mailingId: 555, recipientId: 'Max@Example.com', timestamp: '2026-11-26T10:00:00.789Z' };

function ok(raw: unknown, c = ctx): NormalizedEvent {
  const r = normalizeEvent(raw, c);
  if (!r.ok) throw new Error(`expected ok, got quarantine: ${r.reason}`);
  return r.event;
}
function reason(raw: unknown, c = ctx): string {
  const r = normalizeEvent(raw, c);
  if (r.ok) throw new Error(`expected quarantine, got ${JSON.stringify(r.event)}`);
  return r.reason;
}

describe('normalizeEvent: a typical event', () => {
  it('maps the canonical fields', () => {
    expect(ok(base)).toEqual({
      key: expect.stringMatching(/^nk:[0-9a-f]{64}$/),
      type: 'open',
      clientId: '1234',
      mailingId: '555',
      recipientId: 'Max@Example.com',
      email: 'max@example.com',
      occurredAt: '2026-11-26T10:00:00Z',
      origin: 'webhook',
    });
  });

  it('keeps the origin from the context', () => {
    expect(ok(base, { pathClientId: '1234', origin: 'poll' }).origin).toBe('poll');
  });
});

describe('normalizeEvent: every alias of §4 (first present wins)', () => {
  const withoutAliases = (names: readonly string[]) =>
    Object.fromEntries(Object.entries(base).filter(([k]) => !names.includes(k)));

  it.each(ALIASES.type.map((name) => [name]))('type from %s', (name) => {
    expect(ok({ ...withoutAliases(ALIASES.type), [name]: 'Click' }).type).toBe('click');
  });
  it('type: first alias present wins', () => {
    expect(ok({ ...withoutAliases(ALIASES.type), event: 'sent', eventType: 'bounce', type: 'open' }).type).toBe('open');
    expect(ok({ ...withoutAliases(ALIASES.type), event: 'sent', eventType: 'click' }).type).toBe('click');
  });
  it.each(EVENT_TYPES.map((t) => [t]))('accepts type %s in any case', (t) => {
    const extra = t === 'bounce' ? { category: 'hardbounce' } : {};
    expect(ok({ ...base, ...extra, type: t.toUpperCase() }).type).toBe(t);
  });
  it.each([['archive'], ['archived'], ['ARCHIVED'], [' Archived ']])('%s → archive', (t) => {
    expect(ok({ ...base, type: t }).type).toBe('archive');
  });

  it.each(ALIASES.client.map((name) => [name]))('client from %s when equal to the path', (name) => {
    expect(ok({ ...base, [name]: 1234 }).clientId).toBe('1234');
    expect(ok({ ...base, [name]: '1234' }).clientId).toBe('1234');
  });
  it('client: leading zeros do not make a difference', () => {
    expect(ok({ ...base, clientId: '001234' }).clientId).toBe('1234');
    expect(reason({ ...base, clientId: '12340' })).toMatch(/differs/);
  });
  it('client: the path is used when the body has none', () => {
    expect(ok(base, { pathClientId: '99', origin: 'webhook' }).clientId).toBe('99');
  });

  it('mailingId from mailingId, numbers become text', () => {
    expect(ok({ ...base, mailingId: '00042' }).mailingId).toBe('00042');
    expect(ok({ ...base, mailingId: 42 }).mailingId).toBe('42');
  });

  it.each(ALIASES.mailId.map((name) => [name]))('mailId from %s', (name) => {
    expect(ok({ ...base, [name]: 'enc-1' }).mailId).toBe('enc-1');
  });
  it('mailId: mailId wins over bmMailId', () => {
    expect(ok({ ...base, bmMailId: 'b', mailId: 'a' }).mailId).toBe('a');
  });

  it('recipientListId from recipientListId', () => {
    expect(ok({ ...base, recipientListId: 77 }).recipientListId).toBe('77');
  });

  it.each(ALIASES.recipientId.map((name) => [name]))('recipientId from %s', (name) => {
    expect(ok({ ...withoutAliases(ALIASES.recipientId), [name]: 'r-1', email: 'a@b.de' }).recipientId).toBe('r-1');
  });
  it('recipientId: recipientId wins over bmRecipientId', () => {
    expect(ok({ ...base, recipientId: 'a@b.de', bmRecipientId: 'x@y.de' }).recipientId).toBe('a@b.de');
  });

  it.each(ALIASES.email.map((name) => [name]))('email from %s, lower-cased', (name) => {
    expect(ok({ ...base, recipientId: 'r-1', [name]: ' Anna@Example.COM ' }).email).toBe('anna@example.com');
  });
  it('email: first alias wins', () => {
    expect(ok({ ...base, emailAddress: 'c@x.de', address: 'b@x.de', email: 'a@x.de' }).email).toBe('a@x.de');
  });
  it('email: falls back to the recipient id only when it contains @', () => {
    expect(ok({ ...base, recipientId: 'Jo@Example.com' }).email).toBe('jo@example.com');
    expect(ok({ ...base, recipientId: 'r-17' }).email).toBeUndefined();
  });
  it('email: a value that is no address is passed over (kept raw), never a reason to hold the event back', () => {
    // An unsubscribe whose `address` holds an IP is still the unsubscribe of the recipient id's address.
    expect(ok({ ...base, type: 'unsubscribe', recipientId: 'Jo@Example.com', address: '203.0.113.9' }).email).toBe('jo@example.com');
    expect(ok({ ...base, email: 42, address: 'Main Street 1', emailAddress: 'c@x.de' }).email).toBe('c@x.de');
    expect(ok({ ...base, recipientId: 'r-17', email: 'unknown' }).email).toBeUndefined();
  });

  it.each(ALIASES.occurredAt.map((name) => [name]))('occurredAt from %s', (name) => {
    expect(ok({ ...withoutAliases(ALIASES.occurredAt), [name]: '2026-11-26T08:30:15Z' }).occurredAt).toBe('2026-11-26T08:30:15Z');
  });
  it('occurredAt: timestamp wins over created, eventTime and date', () => {
    const e = ok({ ...base, date: '2026-01-04T00:00:00Z', eventTime: '2026-01-03T00:00:00Z', created: '2026-01-02T00:00:00Z', timestamp: '2026-01-01T00:00:00Z' });
    expect(e.occurredAt).toBe('2026-01-01T00:00:00Z');
  });

  it.each(ALIASES.link.map((name) => [name]))('link from %s', (name) => {
    expect(ok({ ...base, type: 'click', [name]: 'https://example.com/a?b=1' }).linkUrl).toBe('https://example.com/a?b=1');
  });
  it('link: url wins over link and linkUrl; linkId kept', () => {
    const e = ok({ ...base, type: 'click', linkUrl: 'c', link: 'b', url: 'a', linkId: 9 });
    expect(e.linkUrl).toBe('a');
    expect(e.linkId).toBe('9');
  });

  it.each(ALIASES.bounceKind.map((name) => [name]))('bounce kind from %s', (name) => {
    expect(ok({ ...base, type: 'bounce', [name]: 'softbounce' }).bounceKind).toBe('soft');
  });
  it.each([
    ['hardbounce', 'hard'],
    ['HARD', 'hard'],
    ['hard_bounce', 'hard'],
    ['softbounce', 'soft'],
    ['Soft', 'soft'],
  ])('bounce kind %s → %s', (value, kind) => {
    expect(ok({ ...base, type: 'bounce', bounceType: value }).bounceKind).toBe(kind);
  });
  it('bounce kind: first alias wins', () => {
    expect(ok({ ...base, type: 'bounce', bounceCategory: 'soft', category: 'hard' }).bounceKind).toBe('hard');
  });
  it('a bounce without a kind is accepted (kind unknown)', () => {
    expect(ok({ ...base, type: 'bounce' }).bounceKind).toBeUndefined();
  });
  it('category on a non-bounce event is ignored when it is no bounce kind', () => {
    expect(ok({ ...base, category: 'newsletter' }).bounceKind).toBeUndefined();
  });

  it.each(ALIASES.thresholdExceeded.map((name) => [name]))('thresholdExceeded from %s', (name) => {
    expect(ok({ ...base, type: 'bounce', [name]: true }).thresholdExceeded).toBe(true);
  });
  it.each([
    [true, true],
    [false, false],
    ['true', true],
    ['FALSE', false],
    [1, true],
    [0, false],
  ])('thresholdExceeded %j → %s', (value, expected) => {
    expect(ok({ ...base, type: 'bounce', thresholdExceeded: value }).thresholdExceeded).toBe(expected);
  });
  it('thresholdExceeded: first alias wins', () => {
    expect(ok({ ...base, type: 'bounce', outbounce: true, thresholdExceeded: false }).thresholdExceeded).toBe(false);
  });

  it('reason from reason', () => {
    expect(ok({ ...base, type: 'unsubscribe', reason: 'too many mails' }).reason).toBe('too many mails');
  });

  it.each(CRM_PAIRS())('CRM identity from %s + %s', (typeName, idName) => {
    const e = ok({ ...base, [typeName]: 'Contact', [idName]: '{6F9619FF-8B86-D011-B42D-00C04FC964FF}' });
    expect(e.crmEntity).toEqual({ type: 'contact', id: '6f9619ff-8b86-d011-b42d-00c04fc964ff' });
  });
  it('CRM identity: first pair wins; lead accepted', () => {
    const e = ok({
      ...base,
      entityType: 'contact',
      entityId: '00000000-0000-0000-0000-000000000002',
      crmEntityType: 'lead',
      crmEntityId: '00000000-0000-0000-0000-000000000001',
    });
    expect(e.crmEntity).toEqual({ type: 'lead', id: '00000000-0000-0000-0000-000000000001' });
  });
  it('CRM identity alone identifies the recipient', () => {
    const e = ok({ type: 'open', timestamp: base.timestamp, entityType: 'lead', entityId: '00000000-0000-0000-0000-000000000001' });
    expect(e.recipientId).toBeUndefined();
    expect(e.crmEntity?.type).toBe('lead');
  });

  it.each(ALIASES.eventId.map((name) => [name]))('event id from %s', (name) => {
    const e = ok({ ...base, [name]: 'evt-1' });
    expect(e.eventId).toBe('evt-1');
    expect(e.key).toBe('id:1234:evt-1');
  });
  it('event id: id wins over eventId; numbers become text', () => {
    expect(ok({ ...base, eventId: 'b', id: 7 }).key).toBe('id:1234:7');
  });

  it('null and blank values count as absent', () => {
    const e = ok({ ...base, type: null, eventType: '  ', event: 'click', email: '', mailId: null });
    expect(e.type).toBe('click');
    expect(e.mailId).toBeUndefined();
    expect(e.email).toBe('max@example.com');
  });

  it('ignores unknown fields', () => {
    expect(ok({ ...base, mediaType: 'html', nested: { deep: [1, 2, 3] } })).toEqual(ok(base));
  });
});

function CRM_PAIRS(): [string, string][] {
  return [
    ['crmEntityType', 'crmEntityId'],
    ['entity-type', 'entity-id'],
    ['entityType', 'entityId'],
  ];
}

describe('normalizeEvent: time formats', () => {
  it.each([
    ['2026-11-26T10:00:00Z', '2026-11-26T10:00:00Z'],
    ['2026-11-26T10:00:00.999Z', '2026-11-26T10:00:00Z'],
    ['2026-11-26T11:00:00+01:00', '2026-11-26T10:00:00Z'],
    ['2026-11-26T11:00:00+0100', '2026-11-26T10:00:00Z'],
    ['2026-11-26T05:00:00-05', '2026-11-26T10:00:00Z'],
    ['2026-11-26 10:00:00', '2026-11-26T10:00:00Z'],
    ['2026-11-26T10:00', '2026-11-26T10:00:00Z'],
    ['2026-11-26', '2026-11-26T00:00:00Z'],
    [1795687200000, '2026-11-26T10:00:00Z'],
    [1795687200, '2026-11-26T10:00:00Z'],
    [1795687200.75, '2026-11-26T10:00:00Z'],
    ['1795687200123', '2026-11-26T10:00:00Z'],
    ['1795687200', '2026-11-26T10:00:00Z'],
  ])('%j → %s', (input, expected) => {
    expect(parseOccurredAt(input)).toBe(expected);
  });

  it.each([
    ['yesterday'],
    ['2026-02-31T00:00:00Z'],
    ['2026-13-01'],
    ['2026-11-26T24:00:00Z'],
    ['26.11.2026'],
    [0],
    [-5],
    ['4102444800'],
    [true],
    [{ iso: '2026-11-26' }],
  ])('%j is refused', (input) => {
    expect(parseOccurredAt(input)).toHaveProperty('error');
  });
});

describe('parseOccurredAt: the canonical fast path agrees with the Date round trip', () => {
  /** What the fast path answered before it checked fields by arithmetic: Date.parse, then the round trip. */
  function byDateRoundTrip(value: string): string | undefined {
    const parsed = Date.parse(value);
    if (!(parsed >= Date.UTC(2000, 0, 1) && parsed < Date.UTC(2100, 0, 1))) return undefined;
    const iso = new Date(parsed).toISOString();
    return iso.slice(0, 19) === value.slice(0, 19) ? `${iso.slice(0, 19)}Z` : undefined;
  }

  it('on every combination of edge values of each field (224,532 timestamps)', () => {
    const pad = (n: number, width: number) => String(n).padStart(width, '0');
    let compared = 0;
    const disagreements: string[] = [];
    for (const year of [1999, 2000, 2023, 2024, 2099, 2100]) {
      for (let month = 0; month <= 13; month++) {
        for (let day = 0; day <= 32; day++) {
          for (const hour of [0, 23, 24]) {
            for (const minute of [0, 59, 60]) {
              for (const second of [0, 59, 60]) {
                for (const fraction of ['', '.5', '.999']) {
                  const value = `${pad(year, 4)}-${pad(month, 2)}-${pad(day, 2)}T${pad(hour, 2)}:${pad(minute, 2)}:${pad(second, 2)}${fraction}Z`;
                  const expected = byDateRoundTrip(value);
                  const actual = parseOccurredAt(value);
                  compared++;
                  if (expected === undefined ? typeof actual === 'string' : actual !== expected) disagreements.push(`${value}: ${JSON.stringify(actual)}`);
                }
              }
            }
          }
        }
      }
    }
    expect(compared).toBe(224_532);
    expect(disagreements).toEqual([]);
  });
});

describe('normalizeEvent: every quarantine reason', () => {
  it.each([
    ['not an object: array', [base], /must be a JSON object, got an array/],
    ['not an object: null', null, /must be a JSON object, got null/],
    ['not an object: string', 'open', /must be a JSON object, got a string/],
    ['not an object: number', 42, /must be a JSON object, got the number 42/],
    ['type missing', { ...base, type: undefined }, /event type missing/],
    ['type not a string', { ...base, type: 3 }, /type must be a string/],
    ['unknown type', { ...base, type: 'webhooknode' }, /unknown event type "webhooknode"/],
    ['body client differs from path', { ...base, clientId: '999' }, /client "999" .* differs from client 1234/],
    ['mailingGroupId differs from path', { ...base, mailingGroupId: 1 }, /differs/],
    ['client not scalar', { ...base, mailingGroupId: { id: 1234 } }, /mailingGroupId must be a string or number, got an object/],
    ['time missing', { ...base, timestamp: undefined }, /time missing/],
    ['time unparsable', { ...base, timestamp: 'soon' }, /timestamp "soon" is not ISO 8601/],
    ['time impossible', { ...base, created: undefined, timestamp: '2026-02-30' }, /not a valid date/],
    ['time out of range', { ...base, timestamp: 0 }, /outside/],
    ['time not text or number', { ...base, timestamp: false }, /timestamp must be ISO 8601 text or epoch time/],
    ['mailingId not scalar', { ...base, mailingId: [1] }, /mailingId must be a string or number, got an array/],
    ['mailId not scalar', { ...base, mailId: true }, /mailId must be a string or number, got a boolean/],
    ['recipientListId not scalar', { ...base, recipientListId: {} }, /recipientListId must be/],
    ['recipientId not scalar', { ...base, recipientId: ['a@b.de'] }, /recipientId must be/],
    ['link not scalar', { ...base, url: { href: 'x' } }, /url must be/],
    ['reason not scalar', { ...base, reason: ['x'] }, /reason must be/],
    ['event id not scalar', { ...base, id: { v: 1 } }, /id must be/],
    ['non-finite number', { ...base, mailingId: Number.NaN }, /mailingId must be a string or number/],
    ['recipient missing', { type: 'open', timestamp: base.timestamp, mailingId: 1 }, /recipient missing/],
    ['CRM id without type', { ...base, crmEntityId: '00000000-0000-0000-0000-000000000001' }, /crmEntityId given without crmEntityType/],
    ['CRM type without id', { ...base, 'entity-type': 'contact' }, /entity-type given without entity-id/],
    ['CRM type not contact/lead', { ...base, entityType: 'account', entityId: '00000000-0000-0000-0000-000000000001' }, /entityType must be contact or lead/],
    ['CRM id not a GUID', { ...base, entityType: 'contact', entityId: '12' }, /entityId must be a GUID/],
    ['bounce kind unknown', { ...base, type: 'bounce', bounceType: 'transient' }, /bounceType must be hardbounce or softbounce/],
    ['thresholdExceeded not boolean', { ...base, thresholdExceeded: 'maybe' }, /thresholdExceeded must be true or false/],
  ])('%s', (_name, raw, expected) => {
    const r = reason(raw);
    expect(r).toMatch(expected);
    expect(r).not.toContain('\n');
  });

  it('reasons stay short even for huge values', () => {
    expect(reason({ ...base, type: 'x'.repeat(10_000) }).length).toBeLessThan(120);
  });
});

describe('normalizeEvent: hostile keys', () => {
  it('never interprets __proto__, constructor or prototype; the rest is used as usual', () => {
    const raw = JSON.parse(
      '{"__proto__":{"type":"unsubscribe","polluted":true},"constructor":{"prototype":{"type":"click"}},"prototype":"x","type":"open","recipientId":"a@b.de","timestamp":"2026-11-26T10:00:00Z"}',
    ) as unknown;
    const e = ok(raw);
    expect(e.type).toBe('open');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(e)).toBe(Object.prototype);
  });

  it('does not read aliases inherited through the prototype', () => {
    const raw = Object.create({ type: 'open', recipientId: 'a@b.de', timestamp: base.timestamp }) as object;
    expect(reason(raw)).toMatch(/event type missing/);
  });
});

describe('normalizeEvent: size and determinism', () => {
  it('keeps long values whole up to the memory cap', () => {
    const long = 'https://example.com/' + 'a'.repeat(9_980);
    const e = ok({ ...base, type: 'click', url: long });
    expect(e.linkUrl).toHaveLength(MAX_FIELD_LENGTH);
    expect(ok({ ...base, reason: 'r'.repeat(5_000) }).reason).toHaveLength(5_000);
  });

  it('hashes very long event ids in the key', () => {
    const e = ok({ ...base, id: 'x'.repeat(1_000) });
    expect(e.key).toMatch(/^id:1234:sha256-[0-9a-f]{64}$/);
  });

  it('is deterministic: same input, same output', () => {
    expect(ok({ ...base, type: 'click', url: 'https://a' })).toEqual(ok({ ...base, type: 'click', url: 'https://a' }));
  });
});

describe('dedup key (R9)', () => {
  it('is the same for the same natural event whatever the spelling', () => {
    const a = ok({ type: 'UNSUBSCRIBE', mailingId: 5, recipientId: 'Max@Example.com', timestamp: '2026-11-26T10:00:00.100Z' });
    const b = ok({ eventType: 'unsubscribe', mailingId: '5', bmRecipientId: 'max@example.com', created: 1795687200 }, { pathClientId: '1234', origin: 'poll' });
    expect(a.key).toBe(b.key);
  });

  it('a webhook with only email and a poll record with the address as recipient id agree', () => {
    const a = ok({ type: 'unsubscribe', mailingId: 5, email: 'max@example.com', timestamp: '2026-11-26T10:00:00Z' });
    const b = ok({ type: 'unsubscribe', mailingId: 5, recipientId: 'MAX@example.com', timestamp: '2026-11-26T10:00:00Z' });
    expect(a.key).toBe(b.key);
  });

  it.each<[string, Partial<Parameters<typeof dedupKey>[0]>]>([
    ['client', { clientId: '999' }],
    ['type', { type: 'sent' }],
    ['mailing', { mailingId: '6' }],
    ['recipient', { recipientId: 'other@example.com' }],
    ['time (second)', { occurredAt: '2026-11-26T10:00:01Z' }],
    ['link', { linkUrl: 'https://b' }],
  ])('differs when the %s differs', (_name, change) => {
    const event = { clientId: '1234', type: 'click' as const, mailingId: '5', recipientId: 'a@b.de', occurredAt: '2026-11-26T10:00:00Z', linkUrl: 'https://a' };
    expect(dedupKey({ ...event, ...change })).not.toBe(dedupKey(event));
  });

  it('uses the event id, scoped by client', () => {
    const e = { eventId: 'e1', clientId: '1', type: 'open' as const, occurredAt: '2026-11-26T10:00:00Z' };
    expect(dedupKey(e)).toBe('id:1:e1');
    expect(dedupKey({ ...e, clientId: '2' })).toBe('id:2:e1');
  });

  it('an event with an id also carries its natural key: the one the REST copy of the same unsubscribe gets', () => {
    const webhook = ok({ type: 'unsubscribe', id: 'wh-1', mailingId: '1001', recipientListId: '5678', recipientId: 'Ben.Keller@example.com', timestamp: '2026-11-20T10:00:00+00:00' });
    const rest = ok(unsubscribeToRaw({ recipientId: 'ben.keller@example.com', created: '2026-11-20T10:00:00Z', mailingId: '1001', recipientListId: '5678', reason: undefined, mediaType: undefined }), { pathClientId: '1234', origin: 'poll' });
    expect(webhook.key).toBe('id:1234:wh-1');
    expect(rest.key).toMatch(/^nk:/);
    expect(webhook.naturalKey).toBe(rest.key);
    expect(rest.naturalKey).toBeUndefined(); // a natural key is its own natural key
    expect(naturalKey({ clientId: '1234', type: 'unsubscribe', mailingId: '1001', recipientId: 'ben.keller@example.com', occurredAt: '2026-11-20T10:00:00Z' })).toBe(rest.key);
  });

  it('mailing and list id 0 mean none, as in REST records, so both copies of an event without a mailing agree', () => {
    const webhook = ok({ type: 'unsubscribe', mailingId: 0, recipientListId: '0', recipientId: 'a@example.com', timestamp: '2026-11-20T10:00:00Z' });
    const rest = ok(unsubscribeToRaw({ recipientId: 'a@example.com', created: '2026-11-20T10:00:00Z', mailingId: '0', recipientListId: '0', reason: undefined, mediaType: undefined }), { pathClientId: '1234', origin: 'poll' });
    expect(webhook.mailingId).toBeUndefined();
    expect(webhook.recipientListId).toBeUndefined();
    expect(webhook.key).toBe(rest.key);
  });
});

describe('normalizeEvent: never throws on any JSON value (seeded fuzz)', () => {
  // Deterministic PRNG (mulberry32) so a failure is reproducible.
  let seed = 0x5eed;
  const random = () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pickOne = <T,>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const names = [...Object.values(ALIASES).flat(), 'crmEntityType', 'crmEntityId', 'entity-type', 'entity-id', 'entityType', 'entityId', '__proto__', 'constructor', 'prototype'];
  const scalars: unknown[] = [
    null, true, false, 0, -1, 1e21, 1.5, 1795687200, 1795687200000, Number.MAX_SAFE_INTEGER, '', ' ', 'open', 'ARCHIVED', 'bounce', 'hardbounce',
    'a@b.de', '2026-11-26T10:00:00Z', '2026-02-30', '1795687200', 'contact', 'lead', '6f9619ff-8b86-d011-b42d-00c04fc964ff', '1234', '\u0000', 'x'.repeat(20_000),
  ];
  const value = (depth: number): unknown => {
    const r = random();
    if (depth > 2 || r < 0.7) return pickOne(scalars);
    if (r < 0.85) return Array.from({ length: Math.floor(random() * 3) }, () => value(depth + 1));
    return Object.fromEntries(Array.from({ length: Math.floor(random() * 3) }, () => [pickOne(names), value(depth + 1)]));
  };

  it('5,000 random events: a result or a one-line quarantine reason, never an exception', () => {
    let accepted = 0;
    for (let i = 0; i < 5_000; i++) {
      // Start from a valid event half of the time, then overwrite random aliases; own properties as JSON.parse makes them.
      const raw: Record<string, unknown> = random() < 0.5 ? { ...base } : {};
      for (let k = Math.floor(random() * 4); k > 0; k--) {
        Object.defineProperty(raw, pickOne(names), { value: value(0), enumerable: true, writable: true, configurable: true });
      }
      const result = normalizeEvent(random() < 0.05 ? value(0) : raw, ctx);
      if (result.ok) {
        accepted++;
        expect(result.event.key).toMatch(/^(id|nk):/);
        expect(result.event.occurredAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
      } else {
        expect(result.reason).not.toContain('\n');
        expect(result.reason.length).toBeLessThan(200);
      }
    }
    expect(accepted).toBeGreaterThan(0); // the generator does reach the happy path
  });
});
