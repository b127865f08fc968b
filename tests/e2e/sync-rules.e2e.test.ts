/**
 * Every rule end to end: webhooks into the spawned service, the worker writes into the Dataverse
 * emulator (HTTPS, msal-node), and the assertions read the emulator's stored rows.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHANNEL, CONSENT_STATUS, ENTRY_SOURCE, ENTRY_TYPE } from '../../solution/model/index.js';
import { DEMO_IDS, demoSeed } from '../emulators/dataverse/demo-seed.js';
import { startDataverseEmulator, type DataverseEmulator } from '../emulators/dataverse/index.js';
import { postEvents, settle, spawnService, status, tempStore, type ServiceProcess, type StatusEvents } from './service.js';

const I = DEMO_IDS;
const EXTRA = {
  client2222: '2b3a7c1e-0004-4d2a-9c11-000000000002',
  newsletter2222Email: '2b3a7c1e-0005-4d2a-9c11-000000000003',
  newsletter2222Sms: '2b3a7c1e-0005-4d2a-9c11-000000000004',
  consentAnna2222Email: '2b3a7c1e-0007-4d2a-9c11-000000000005',
  consentAnna2222Sms: '2b3a7c1e-0007-4d2a-9c11-000000000006',
  contactEva: '2b3a7c1e-0001-4d2a-9c11-000000000009',
};

type Row = Record<string, unknown>;

describe('sync rules R1–R10 against the Dataverse emulator (spawned service)', () => {
  let emu: DataverseEmulator;
  let store: ReturnType<typeof tempStore>;
  let service: ServiceProcess;
  let final: StatusEvents;

  const T = (minute: number) => `2026-11-20T10:${String(minute).padStart(2, '0')}:00Z`;
  const events: unknown[] = [
    // R1 + R8 + R10: Anna's address is a contact AND a lead; two opens, one delivered twice (R9).
    { id: 'open-1', type: 'open', mailingId: '1001', recipientId: 'anna.schmidt@example.com', timestamp: T(1) },
    { id: 'open-2', type: 'open', mailingId: '1001', recipientId: 'ANNA.Schmidt@example.com', timestamp: T(5) },
    { id: 'open-1', type: 'open', mailingId: '1001', recipientId: 'anna.schmidt@example.com', timestamp: T(1) },
    // Clicks: per link URL.
    { id: 'click-1', type: 'click', mailingId: '1001', recipientId: 'ben.keller@example.com', url: 'https://shop.example/a', timestamp: T(2) },
    { id: 'click-2', type: 'click', mailingId: '1001', recipientId: 'ben.keller@example.com', url: 'https://shop.example/b', timestamp: T(3) },
    { id: 'click-3', type: 'click', mailingId: '1001', recipientId: 'ben.keller@example.com', url: 'https://shop.example/a', timestamp: T(4) },
    { id: 'reply-1', type: 'reply', mailingId: '1001', recipientId: 'clara.wagner@example.org', timestamp: T(6) },
    { id: 'auto-1', type: 'autoresponder', mailingId: '1001', recipientId: 'clara.wagner@example.org', timestamp: T(7) },
    // R2: a mailing without crs_campaignmailing row.
    { id: 'open-x', type: 'open', mailingId: '7777', recipientId: 'ben.keller@example.com', timestamp: T(8) },
    // R3: unsubscribe of a non-campaign mailing, by list → consent created (Eva has none).
    { id: 'unsub-eva', type: 'unsubscribe', mailingId: '7777', recipientListId: '5678', recipientId: 'eva.lang@example.com', reason: 'no interest', timestamp: T(9) },
    // R3 fallback: no list → the mailing's newsletter; and a response Unsubscription (campaign mailing).
    { id: 'unsub-clara', type: 'unsubscribe', mailingId: '1001', recipientId: 'clara.wagner@example.org', timestamp: T(10) },
    // R3 last fallback: no list, mailing without newsletter → every newsletter of client 1234.
    { id: 'unsub-david', type: 'unsubscribe', mailingId: '1002', recipientId: 'david.braun@example.net', timestamp: T(11) },
    // R4: an older opt-in after Ben's opt-out of 2026-09-18 changes nothing.
    { id: 'optin-ben-old', type: 'doubleoptin', recipientListId: '5678', recipientId: 'ben.keller@example.com', timestamp: '2026-09-01T00:00:00Z' },
    // R4 tie + R8 identity: spam complaint and confirmed opt-in at the same second for contact Anna only.
    { id: 'spam-anna', type: 'spamcomplaint', recipientListId: '5678', recipientId: 'anna.schmidt@example.com', crmEntityType: 'contact', crmEntityId: I.contactAnna, timestamp: T(20) },
    { id: 'optin-anna', type: 'confirmedoptin', recipientListId: '5678', recipientId: 'anna.schmidt@example.com', crmEntityType: 'contact', crmEntityId: I.contactAnna, timestamp: T(20) },
    // R5: outbounce from client 1234 reaches Anna's Email consents of both clients and the lead's, not SMS.
    { id: 'outbounce-anna', type: 'outbounce', recipientId: 'anna.schmidt@example.com', timestamp: T(30) },
    // R5 local counting: 3 hard bounces of Clara (no REST credentials configured).
    { id: 'b1', type: 'bounce', category: 'hardbounce', mailingId: '1001', recipientId: 'clara.wagner@example.org', timestamp: T(31) },
    { id: 'b2', type: 'bounce', category: 'hardbounce', mailingId: '1001', recipientId: 'clara.wagner@example.org', timestamp: T(32) },
    { id: 'b3', type: 'bounce', category: 'hardbounce', mailingId: '1002', recipientId: 'clara.wagner@example.org', timestamp: T(33) },
    // R7: stored, not written.
    { id: 'sent-1', type: 'sent', mailingId: '1001', recipientId: 'ben.keller@example.com', timestamp: T(0) },
    // R8: nobody has this address.
    { id: 'open-nobody', type: 'open', mailingId: '1001', recipientId: 'nobody@example.com', timestamp: T(12) },
  ];

  beforeAll(async () => {
    const seed = demoSeed();
    seed.contact!.push({ contactid: EXTRA.contactEva, firstname: 'Eva', lastname: 'Lang', fullname: 'Eva Lang', emailaddress1: 'eva.lang@example.com' });
    seed.crs_campaignclient!.push({ crs_campaignclientid: EXTRA.client2222, crs_name: 'Client 2222', crs_clientid: '2222' });
    seed.crs_newsletter!.push(
      { crs_newsletterid: EXTRA.newsletter2222Email, crs_name: '2222 news', _crs_campaignclientid_value: EXTRA.client2222, crs_recipientlistid: '9000', crs_channel: CHANNEL.Email },
      { crs_newsletterid: EXTRA.newsletter2222Sms, crs_name: '2222 SMS', _crs_campaignclientid_value: EXTRA.client2222, crs_channel: CHANNEL.SMS },
    );
    seed.crs_advertisingconsent!.push(
      { crs_advertisingconsentid: EXTRA.consentAnna2222Email, crs_name: 'Anna – 2222 news', _crs_contactid_value: I.contactAnna, _crs_newsletterid_value: EXTRA.newsletter2222Email, crs_status: CONSENT_STATUS.OptedIn, crs_outbounce: false },
      { crs_advertisingconsentid: EXTRA.consentAnna2222Sms, crs_name: 'Anna – 2222 SMS', _crs_contactid_value: I.contactAnna, _crs_newsletterid_value: EXTRA.newsletter2222Sms, crs_status: CONSENT_STATUS.OptedIn, crs_outbounce: false },
    );
    emu = await startDataverseEmulator({ seed });
    store = tempStore();
    service = await spawnService(emu, store.url);
    // Two requests: Campaign sends a list per request; the duplicate crosses request boundaries.
    const first = await postEvents(service, '1234', events.slice(0, 10));
    const second = await postEvents(service, '1234', events.slice(10));
    expect(first.accepted + second.accepted).toBe(events.length - 1);
    expect(first.duplicates + second.duplicates).toBe(1);
    final = await settle(service, (e) => e.unmatched === 1 && e.applied + e.ignored + e.unmatched === e.received);
  }, 90_000);

  afterAll(async () => {
    await service?.stop();
    await emu?.close();
    store?.remove();
  });

  const responses = () => emu.rows('campaignresponse');
  const partyOf = (r: Row) => emu.rows('activityparty').filter((p) => p._activityid_value === r.activityid);
  const consents = () => emu.rows('crs_advertisingconsent');
  const consentOf = (personColumn: '_crs_contactid_value' | '_crs_leadid_value', personId: string, newsletterId: string) =>
    consents().filter((c) => c[personColumn] === personId && c._crs_newsletterid_value === newsletterId);
  const historyOf = (consentId: unknown) => emu.rows('crs_optinhistory').filter((h) => h._crs_advertisingconsentid_value === consentId);

  it('outcomes: applied, ignored (R2, R7, low bounces), unmatched (R8); nothing dead-lettered', () => {
    expect(final).toMatchObject({ received: 20, deadLetter: 0, unmatched: 1, quarantined: 0 });
    // ignored: open of mailing 7777, sent, bounces b1/b2 at most (b3 or a later one crosses the threshold)
    expect(final.ignored).toBeGreaterThanOrEqual(2);
  });

  it('R1/R8/R9/R10: the shared address gives the contact and the lead one Open each, counted twice, not three times', () => {
    const opens = responses().filter((r) => r.category === 'Open');
    expect(opens).toHaveLength(2);
    const parties = opens.map((r) => partyOf(r));
    expect(parties.map((p) => p.map((x) => `${x.participationtypemask}:${x._partyid_value}`)).flat().sort())
      .toEqual([`11:${I.contactAnna}`, `11:${I.leadAnna}`].sort());
    for (const r of opens) {
      expect(r).toMatchObject({
        subject: 'Open: Spring mailing 1001', channeltypecode: 1, crs_clientid: '1234', crs_mailingid: '1001', crs_eventcount: 2,
        _regardingobjectid_value: I.campaignSpring, emailaddress: 'anna.schmidt@example.com',
      });
      expect(Date.parse(String(r.receivedon))).toBe(Date.parse(T(1)));
      expect(Date.parse(String(r.crs_lastoccurredon))).toBe(Date.parse(T(5)));
      expect(r.responsecode ?? null).toBeNull();
      expect(String(r.crs_responsekey)).toMatch(/^1234\|1001\|(contact|lead):[0-9a-f-]{36}\|Open$/);
    }
  });

  it('R10: clicks are one response per link URL, with the link and response code Interested', () => {
    const clicks = responses().filter((r) => r.category === 'Click').sort((a, b) => String(a.subcategory).localeCompare(String(b.subcategory)));
    expect(clicks.map((r) => [r.subcategory, r.crs_linkurl, r.crs_eventcount, r.responsecode])).toEqual([
      ['https://shop.example/a', 'https://shop.example/a', 2, 1],
      ['https://shop.example/b', 'https://shop.example/b', 1, 1],
    ]);
    expect(clicks.every((r) => partyOf(r)[0]?._partyid_value === I.contactBen)).toBe(true);
  });

  it('R1: reply (Interested), autoresponder (no code), unsubscription (Do Not Send Marketing Materials)', () => {
    const byCategory = (c: string) => responses().filter((r) => r.category === c);
    expect(byCategory('Reply').map((r) => r.responsecode)).toEqual([1]);
    expect(byCategory('Autoresponder').map((r) => r.responsecode ?? null)).toEqual([null]);
    const unsub = byCategory('Unsubscription');
    // Clara (mailing 1001) and David (mailing 1002, Autumn campaign); Eva's was not a campaign mailing.
    expect(unsub.map((r) => [r.crs_mailingid, r.responsecode, r._regardingobjectid_value]).sort()).toEqual([
      ['1001', 3, I.campaignSpring], ['1002', 3, I.campaignAutumn],
    ]);
  });

  it('R2: no response for the mailing without campaign-management row', () => {
    expect(responses().filter((r) => r.crs_mailingid === '7777')).toEqual([]);
  });

  it('R3: unsubscribe creates the missing consent, opted out, with an opt-out entry; no other consent touched', () => {
    const [eva] = consentOf('_crs_contactid_value', EXTRA.contactEva, I.newsletterEmail);
    expect(eva).toMatchObject({ crs_status: CONSENT_STATUS.OptedOut });
    expect(historyOf(eva?.crs_advertisingconsentid)).toEqual([expect.objectContaining({
      crs_entrytype: ENTRY_TYPE.OptOut, crs_source: ENTRY_SOURCE.CampaignUnsubscribe, crs_mailingid: '7777', crs_reason: 'no interest',
    })]);
    expect(consents().filter((c) => c._crs_contactid_value === EXTRA.contactEva)).toHaveLength(1);
    // Fallback: Clara's unsubscribe without list → the newsletter of mailing 1001 only.
    expect(consents().filter((c) => c._crs_contactid_value === I.contactClara).map((c) => c._crs_newsletterid_value)).toEqual([I.newsletterEmail]);
    // Last fallback: David's without list, mailing 1002 has no newsletter → every newsletter of client 1234.
    expect(consents().filter((c) => c._crs_leadid_value === I.leadDavid).map((c) => c._crs_newsletterid_value).sort())
      .toEqual([I.newsletterEmail, I.newsletterSms].sort());
    // Ben's SMS consent is untouched by anything.
    expect(historyOf(I.consentBenSms)).toHaveLength(1);
  });

  it('R4: an older opt-in does not override a newer opt-out; an opt-out wins a tie', () => {
    const [ben] = consentOf('_crs_contactid_value', I.contactBen, I.newsletterEmail);
    expect(ben).toMatchObject({ crs_status: CONSENT_STATUS.OptedOut });
    expect(Date.parse(String(ben?.crs_statuschangedon))).toBe(Date.parse('2026-09-18T17:40:00Z'));
    expect(historyOf(I.consentBenEmail).map((h) => h.crs_entrytype).sort()).toEqual([ENTRY_TYPE.OptIn, ENTRY_TYPE.OptIn, ENTRY_TYPE.OptOut].sort());

    const [anna] = consentOf('_crs_contactid_value', I.contactAnna, I.newsletterEmail);
    expect(anna).toMatchObject({ crs_status: CONSENT_STATUS.OptedOut });
    expect(Date.parse(String(anna?.crs_statuschangedon))).toBe(Date.parse(T(20)));
    expect(historyOf(I.consentAnnaEmail).map((h) => h.crs_source).sort()).toEqual(
      [ENTRY_SOURCE.CampaignDoubleOptIn, ENTRY_SOURCE.CampaignSpamComplaint, ENTRY_SOURCE.CampaignConfirmedOptIn].sort(),
    );
    // R8 identity: the lead with the same address got no entry.
    expect(historyOf(I.consentLeadAnnaEmail)).toHaveLength(1);
  });

  it('R5: outbounce on every Email consent of every person with the address, across clients, never SMS', () => {
    const byId = (id: string) => consents().find((c) => c.crs_advertisingconsentid === id);
    for (const id of [I.consentAnnaEmail, I.consentLeadAnnaEmail, EXTRA.consentAnna2222Email]) {
      expect(byId(id), id).toMatchObject({ crs_outbounce: true });
      expect(Date.parse(String(byId(id)?.crs_outbounceon))).toBe(Date.parse(T(30)));
    }
    expect(byId(EXTRA.consentAnna2222Sms)).toMatchObject({ crs_outbounce: false });
    // Local counting: 3 hard bounces → Clara's Email consent, dated by the first bounce of the series.
    const [clara] = consentOf('_crs_contactid_value', I.contactClara, I.newsletterEmail);
    expect(clara).toMatchObject({ crs_outbounce: true });
    expect(Date.parse(String(clara?.crs_outbounceon))).toBe(Date.parse(T(31)));
    // Ben had no outbounce.
    expect(byId(I.consentBenEmail)).toMatchObject({ crs_outbounce: false });
  });

  it('R8: the unmatched event is kept, visible to the admin API', async () => {
    const res = await fetch(`${service.url}/admin/events?state=unmatched`, { headers: { authorization: 'Bearer e2e-admin-token' } });
    const body = JSON.stringify(await res.json());
    expect(body).toContain('nobody@example.com');
  });

  it('R8 + replay: once the contact exists in CRM, POST /admin/replay applies the unmatched event', async () => {
    emu.seed({ contact: [{ contactid: '2b3a7c1e-0001-4d2a-9c11-00000000000a', fullname: 'No Body', emailaddress1: 'Nobody@Example.com' }] });
    const admin = { authorization: 'Bearer e2e-admin-token', 'content-type': 'application/json' };
    // A "not found" is cached only briefly (negative TTL): replay until the worker sees the new contact.
    let events: StatusEvents | undefined;
    for (let i = 0; i < 40; i++) {
      const res = await fetch(`${service.url}/admin/replay`, { method: 'POST', headers: admin, body: JSON.stringify({ state: 'unmatched' }) });
      expect(res.status).toBe(200);
      events = await settle(service, (e) => e.unmatched + e.applied + e.ignored === e.received);
      if (events.unmatched === 0) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(events).toMatchObject({ unmatched: 0, deadLetter: 0 });
    const opens = responses().filter((r) => r.category === 'Open' && partyOf(r)[0]?._partyid_value === '2b3a7c1e-0001-4d2a-9c11-00000000000a');
    expect(opens).toHaveLength(1);
  }, 60_000);

  it('/metrics counts outcomes per type and /admin/status shows the sync task', async () => {
    const text = await (await fetch(`${service.url}/metrics`)).text();
    expect(text).toMatch(/crs_events_total\{type="open",outcome="applied"\} [1-9]/);
    expect(text).toMatch(/crs_events_total\{type="open",outcome="unmatched"\} [1-9]/);
    expect(text).toMatch(/crs_oldest_pending_age_seconds 0/);
    expect(JSON.stringify(await status(service))).toContain('"sync"');
  });
});
