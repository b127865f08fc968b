/**
 * Fidelity check: a third-party Dataverse client (dynamics-web-api) with an @azure/msal-node token
 * drives the emulator exactly as it would drive a real org — no special-casing of the client.
 */
import { DynamicsWebApi } from 'dynamics-web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_IDS } from './demo-seed.js';
import { demoSeed, startDataverseEmulator, type DataverseEmulator } from './index.js';
import { msalFor } from './helpers.js';

let emu: DataverseEmulator;
let api: DynamicsWebApi;

beforeAll(async () => {
  emu = await startDataverseEmulator({ seed: demoSeed() });
  const cca = msalFor(emu);
  api = new DynamicsWebApi({
    serverUrl: emu.url,
    dataApi: { version: '9.2' },
    onTokenRefresh: async () => {
      const r = await cca.acquireTokenByClientCredential({ scopes: [`${emu.url}/.default`] });
      return r?.accessToken ?? null;
    },
  });
});
afterAll(async () => {
  await emu.close();
});

describe('dynamics-web-api + msal-node against the emulator', () => {
  it('WhoAmI', async () => {
    const who = await api.callFunction<{ UserId: string }>('WhoAmI');
    expect(who.UserId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('create (returns the id) and retrieve', async () => {
    const id = await api.create<Record<string, unknown>, string>({ collection: 'contacts', data: { firstname: 'Greta', lastname: 'Vogel', emailaddress1: 'greta@example.com' } });
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const row = await api.retrieve<{ firstname: string; emailaddress1: string }>({ collection: 'contacts', key: id, select: ['firstname', 'emailaddress1'] });
    expect(row.firstname).toBe('Greta');
    const withRep = await api.create<Record<string, unknown>, { lastname: string; contactid: string }>({
      collection: 'contacts', data: { lastname: 'Roth' }, returnRepresentation: true, select: ['lastname'],
    });
    expect(withRep.lastname).toBe('Roth');
  });

  it('upsert by alternate key creates, then updates; ifnonematch blocks the update', async () => {
    await api.upsert({ collection: 'crs_campaignclients', key: "crs_clientid='9001'", data: { crs_name: 'Client 9001' } });
    await api.upsert({ collection: 'crs_campaignclients', key: "crs_clientid='9001'", data: { crs_description: 'updated' } });
    const rows = emu.rows('crs_campaignclient').filter((r) => r.crs_clientid === '9001');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ crs_name: 'Client 9001', crs_description: 'updated' });
    // With If-None-Match: * the client reports the existing row as null (412 swallowed by the library).
    const r = await api.upsert({ collection: 'crs_campaignclients', key: "crs_clientid='9001'", data: { crs_name: 'again' }, ifnonematch: '*' });
    expect(r).toBeNull();
    expect(emu.rows('crs_campaignclient').find((x) => x.crs_clientid === '9001')?.crs_name).toBe('Client 9001');
  });

  it('query with paging: retrieveMultiple + nextLink, retrieveAll', async () => {
    for (let i = 0; i < 12; i++) {
      await api.create({ collection: 'leads', data: { lastname: `Paging ${String(i).padStart(2, '0')}`, emailaddress1: `p${i}@paging.test` } });
    }
    const filter = "endswith(emailaddress1,'@paging.test')";
    const first = await api.retrieveMultiple<{ lastname: string }>({ collection: 'leads', select: ['lastname'], filter, orderBy: ['lastname asc'], maxPageSize: 5 });
    expect(first.value).toHaveLength(5);
    expect(first.oDataNextLink).toContain('$skiptoken=');
    const second = await api.retrieveMultiple<{ lastname: string }>({ collection: 'leads', maxPageSize: 5 }, first.oDataNextLink);
    expect(second.value.map((x) => x.lastname)).toEqual(['Paging 05', 'Paging 06', 'Paging 07', 'Paging 08', 'Paging 09']);
    const all = await api.retrieveAll<{ lastname: string }>({ collection: 'leads', select: ['lastname'], filter, maxPageSize: 5 });
    expect(all.value).toHaveLength(12);
    const counted = await api.retrieveMultiple({ collection: 'leads', filter, count: true, top: 3 });
    expect(counted.oDataCount).toBe(12);
    expect(counted.value).toHaveLength(3);
  });

  it('a batch with a change set and a Content-ID reference', async () => {
    api.startBatch();
    api.create({ collection: 'campaigns', data: { name: 'Batch campaign' }, contentId: '1' });
    api.create({ collection: 'crs_campaignmailings', data: { crs_name: 'Batch mailing', crs_mailingid: '7007', 'crs_campaignid@odata.bind': '$1', 'crs_campaignclientid@odata.bind': `/crs_campaignclients(${DEMO_IDS.client1234})` } });
    api.retrieveMultiple({ collection: 'crs_campaignclients', select: ['crs_clientid'], inChangeSet: false });
    const results = await api.executeBatch();
    expect(results).toHaveLength(3);
    const mailing = emu.rows('crs_campaignmailing').find((r) => r.crs_mailingid === '7007')!;
    const campaign = emu.rows('campaign').find((r) => r.name === 'Batch campaign')!;
    expect(mailing._crs_campaignid_value).toBe(campaign.campaignid);
    expect(results[0]).toBe(campaign.campaignid);
  });

  it('a failing change set rolls back and surfaces a Dataverse error', async () => {
    api.startBatch();
    api.create({ collection: 'campaigns', data: { name: 'Rolled back' } });
    api.create({ collection: 'contacts', data: { contactid: DEMO_IDS.contactAnna, lastname: 'duplicate' } });
    await expect(api.executeBatch()).rejects.toBeDefined();
    expect(emu.rows('campaign').some((r) => r.name === 'Rolled back')).toBe(false);
  });

  it('a campaign response with a customer party (deep insert), read back with $expand', async () => {
    const id = await api.create<Record<string, unknown>, string>({
      collection: 'campaignresponses',
      data: {
        subject: 'Click: Spring mailing', category: 'Click', subcategory: 'https://example.com/offer', channeltypecode: 1, responsecode: 1,
        receivedon: '2026-11-20T10:11:12Z', emailaddress: 'anna.schmidt@example.com', crs_clientid: '1234', crs_mailingid: '1001', crs_eventcount: 1,
        'regardingobjectid_campaign_campaignresponse@odata.bind': `/campaigns(${DEMO_IDS.campaignSpring})`,
        campaignresponse_activity_parties: [{ participationtypemask: 11, 'partyid_contact@odata.bind': `/contacts(${DEMO_IDS.contactAnna})` }],
      },
    });
    const cr = await api.retrieve<Record<string, unknown> & { campaignresponse_activity_parties: Record<string, unknown>[] }>({
      collection: 'campaignresponses', key: id, select: ['subject', '_regardingobjectid_value'],
      expand: [{ property: 'campaignresponse_activity_parties', select: ['participationtypemask', '_partyid_value'] }],
    });
    expect(cr._regardingobjectid_value).toBe(DEMO_IDS.campaignSpring);
    expect(cr.campaignresponse_activity_parties).toEqual([expect.objectContaining({ participationtypemask: 11, _partyid_value: DEMO_IDS.contactAnna })]);
    const parties = await api.retrieveMultiple({ collection: 'activityparties', filter: `_activityid_value eq ${id}` });
    expect(parties.value).toHaveLength(1);
  });

  it('surfaces Dataverse errors (status and code) to the client', async () => {
    const err = await api.create({ collection: 'contacts', data: { firstname: 'x'.repeat(51) } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400, code: '0x80044331' });
  });
});
