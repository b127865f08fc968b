import { XMLValidator } from 'fast-xml-parser';
import { describe, expect, it } from 'vitest';
import { DEMO_IDS } from './demo-seed.js';
import { startHarness, useDemoHarness } from './helpers.js';

const h = useDemoHarness();

const CONTACT = '3f1c2b4a-5d6e-4f70-8a9b-0c1d2e3f4a5b';

describe('authentication', () => {
  it('answers 401 with WWW-Authenticate when the bearer token is missing or forged', async () => {
    const none = await fetch(`${h.emu.url}/api/data/v9.2/contacts`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe(`Bearer authorization_uri=${h.emu.authorityHost}/${h.emu.tenantId}/oauth2/authorize, resource_id=${h.emu.url}/`);
    const forged = await fetch(`${h.emu.url}/api/data/v9.2/contacts`, { headers: { Authorization: 'Bearer a.b.c' } });
    expect(forged.status).toBe(401);
  });

  it('issues client-credentials tokens only for the right secret and the environment scope', async () => {
    const tokenUrl = `${h.emu.authorityHost}/${h.emu.tenantId}/oauth2/v2.0/token`;
    const post = (form: Record<string, string>): Promise<Response> => fetch(tokenUrl, { method: 'POST', body: new URLSearchParams(form) });
    const good = await post({ grant_type: 'client_credentials', client_id: h.emu.clientId, client_secret: h.emu.clientSecret, scope: `${h.emu.url}/.default` });
    expect(good.status).toBe(200);
    const body = (await good.json()) as { token_type: string; expires_in: number; access_token: string };
    expect(body.token_type).toBe('Bearer');
    expect(body.expires_in).toBe(3600);
    const wrongSecret = await post({ grant_type: 'client_credentials', client_id: h.emu.clientId, client_secret: 'nope', scope: `${h.emu.url}/.default` });
    expect(wrongSecret.status).toBe(401);
    expect(((await wrongSecret.json()) as { error: string }).error).toBe('invalid_client');
    const wrongScope = await post({ grant_type: 'client_credentials', client_id: h.emu.clientId, client_secret: h.emu.clientSecret, scope: 'https://other.crm4.dynamics.com/.default' });
    expect(wrongScope.status).toBe(400);
  });

  it('rejects revoked tokens, so a client must fetch a new one', async () => {
    const tokenUrl = `${h.emu.authorityHost}/${h.emu.tenantId}/oauth2/v2.0/token`;
    const form = { grant_type: 'client_credentials', client_id: h.emu.clientId, client_secret: h.emu.clientSecret, scope: `${h.emu.url}/.default` };
    const t1 = ((await (await fetch(tokenUrl, { method: 'POST', body: new URLSearchParams(form) })).json()) as { access_token: string }).access_token;
    const call = (t: string): Promise<Response> => fetch(`${h.emu.url}/api/data/v9.2/WhoAmI`, { headers: { Authorization: `Bearer ${t}` } });
    expect((await call(t1)).status).toBe(200);
    h.emu.revokeTokens();
    expect((await call(t1)).status).toBe(401);
    const t2 = ((await (await fetch(tokenUrl, { method: 'POST', body: new URLSearchParams(form) })).json()) as { access_token: string }).access_token;
    expect((await call(t2)).status).toBe(200);
  });

  it('expires tokens after their lifetime', async () => {
    const short = await startHarness({ tokenLifetimeSeconds: 0 });
    try {
      const t = await short.token();
      const r = await fetch(`${short.emu.url}/api/data/v9.2/WhoAmI`, { headers: { Authorization: `Bearer ${t}` } });
      expect(r.status).toBe(401);
    } finally {
      await short.emu.close();
    }
  });
});

describe('create, retrieve, update, delete', () => {
  it('POST answers 204 with OData-EntityId, or 201 with the representation', async () => {
    const r = await h.api('POST', 'contacts', { body: { contactid: CONTACT, firstname: 'Eva', lastname: 'Lang', emailaddress1: 'eva@example.com' } });
    expect(r.status).toBe(204);
    expect(r.headers.get('odata-entityid')).toBe(`${h.emu.url}/api/data/v9.2/contacts(${CONTACT})`);
    const rep = await h.api('POST', 'contacts?$select=firstname', { body: { firstname: 'Finn' }, headers: { Prefer: 'return=representation' } });
    expect(rep.status).toBe(201);
    expect(rep.headers.get('preference-applied')).toBe('return=representation');
    expect(rep.json.firstname).toBe('Finn');
    expect(rep.json['@odata.etag']).toMatch(/^W\/"\d+"$/);
    expect(Object.keys(rep.json).sort()).toEqual(['@odata.context', '@odata.etag', 'contactid', 'firstname']);
  });

  it('GET by id returns the row with an ETag; 404 0x80040217 when missing', async () => {
    const r = await h.api('GET', `contacts(${DEMO_IDS.contactAnna})?$select=fullname,emailaddress1`);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ fullname: 'Anna Schmidt', contactid: DEMO_IDS.contactAnna });
    expect(r.headers.get('content-type')).toContain('odata.metadata=minimal');
    expect(r.headers.get('odata-version')).toBe('4.0');
    const missing = await h.api('GET', `contacts(${CONTACT})`);
    expect(missing.status).toBe(404);
    expect(missing.json.error.code).toBe('0x80040217');
  });

  it('GET with a matching If-None-Match ETag answers 304', async () => {
    const r = await h.api('GET', `contacts(${DEMO_IDS.contactAnna})`);
    const etag = r.json['@odata.etag'] as string;
    expect((await h.api('GET', `contacts(${DEMO_IDS.contactAnna})`, { headers: { 'If-None-Match': etag } })).status).toBe(304);
    expect((await h.api('GET', `contacts(${DEMO_IDS.contactAnna})`, { headers: { 'If-None-Match': 'null' } })).status).toBe(200);
  });

  it('PATCH updates (204, or 200 with representation) and bumps the ETag', async () => {
    const before = (await h.api('GET', `contacts(${DEMO_IDS.contactAnna})`)).json['@odata.etag'];
    const r = await h.api('PATCH', `contacts(${DEMO_IDS.contactAnna})`, { body: { lastname: 'Schmidt-Berg' }, headers: { 'If-Match': '*' } });
    expect(r.status).toBe(204);
    const rep = await h.api('PATCH', `contacts(${DEMO_IDS.contactAnna})?$select=lastname`, { body: { firstname: 'Anne' }, headers: { Prefer: 'return=representation' } });
    expect(rep.status).toBe(200);
    expect(rep.json.lastname).toBe('Schmidt-Berg');
    expect(rep.json['@odata.etag']).not.toBe(before);
  });

  it('DELETE answers 204, then 404', async () => {
    expect((await h.api('DELETE', `contacts(${DEMO_IDS.contactClara})`)).status).toBe(204);
    const again = await h.api('DELETE', `contacts(${DEMO_IDS.contactClara})`);
    expect(again.status).toBe(404);
    expect(again.json.error.code).toBe('0x80040217');
  });

  it('POST with an existing primary key answers 412 0x80040237', async () => {
    const r = await h.api('POST', 'contacts', { body: { contactid: DEMO_IDS.contactAnna, firstname: 'X' } });
    expect(r.status).toBe(412);
    expect(r.json.error).toEqual({ code: '0x80040237', message: 'A record with matching key values already exists.' });
  });
});

describe('queries', () => {
  it('$select, $filter with functions, $orderby and $top', async () => {
    const r = await h.api('GET', `contacts?$select=fullname&$filter=${encodeURIComponent("endswith(emailaddress1,'example.com') and not startswith(fullname,'Clara')")}&$orderby=fullname desc&$top=1`);
    expect(r.status).toBe(200);
    expect(r.json.value.map((x: { fullname: string }) => x.fullname)).toEqual(['Ben Keller']);
    expect(r.json['@odata.context']).toBe(`${h.emu.url}/api/data/v9.2/$metadata#contacts(fullname,contactid)`);
  });

  it('filters case-insensitively and by lookup _x_value', async () => {
    const r = await h.api('GET', `crs_advertisingconsents?$select=crs_name&$filter=${encodeURIComponent(`_crs_newsletterid_value eq ${DEMO_IDS.newsletterEmail} and crs_status eq 583000000`)}`);
    expect(r.json.value).toHaveLength(2);
    const ci = await h.api('GET', `leads?$filter=${encodeURIComponent("emailaddress1 eq 'ANNA.SCHMIDT@EXAMPLE.COM'")}`);
    expect(ci.json.value).toHaveLength(1);
  });

  it('rejects a quoted GUID against a Guid column like Dataverse (400)', async () => {
    const r = await h.api('GET', `crs_advertisingconsents?$filter=${encodeURIComponent(`_crs_newsletterid_value eq '${DEMO_IDS.newsletterEmail}'`)}`);
    expect(r.status).toBe(400);
    expect(r.json.error.message).toContain("incompatible types");
  });

  it('rejects $skip and unknown $select columns', async () => {
    expect((await h.api('GET', 'contacts?$skip=1')).status).toBe(400);
    const r = await h.api('GET', 'contacts?$select=nosuchcolumn');
    expect(r.status).toBe(400);
    expect(r.json.error.message).toBe("Could not find a property named 'nosuchcolumn' on type 'Microsoft.Dynamics.CRM.contact'.");
  });
});

describe('$metadata', () => {
  it('describes entity sets, keys, lookups, navigation properties and alternate keys as CSDL', async () => {
    const r = await h.api('GET', '$metadata');
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/xml');
    expect(XMLValidator.validate(r.text)).toBe(true);
    expect(r.text).toContain('<EntitySet Name="crs_campaignmailings" EntityType="Microsoft.Dynamics.CRM.crs_campaignmailing">');
    expect(r.text).toContain('<Property Name="_crs_campaignclientid_value" Type="Edm.Guid"/>');
    expect(r.text).toContain('<NavigationProperty Name="regardingobjectid_campaign_campaignresponse" Type="mscrm.campaign">');
    expect(r.text).toContain('<NavigationProperty Name="campaignresponse_activity_parties" Type="Collection(mscrm.activityparty)"/>');
    expect(r.text).toContain('<PropertyValue Property="Name" PropertyPath="crs_clientid"/>');
  });
});
