import { describe, expect, it } from 'vitest';
import {
  decideEligibility, describeVerdict, parseEligibilityRequest, type ConsentRecord, type EligibilityRequest, type HistoryEntry,
} from '../../service/campaign/eligibility.js';

const NL = '11111111-1111-4111-8111-111111111111';
const CONTACT = '22222222-2222-4222-8222-222222222222';
const req: EligibilityRequest = { newsletterId: NL, person: { type: 'contact', id: CONTACT } };
const consent = (over: Partial<ConsentRecord> = {}): ConsentRecord => ({ consentId: 'c1', outbounce: false, ...over });
let n = 0;
const entry = (entryType: 'optin' | 'optout', occurredOn: string, over: Partial<HistoryEntry> = {}): HistoryEntry => ({
  id: `h${++n}`, consentId: 'c1', entryType, occurredOn, ...over,
});

describe('decideEligibility (R6 with the R4 rule)', () => {
  const cases: { name: string; consents: ConsentRecord[]; history: HistoryEntry[]; eligible: boolean; state: string; reasons: unknown[] }[] = [
    {
      name: 'opted in → eligible',
      consents: [consent()],
      history: [entry('optin', '2026-03-01T10:00:00Z', { source: 'Campaign double opt-in' })],
      eligible: true, state: 'optin', reasons: [],
    },
    {
      name: 'current opt-out → not eligible, with its date, source, mailing and reason',
      consents: [consent()],
      history: [
        entry('optin', '2026-03-01T10:00:00Z'),
        entry('optout', '2026-09-18T17:40:00Z', { source: 'Campaign unsubscribe', mailingId: '1001', reason: 'Too many emails' }),
      ],
      eligible: false, state: 'optout',
      reasons: [{ code: 'optedOut', since: '2026-09-18T17:40:00Z', basis: 'history', source: 'Campaign unsubscribe', mailingId: '1001', reason: 'Too many emails' }],
    },
    {
      name: 'a later opt-in overrides an older opt-out, even when listed first',
      consents: [consent()],
      history: [entry('optin', '2026-10-01T00:00:00Z'), entry('optout', '2026-09-18T17:40:00Z')],
      eligible: true, state: 'optin', reasons: [],
    },
    {
      name: 'opt-in and opt-out at the same second → the opt-out wins',
      consents: [consent()],
      history: [entry('optin', '2026-09-18T17:40:00Z'), entry('optout', '2026-09-18T17:40:00.000Z')],
      eligible: false, state: 'optout',
      reasons: [{ code: 'optedOut', since: '2026-09-18T17:40:00.000Z', basis: 'history' }],
    },
    {
      name: 'outbounce Yes → not eligible although opted in',
      consents: [consent({ outbounce: true, outbounceOn: '2026-11-02T08:00:00Z' })],
      history: [entry('optin', '2026-03-01T10:00:00Z')],
      eligible: false, state: 'optin', reasons: [{ code: 'outbounce', since: '2026-11-02T08:00:00Z' }],
    },
    {
      name: 'opted out and outbounced → both reasons',
      consents: [consent({ outbounce: true })],
      history: [entry('optout', '2026-05-01T00:00:00Z')],
      eligible: false, state: 'optout',
      reasons: [{ code: 'optedOut', since: '2026-05-01T00:00:00Z', basis: 'history' }, { code: 'outbounce' }],
    },
    {
      name: 'no consent for the newsletter → not eligible',
      consents: [], history: [], eligible: false, state: 'none', reasons: [{ code: 'noConsent' }],
    },
    {
      name: 'consent without history → its status decides (opted in)',
      consents: [consent({ status: 'optin' })], history: [], eligible: true, state: 'none', reasons: [],
    },
    {
      name: 'consent without history → its status decides (opted out)',
      consents: [consent({ status: 'optout', statusChangedOn: '2026-06-01T00:00:00Z' })], history: [],
      eligible: false, state: 'none', reasons: [{ code: 'optedOut', basis: 'status', since: '2026-06-01T00:00:00Z' }],
    },
    {
      name: 'an opted-out status (imported, set in CRM) newer than every entry decides: an older opt-in does not undo it (R4)',
      consents: [consent({ status: 'optout', statusChangedOn: '2026-12-01T00:00:00Z' })],
      history: [entry('optin', '2026-10-01T00:00:00Z')],
      eligible: false, state: 'optin', reasons: [{ code: 'optedOut', basis: 'status', since: '2026-12-01T00:00:00Z' }],
    },
    {
      name: 'an opt-in entry newer than the opted-out status decides',
      consents: [consent({ status: 'optout', statusChangedOn: '2026-12-01T00:00:00Z' })],
      history: [entry('optin', '2026-12-02T00:00:00Z')],
      eligible: true, state: 'optin', reasons: [],
    },
    {
      name: 'an opted-in status set by hand is no evidence: a newer-dated status does not undo an opt-out entry',
      consents: [consent({ status: 'optin', statusChangedOn: '2026-12-01T00:00:00Z' })],
      history: [entry('optout', '2026-11-01T00:00:00Z')],
      eligible: false, state: 'optout', reasons: [{ code: 'optedOut', since: '2026-11-01T00:00:00Z', basis: 'history' }],
    },
    {
      name: 'entries of other consents are ignored',
      consents: [consent()],
      history: [entry('optin', '2026-03-01T10:00:00Z'), entry('optout', '2026-09-01T00:00:00Z', { consentId: 'other' })],
      eligible: true, state: 'optin', reasons: [],
    },
  ];
  it.each(cases)('$name', ({ consents, history, eligible, state, reasons }) => {
    const v = decideEligibility(req, consents, history);
    expect(v.eligible).toBe(eligible);
    expect(v.state).toBe(state);
    expect(v.reasons.map((r) => (r.code === 'optedOut' ? (({ entryId: _e, ...rest }) => rest)(r) : r))).toEqual(reasons);
    expect(v.contactId).toBe(CONTACT);
    expect(v.newsletterId).toBe(NL);
  });

  it('names the deciding entry', () => {
    const v = decideEligibility(req, [consent()], [entry('optout', '2026-09-18T17:40:00Z', { id: 'x', source: 'Campaign unsubscribe' })]);
    expect(v.decidingEntry).toEqual({ id: 'x', entryType: 'optout', occurredOn: '2026-09-18T17:40:00Z', source: 'Campaign unsubscribe' });
    expect(describeVerdict(v)).toBe('not eligible: opted out on 2026-09-18T17:40:00Z (Campaign unsubscribe)');
  });

  it('reports a lead as leadId', () => {
    const v = decideEligibility({ newsletterId: NL, person: { type: 'lead', id: CONTACT } }, [], []);
    expect(v.leadId).toBe(CONTACT);
    expect(v.contactId).toBeUndefined();
    expect(describeVerdict(v)).toBe('not eligible: no advertising consent for this newsletter');
  });
});

describe('parseEligibilityRequest', () => {
  it('accepts newsletter + contact or lead (braces and upper case too)', () => {
    expect(parseEligibilityRequest({ newsletter: NL, contact: `{${CONTACT.toUpperCase()}}` })).toEqual(req);
    expect(parseEligibilityRequest({ newsletter: NL, lead: CONTACT }).person).toEqual({ type: 'lead', id: CONTACT });
  });
  it.each([
    [{ contact: CONTACT }, 'newsletter is required (the crs_newsletter id)'],
    [{ newsletter: 'abc', contact: CONTACT }, 'newsletter must be a GUID, got "abc"'],
    [{ newsletter: NL }, "contact or lead is required (the person's id)"],
    [{ newsletter: NL, contact: CONTACT, lead: CONTACT }, 'give contact or lead, not both'],
    [{ newsletter: NL, lead: '42' }, 'lead must be a GUID, got "42"'],
  ])('%j → %s', (q, message) => {
    expect(() => parseEligibilityRequest(q)).toThrow(message);
  });
});
