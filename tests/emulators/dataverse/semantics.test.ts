/** Write semantics, validation, alternate keys, binds, activity parties, expansions, annotations, bulk actions. */
import { describe, expect, it } from 'vitest';
import { CHANNEL } from '../../../solution/model/index.js';
import { DEMO_IDS } from './demo-seed.js';
import { demoSeed } from './index.js';
import { startHarness, useDemoHarness } from './helpers.js';

const h = useDemoHarness();

const NEW_ID = '6a1d9a0e-6a55-4b6c-8f2f-1d2e3f4a5b6c';
const I = DEMO_IDS;

describe('upsert and conditional headers', () => {
  it('PATCH to a missing id creates it (204 + OData-EntityId; 201 with representation), then updates (200)', async () => {
    const c = await h.api('PATCH', `contacts(${NEW_ID})`, { body: { lastname: 'Upserted' } });
    expect(c.status).toBe(204);
    expect(c.headers.get('odata-entityid')).toBe(`${h.emu.url}/api/data/v9.2/contacts(${NEW_ID})`);
    expect(h.emu.rows('contact').find((r) => r.contactid === NEW_ID)?.lastname).toBe('Upserted');
    const other = '7b2e0b1f-7b66-4c7d-9f3f-2e3f4a5b6c7d';
    const created = await h.api('PATCH', `contacts(${other})?$select=contactid`, { body: { lastname: 'Rep' }, headers: { Prefer: 'return=representation' } });
    expect(created.status).toBe(201);
    const updated = await h.api('PATCH', `contacts(${other})?$select=lastname`, { body: { lastname: 'Rep2' }, headers: { Prefer: 'return=representation' } });
    expect(updated.status).toBe(200);
    expect(updated.json.lastname).toBe('Rep2');
  });

  it('If-Match: * on a missing row → 404 0x80040217 and nothing is created', async () => {
    const r = await h.api('PATCH', `contacts(${NEW_ID})`, { body: { lastname: 'x' }, headers: { 'If-Match': '*' } });
    expect(r.status).toBe(404);
    expect(r.json.error.code).toBe('0x80040217');
    expect(r.json.error.message).toBe(`contact With Id = ${NEW_ID} Does Not Exist`);
    expect(h.emu.rows('contact').some((x) => x.contactid === NEW_ID)).toBe(false);
  });

  it('If-None-Match: * on an existing row → 412 0x80040237 and nothing changes', async () => {
    const r = await h.api('PATCH', `contacts(${I.contactAnna})`, { body: { lastname: 'x' }, headers: { 'If-None-Match': '*' } });
    expect(r.status).toBe(412);
    expect(r.json.error.code).toBe('0x80040237');
    expect(h.emu.rows('contact').find((x) => x.contactid === I.contactAnna)?.lastname).toBe('Schmidt');
  });

  it('If-Match with a stale ETag → 412 0x80060882; with the current one → 204', async () => {
    const etag = (await h.api('GET', `contacts(${I.contactBen})`)).json['@odata.etag'] as string;
    expect((await h.api('PATCH', `contacts(${I.contactBen})`, { body: { lastname: 'K1' }, headers: { 'If-Match': etag } })).status).toBe(204);
    const stale = await h.api('PATCH', `contacts(${I.contactBen})`, { body: { lastname: 'K2' }, headers: { 'If-Match': etag } });
    expect(stale.status).toBe(412);
    expect(stale.json.error.code).toBe('0x80060882');
    const del = await h.api('DELETE', `contacts(${I.contactBen})`, { headers: { 'If-Match': etag } });
    expect(del.status).toBe(412);
  });

  it('accepts and ignores If-None-Match: null on writes', async () => {
    const r = await h.api('PATCH', `contacts(${I.contactBen})`, { body: { lastname: 'N' }, headers: { 'If-None-Match': 'null' } });
    expect(r.status).toBe(204);
  });
});

describe('alternate keys', () => {
  it('addresses rows by a single key and by a key on a lookup + text', async () => {
    const one = await h.api('GET', `crs_campaignclients(crs_clientid='1234')?$select=crs_name`);
    expect(one.json.crs_name).toBe('Demo client 1234');
    const two = await h.api('GET', `crs_campaignmailings(_crs_campaignclientid_value=${I.client1234},crs_mailingid='1001')?$select=crs_name`);
    expect(two.status).toBe(200);
    expect(two.json.crs_campaignmailingid).toBe(I.mailing1001);
    const missing = await h.api('GET', `crs_campaignclients(crs_clientid='0000')`);
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe('0x80040217');
  });

  it('rejects columns that are not a key', async () => {
    const r = await h.api('GET', `crs_campaignclients(crs_name='Demo client 1234')`);
    expect(r.status).toBe(400);
    expect(r.json.error.message).toContain('The key in the request URI is not valid for resource');
  });

  it('upsert by key copies the key values into a created row and ignores them in the body on update', async () => {
    const c = await h.api('PATCH', `crs_campaignclients(crs_clientid='4321')`, { body: { crs_name: 'New client' } });
    expect(c.status).toBe(204);
    expect(c.headers.get('odata-entityid')).toBe(`${h.emu.url}/api/data/v9.2/crs_campaignclients(crs_clientid='4321')`);
    const u = await h.api('PATCH', `crs_campaignclients(crs_clientid='4321')`, { body: { crs_clientid: '9999', crs_name: 'Renamed' } });
    expect(u.status).toBe(204);
    const rows = h.emu.rows('crs_campaignclient').filter((r) => r.crs_name === 'Renamed');
    expect(rows).toEqual([expect.objectContaining({ crs_clientid: '4321' })]);
  });

  it('an upsert by a key on a lookup needs the referenced row to exist', async () => {
    const r = await h.api('PATCH', `crs_campaignmailings(_crs_campaignclientid_value=${NEW_ID},crs_mailingid='3003')`, { body: { crs_name: 'orphan' } });
    expect(r.status).toBe(404);
    expect(h.emu.rows('crs_campaignmailing').some((m) => m.crs_name === 'orphan')).toBe(false);
    const ok = await h.api('PATCH', `crs_campaignmailings(_crs_campaignclientid_value=${I.client1234},crs_mailingid='3003')`, { body: { crs_name: 'ok', 'crs_campaignid@odata.bind': `/campaigns(${I.campaignSpring})` } });
    expect(ok.status).toBe(204);
    expect(h.emu.rows('crs_campaignmailing').find((m) => m.crs_mailingid === '3003')).toMatchObject({ _crs_campaignclientid_value: I.client1234, crs_name: 'ok' });
  });

  it('a create that breaks an alternate key → 412 0x80060892, compared case-insensitively', async () => {
    const r = await h.api('POST', 'crs_campaignclients', { body: { crs_name: 'Dup', crs_clientid: '1234' } });
    expect(r.status).toBe(412);
    expect(r.json.error.code).toBe('0x80060892');
    expect(r.json.error.message).toMatch(/^Entity Key crs_clientid_key violated/);
    const m = await h.api('POST', 'crs_campaignmailings', {
      body: { crs_name: 'Dup', crs_mailingid: '1001', 'crs_campaignclientid@odata.bind': `/crs_campaignclients(${I.client1234})`, 'crs_campaignid@odata.bind': `/campaigns(${I.campaignSpring})` },
    });
    expect(m.status).toBe(412);
  });
});

describe('validation (Dataverse-shaped errors)', () => {
  it.each([
    [{ subject: 'x'.repeat(201) }, 400, '0x80044331', "A validation error occurred. The length of the 'subject' attribute of the 'campaignresponse' entity exceeded the maximum allowed length of '200'."],
    [{ channeltypecode: 7 }, 400, '0x8004431a', /outside the valid range/],
    [{ nosuch: 1 }, 400, '0x80060888', "The property 'nosuch' does not exist on type 'Microsoft.Dynamics.CRM.campaignresponse'. Make sure to only use property names that are defined by the type or mark the type as open type."],
    [{ crs_eventcount: 'three' }, 400, '0x80060888', /Edm.Int32/],
    [{ crs_eventcount: 2147483648 }, 400, '0x80040203', /outside the valid range/],
    [{ receivedon: 'yesterday' }, 400, '0x80060888', /Edm.DateTimeOffset/],
    [{ statecode: 1 }, 400, '0x80040203', /not valid for create/],
    [{ createdon: '2026-01-01T00:00:00Z' }, 400, '0x80040203', /not valid for create/],
    [{ _regardingobjectid_value: I.campaignSpring }, 400, '0x80060888', /@odata.bind/],
    [{ 'regardingobjectid_contact_campaignresponse@odata.bind': `/contacts(${I.contactAnna})` }, 400, '0x80060888', /undeclared property/],
    [{ 'regardingobjectid_campaign_campaignresponse@odata.bind': `/campaigns(${NEW_ID})` }, 404, '0x80040217', `campaign With Id = ${NEW_ID} Does Not Exist`],
    [{ campaignresponse_activity_parties: [{ participationtypemask: 2, 'partyid_contact@odata.bind': `/contacts(${I.contactAnna})` }] }, 400, '0x80040203', /participation type mask 2/],
  ])('%j → %i %s', async (body, status, code, message) => {
    const r = await h.api('POST', 'campaignresponses', { body: { subject: 'ok', ...body } });
    expect(r.status).toBe(status);
    expect(r.json.error.code).toBe(code);
    if (typeof message === 'string') expect(r.json.error.message).toBe(message);
    else expect(r.json.error.message).toMatch(message);
    expect(h.emu.rows('campaignresponse')).toHaveLength(0);
    expect(h.emu.rows('activityparty')).toHaveLength(0);
  });

  it('needs a JSON Content-Type on writes (415 otherwise)', async () => {
    const r = await h.api('POST', 'contacts', { raw: '{"lastname":"x"}', headers: { 'Content-Type': 'text/plain' } });
    expect(r.status).toBe(415);
  });

  it('stores an empty string as null and date-times in whole UTC seconds', async () => {
    await h.api('PATCH', `crs_optinhistories(${NEW_ID})`, { body: { crs_name: '', crs_occurredon: '2026-11-01T10:00:00.987+01:00' } });
    const row = h.emu.rows('crs_optinhistory').find((r) => r.crs_optinhistoryid === NEW_ID)!;
    expect(row.crs_name).toBeNull();
    expect(row.crs_occurredon).toBe('2026-11-01T09:00:00Z');
  });

  it('regardingobjectid of a campaign response is not valid for update', async () => {
    await h.api('PATCH', `campaignresponses(${NEW_ID})`, { body: { subject: 's', 'regardingobjectid_campaign_campaignresponse@odata.bind': `/campaigns(${I.campaignSpring})` } });
    const r = await h.api('PATCH', `campaignresponses(${NEW_ID})`, { body: { 'regardingobjectid_campaign_campaignresponse@odata.bind': `/campaigns(${I.campaignAutumn})` } });
    expect(r.status).toBe(400);
    expect(h.emu.rows('campaignresponse')[0]!._regardingobjectid_value).toBe(I.campaignSpring);
  });

  it('checks statuscode against statecode and keeps closed activities read-only', async () => {
    await h.api('POST', 'campaignresponses', { body: { activityid: NEW_ID, subject: 's' } });
    const bad = await h.api('PATCH', `campaignresponses(${NEW_ID})`, { body: { statecode: 1, statuscode: 1 } });
    expect(bad.status).toBe(400);
    expect((await h.api('PATCH', `campaignresponses(${NEW_ID})`, { body: { statecode: 1 } })).status).toBe(204);
    expect(h.emu.rows('campaignresponse')[0]).toMatchObject({ statecode: 1, statuscode: 2 });
    const closed = await h.api('PATCH', `campaignresponses(${NEW_ID})`, { body: { subject: 'changed' } });
    expect(closed.status).toBe(400);
  });

  it('activityparties is read-only through the Web API (405)', async () => {
    expect((await h.api('POST', 'activityparties', { body: { participationtypemask: 11 } })).status).toBe(405);
  });

  it('duplicate detection only when MSCRM.SuppressDuplicateDetection: false is sent (500 0x80040333)', async () => {
    const body = { lastname: 'Dup', emailaddress1: 'BEN.KELLER@example.com' };
    const r = await h.api('POST', 'contacts', { body, headers: { 'MSCRM.SuppressDuplicateDetection': 'false' } });
    expect(r.status).toBe(500);
    expect(r.json.error.code).toBe('0x80040333');
    expect((await h.api('POST', 'contacts', { body })).status).toBe(204);
  });

  it('can enforce ApplicationRequired columns when asked', async () => {
    const strict = await startHarness({ enforceApplicationRequired: true });
    try {
      const r = await strict.api('POST', 'crs_campaignclients', { body: { crs_name: 'no client id' } });
      expect(r.status).toBe(400);
      expect(r.json.error.message).toContain('crs_clientid');
    } finally {
      await strict.emu.close();
    }
  });
});

describe('lookups, binds and activity parties', () => {
  it('binds by GUID or alternate key, relative with or without a leading slash, or absolute', async () => {
    const r = await h.api('POST', 'crs_newsletters', {
      body: { crs_newsletterid: NEW_ID, crs_name: 'Print', crs_channel: CHANNEL.Print, 'crs_campaignclientid@odata.bind': "crs_campaignclients(crs_clientid='1234')" },
    });
    expect(r.status).toBe(204);
    expect(h.emu.rows('crs_newsletter').find((x) => x.crs_newsletterid === NEW_ID)?._crs_campaignclientid_value).toBe(I.client1234);
    const abs = await h.api('PATCH', `crs_newsletters(${NEW_ID})`, { body: { 'crs_campaignclientid@odata.bind': `${h.emu.url}/api/data/v9.2/crs_campaignclients(${I.client1234})` } });
    expect(abs.status).toBe(204);
    const cleared = await h.api('DELETE', `crs_newsletters(${NEW_ID})/crs_campaignclientid/$ref`);
    expect(cleared.status).toBe(204);
    expect(h.emu.rows('crs_newsletter').find((x) => x.crs_newsletterid === NEW_ID)?._crs_campaignclientid_value).toBeNull();
  });

  it('a bind to the wrong entity set is rejected', async () => {
    const r = await h.api('POST', 'crs_newsletters', { body: { crs_name: 'x', 'crs_campaignclientid@odata.bind': `/contacts(${I.contactAnna})` } });
    expect(r.status).toBe(400);
  });

  it('deep-inserts lead parties, exposes them via $expand, /activityparties and annotations, and deletes them with the activity', async () => {
    const r = await h.api('POST', 'campaignresponses', {
      body: {
        activityid: NEW_ID, subject: 'Open: Spring', category: 'Open', channeltypecode: 1,
        'regardingobjectid_campaign_campaignresponse@odata.bind': `/campaigns(${I.campaignSpring})`,
        campaignresponse_activity_parties: [{ participationtypemask: 11, 'partyid_lead@odata.bind': `/leads(${I.leadAnna})` }],
      },
    });
    expect(r.status).toBe(204);
    const got = await h.api('GET', `campaignresponses(${NEW_ID})?$select=subject,_regardingobjectid_value,channeltypecode&$expand=campaignresponse_activity_parties($select=_partyid_value,participationtypemask)`, {
      headers: { Prefer: 'odata.include-annotations="*"' },
    });
    expect(got.json['_regardingobjectid_value@Microsoft.Dynamics.CRM.lookuplogicalname']).toBe('campaign');
    expect(got.json['_regardingobjectid_value@Microsoft.Dynamics.CRM.associatednavigationproperty']).toBe('regardingobjectid_campaign_campaignresponse');
    expect(got.json['_regardingobjectid_value@OData.Community.Display.V1.FormattedValue']).toBe('Spring Newsletter 2026');
    expect(got.json['channeltypecode@OData.Community.Display.V1.FormattedValue']).toBe('Email');
    const party = got.json.campaignresponse_activity_parties[0];
    expect(party).toMatchObject({ _partyid_value: I.leadAnna, participationtypemask: 11, '_partyid_value@Microsoft.Dynamics.CRM.lookuplogicalname': 'lead' });
    const byFilter = await h.api('GET', `activityparties?$filter=_activityid_value eq ${NEW_ID}`);
    expect(byFilter.json.value).toHaveLength(1);
    expect((await h.api('DELETE', `campaignresponses(${NEW_ID})`)).status).toBe(204);
    expect(h.emu.rows('activityparty')).toHaveLength(0);
  });

  it('expands a collection with nested options, and a single-valued navigation property', async () => {
    const r = await h.api('GET', `crs_advertisingconsents(${I.consentBenEmail})?$select=crs_name&$expand=crs_advertisingconsent_crs_optinhistory($select=crs_entrytype,crs_occurredon;$orderby=crs_occurredon desc;$top=1),crs_newsletterid($select=crs_name)`);
    expect(r.status).toBe(200);
    expect(r.json.crs_advertisingconsent_crs_optinhistory).toEqual([expect.objectContaining({ crs_entrytype: 583000001, crs_occurredon: '2026-09-18T17:40:00Z' })]);
    expect(r.json.crs_newsletterid.crs_name).toBe('Monthly newsletter (email)');
  });

  it('filters across a single-valued navigation path', async () => {
    const r = await h.api('GET', `crs_campaignmailings?$select=crs_mailingid&$filter=${encodeURIComponent("crs_campaignid/codename eq 'AUTUMN26'")}`);
    expect(r.json.value.map((x: { crs_mailingid: string }) => x.crs_mailingid)).toEqual(['1002']);
  });

  it('reads, sets and clears a single property', async () => {
    expect((await h.api('GET', `contacts(${I.contactAnna})/lastname`)).json.value).toBe('Schmidt');
    expect((await h.api('PUT', `contacts(${I.contactAnna})/lastname`, { body: { value: 'Neu' } })).status).toBe(204);
    expect((await h.api('DELETE', `contacts(${I.contactAnna})/firstname`)).status).toBe(204);
    expect(h.emu.rows('contact').find((x) => x.contactid === I.contactAnna)).toMatchObject({ lastname: 'Neu', firstname: null });
  });
});

describe('paging and counting', () => {
  it('honours odata.maxpagesize with Preference-Applied and ignores $top then', async () => {
    const r = await h.api('GET', 'contacts?$select=fullname&$top=1', { headers: { Prefer: 'odata.maxpagesize=2' } });
    expect(r.headers.get('preference-applied')).toBe('odata.maxpagesize=2');
    expect(r.json.value).toHaveLength(2);
    const next = r.json['@odata.nextLink'] as string;
    expect(next).toMatch(/\$skiptoken=%3Ccookie%20pagenumber=%222%22/);
    const res = await fetch(next, { headers: { Authorization: `Bearer ${await h.token()}`, Prefer: 'odata.maxpagesize=2' } });
    const page2 = (await res.json()) as { value: unknown[]; '@odata.nextLink'?: string };
    expect(page2.value).toHaveLength(1);
    expect(page2['@odata.nextLink']).toBeUndefined();
  });

  it('caps $count at 5000 and flags it', async () => {
    h.emu.seed({ contacts: Array.from({ length: 5001 }, (_, i) => ({ lastname: `Bulk ${i}` })) });
    const r = await h.api('GET', 'contacts?$count=true&$select=contactid&$top=1');
    expect(r.json['@odata.count']).toBe(5000);
    expect(r.json['@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded']).toBe(true);
  });
});

describe('bulk actions', () => {
  it('CreateMultiple creates all rows atomically and returns their ids', async () => {
    const r = await h.api('POST', 'crs_optinhistories/Microsoft.Dynamics.CRM.CreateMultiple', {
      body: { Targets: [1, 2].map((n) => ({ '@odata.type': 'Microsoft.Dynamics.CRM.crs_optinhistory', crs_name: `Entry ${n}`, crs_entrytype: 583000000, crs_occurredon: '2026-11-01T00:00:00Z', 'crs_advertisingconsentid@odata.bind': `/crs_advertisingconsents(${I.consentAnnaEmail})` })) },
    });
    expect(r.status).toBe(200);
    expect(r.json.Ids).toHaveLength(2);
    const bad = await h.api('POST', 'crs_optinhistories/Microsoft.Dynamics.CRM.CreateMultiple', {
      body: { Targets: [{ '@odata.type': 'Microsoft.Dynamics.CRM.crs_optinhistory', crs_name: 'ok' }, { '@odata.type': 'Microsoft.Dynamics.CRM.crs_optinhistory', crs_reason: 'x'.repeat(401) }] },
    });
    expect(bad.status).toBe(400);
    expect(h.emu.rows('crs_optinhistory').filter((x) => x.crs_name === 'ok')).toHaveLength(0);
  });

  it('requires @odata.type on every target', async () => {
    const r = await h.api('POST', 'contacts/Microsoft.Dynamics.CRM.CreateMultiple', { body: { Targets: [{ lastname: 'x' }] } });
    expect(r.status).toBe(400);
  });

  it('UpsertMultiple creates and updates by primary key, @odata.id or alternate key (204)', async () => {
    const r = await h.api('POST', 'crs_campaignclients/Microsoft.Dynamics.CRM.UpsertMultiple', {
      body: {
        Targets: [
          { '@odata.type': 'Microsoft.Dynamics.CRM.crs_campaignclient', '@odata.id': "crs_campaignclients(crs_clientid='777')", crs_name: 'Seven' },
          { '@odata.type': 'Microsoft.Dynamics.CRM.crs_campaignclient', crs_clientid: '1234', crs_name: 'Renamed 1234' },
          { '@odata.type': 'Microsoft.Dynamics.CRM.crs_campaignclient', crs_campaignclientid: NEW_ID, crs_name: 'By id', crs_clientid: '888' },
        ],
      },
    });
    expect(r.status).toBe(204);
    const rows = h.emu.rows('crs_campaignclient');
    expect(rows.map((x) => x.crs_clientid).sort()).toEqual(['1234', '777', '888']);
    expect(rows.find((x) => x.crs_clientid === '1234')?.crs_name).toBe('Renamed 1234');
  });

  it('UpdateMultiple fails as a whole when a row is missing', async () => {
    const r = await h.api('POST', 'contacts/Microsoft.Dynamics.CRM.UpdateMultiple', {
      body: { Targets: [
        { '@odata.type': 'Microsoft.Dynamics.CRM.contact', contactid: I.contactAnna, lastname: 'Changed' },
        { '@odata.type': 'Microsoft.Dynamics.CRM.contact', contactid: NEW_ID, lastname: 'Missing' },
      ] },
    });
    expect(r.status).toBe(404);
    expect(h.emu.rows('contact').find((x) => x.contactid === I.contactAnna)?.lastname).toBe('Schmidt');
  });
});

describe('per-environment customisation and key addressing limits', () => {
  it('accepts extra alternate keys, columns and choice values declared for one org', async () => {
    const custom = await startHarness({
      customize: {
        alternateKeys: [{ table: 'campaignresponse', key: { logicalName: 'crs_responsekey_key', displayName: 'Response key', columns: ['crs_responsekey'] } }],
        choiceOptions: [{ table: 'campaignresponse', column: 'responsecode', options: [{ value: 583000000, label: 'Opened', labelDe: 'Geöffnet' }] }],
        columns: [{ table: 'contact', column: { logicalName: 'donotbulkemail', type: 'boolean', displayName: 'Do not allow bulk emails', displayNameDe: 'Keine Massen-E-Mails', description: '' } }],
      },
    });
    try {
      const r = await custom.api('PATCH', `campaignresponses(crs_responsekey='1234|1001|c|open')`, { body: { subject: 'Open', responsecode: 583000000 } });
      expect(r.status).toBe(204);
      const dup = await custom.api('POST', 'campaignresponses', { body: { subject: 'dup', crs_responsekey: '1234|1001|C|OPEN' } });
      expect(dup.status).toBe(412);
      expect(dup.json.error.code).toBe('0x80060892');
      expect((await custom.api('POST', 'contacts', { body: { lastname: 'x', donotbulkemail: true } })).status).toBe(204);
      // The default emulator has none of these.
      expect((await h.api('POST', 'contacts', { body: { lastname: 'x', donotbulkemail: true } })).status).toBe(400);
    } finally {
      await custom.emu.close();
    }
  });

  it('rejects key values with characters that break alternate-key URLs (unless switched off)', async () => {
    const r = await h.api('PATCH', `crs_campaignclients(crs_clientid='${encodeURIComponent('12/34')}')`, { body: { crs_name: 'slash' } });
    expect(r.status).toBe(400);
    expect(h.emu.rows('crs_campaignclient').some((x) => x.crs_name === 'slash')).toBe(false);
    const lenient = await startHarness({ keyCharacterBreakage: false });
    try {
      expect((await lenient.api('PATCH', `crs_campaignclients(crs_clientid='${encodeURIComponent('12+34')}')`, { body: { crs_name: 'plus' } })).status).toBe(204);
    } finally {
      await lenient.emu.close();
    }
  });
});

describe('an org without the Lead table', () => {
  it('has no leads entity set, no lead lookups and no lead parties', async () => {
    const noLead = await startHarness({ customize: { withoutTables: ['lead'] }, seed: demoSeed({ leads: false }) });
    try {
      const r = await noLead.api('GET', 'leads');
      expect(r.status).toBe(404);
      expect(r.json.error.message).toBe("Resource not found for the segment 'leads'.");
      expect((await noLead.api('GET', 'crs_advertisingconsents?$select=_crs_leadid_value')).status).toBe(400);
      expect((await noLead.api('GET', 'crs_advertisingconsents?$select=_crs_contactid_value')).json.value).toHaveLength(3);
      const party = await noLead.api('POST', 'campaignresponses', { body: { subject: 's', campaignresponse_activity_parties: [{ participationtypemask: 11, 'partyid_lead@odata.bind': `/leads(${I.leadAnna})` }] } });
      expect(party.status).toBe(400);
    } finally {
      await noLead.emu.close();
    }
  });
});

describe('query index consistency', () => {
  it('equality queries see updates, deletes and rolled-back change sets', async () => {
    const byEmail = async (e: string): Promise<string[]> =>
      (await h.api('GET', `contacts?$select=contactid&$filter=${encodeURIComponent(`emailaddress1 eq '${e}'`)}`)).json.value.map((x: { contactid: string }) => x.contactid);
    expect(await byEmail('ben.keller@example.com')).toEqual([I.contactBen]);
    await h.api('PATCH', `contacts(${I.contactBen})`, { body: { emailaddress1: 'ben@new.example' } });
    expect(await byEmail('ben.keller@example.com')).toEqual([]);
    expect(await byEmail('BEN@new.example')).toEqual([I.contactBen]);
    const r = await h.api('POST', 'contacts/Microsoft.Dynamics.CRM.UpdateMultiple', {
      body: { Targets: [
        { '@odata.type': 'Microsoft.Dynamics.CRM.contact', contactid: I.contactBen, emailaddress1: 'rolled@back.example' },
        { '@odata.type': 'Microsoft.Dynamics.CRM.contact', contactid: NEW_ID, lastname: 'missing' },
      ] },
    });
    expect(r.status).toBe(404);
    expect(await byEmail('rolled@back.example')).toEqual([]);
    expect(await byEmail('ben@new.example')).toEqual([I.contactBen]);
    const either = await h.api('GET', `contacts?$select=contactid&$filter=${encodeURIComponent(`emailaddress1 eq 'ben@new.example' or emailaddress1 eq '${'anna.schmidt@example.com'}' or lastname eq 'Wagner'`)}&$orderby=lastname`);
    expect(either.json.value.map((x: { contactid: string }) => x.contactid)).toEqual([I.contactBen, I.contactAnna, I.contactClara]);
    await h.api('DELETE', `contacts(${I.contactBen})`);
    expect(await byEmail('ben@new.example')).toEqual([]);
  });
});
