import { describe, expect, it } from 'vitest';
import { normalizeEvent } from '../../service/ingest/normalize.js';
import { outbounceRaw, responseEventType, responseToRaw, restTime, unsubscribeToRaw } from '../../service/campaign/mapping.js';
import type { RestResponse } from '../../service/campaign/schemas.js';

const response = (over: Partial<RestResponse> = {}): RestResponse => ({
  recipientId: 'Anna@Example.com', created: '2026-11-20T10:00:00.000+0000', mailingId: '1001', recipientListId: '5678', mailId: 'm1',
  category: undefined, subject: 'Re: hello', ruleName: undefined, mediaType: 'EMAIL', ...over,
});

describe('REST response category → event type', () => {
  it.each([
    ['autoresponder', 'autoresponder'],
    ['unknown', 'reply'],
    ['hardbounce', 'bounce'],
    ['softbounce', 'bounce'],
    ['UNKNOWN', 'reply'],
    ['keywordsms', undefined],
  ])('%s → %s', (category, type) => {
    expect(responseEventType(category)).toBe(type);
  });
});

describe('REST records → raw events the normalizer accepts', () => {
  it.each([
    ['autoresponder', { type: 'autoresponder', bounceKind: undefined }],
    ['unknown', { type: 'reply', bounceKind: undefined }],
    ['hardbounce', { type: 'bounce', bounceKind: 'hard' }],
    ['softbounce', { type: 'bounce', bounceKind: 'soft' }],
  ] as const)('%s', (category, expected) => {
    const raw = responseToRaw(response(), category)!;
    const r = normalizeEvent(raw, { pathClientId: '1234', origin: 'poll' });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.event).toMatchObject({
      type: expected.type, clientId: '1234', mailingId: '1001', recipientListId: '5678', mailId: 'm1',
      email: 'anna@example.com', occurredAt: '2026-11-20T10:00:00Z', origin: 'poll',
    });
    expect(r.event.bounceKind).toBe(expected.bounceKind);
  });

  it('drops mailing/list id 0 of an unsubscribe without mailing reference, keeps the reason', () => {
    const raw = unsubscribeToRaw({ recipientId: 'a@example.com', created: '2026-11-20 10:00:00', mailingId: '0', recipientListId: undefined, reason: 'bye', mediaType: undefined });
    expect(raw).toEqual({ type: 'unsubscribe', recipientId: 'a@example.com', timestamp: '2026-11-20 10:00:00', reason: 'bye', source: 'campaign-rest:unsubscribes' });
    const r = normalizeEvent(raw, { pathClientId: '1', origin: 'poll' });
    expect(r.ok && r.event.occurredAt).toBe('2026-11-20T10:00:00Z');
  });

  it('an outbounce is a threshold-exceeded event at the latest bounce', () => {
    const r = normalizeEvent(outbounceRaw('b@example.com', '2026-11-24T12:00:00Z'), { pathClientId: '1', origin: 'poll' });
    expect(r.ok && r.event).toMatchObject({ type: 'outbounce', thresholdExceeded: true, email: 'b@example.com', occurredAt: '2026-11-24T12:00:00Z' });
  });
});

describe('restTime', () => {
  it.each([
    ['2026-11-20T10:00:00Z', Date.UTC(2026, 10, 20, 10)],
    ['2026-11-20T10:00:00.000+0000', Date.UTC(2026, 10, 20, 10)],
    ['2026-11-20T12:00:00+02:00', Date.UTC(2026, 10, 20, 10)],
    ['2026-11-20 10:00:00', Date.UTC(2026, 10, 20, 10)],
    ['2026-11-20T10:00:00', Date.UTC(2026, 10, 20, 10)],
  ])('%s', (value, ms) => {
    expect(restTime(value)).toBe(ms);
  });
  it('NaN for garbage', () => {
    expect(restTime('yesterday')).toBeNaN();
  });
});
