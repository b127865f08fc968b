/**
 * The Campaign side's Dataverse reads against the Dataverse emulator's OData engine (in-process):
 * the reconciliation's clients and 30-day mailings (createdon filter), and the consent gate
 * (R6) through GET /admin/eligibility.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DataverseClient, DataverseRow } from '../../service/dataverse/types.js';
import { dataverseDirectory } from '../../service/campaign/directory.js';
import { readEligibility } from '../../service/campaign/eligibility.js';
import { registerEligibilityRoute } from '../../service/campaign/eligibility-route.js';
import { CONSENT_STATUS, ENTRY_SOURCE, ENTRY_TYPE } from '../../solution/model/index.js';
import { Engine } from '../emulators/dataverse/engine.js';
import { buildSchema } from '../emulators/dataverse/schema.js';
import { DEMO_IDS, demoSeed } from '../emulators/dataverse/demo-seed.js';

/** DataverseClient reads over the emulator's engine; every query goes through its OData parser. */
function engineReader(engine: Engine): Pick<DataverseClient, 'query' | 'retrieve'> & { queries: string[] } {
  const queries: string[] = [];
  return {
    queries,
    async query(entitySet, query) {
      queries.push(`${entitySet}?${query}`);
      const r = engine.handle({ method: 'GET', path: entitySet, query, headers: {}, body: '' });
      if (r.status !== 200) throw new Error(`Dataverse query ${entitySet} failed: HTTP ${r.status} ${JSON.stringify(r.body)}`);
      return (r.body as { value: DataverseRow[] }).value;
    },
    async retrieve(entitySet, id, select) {
      const r = engine.handle({ method: 'GET', path: `${entitySet}(${id})`, query: select ? `$select=${select.join(',')}` : '', headers: {}, body: '' });
      if (r.status === 404) return null;
      if (r.status !== 200) throw new Error(`Dataverse retrieve ${entitySet} failed: HTTP ${r.status}`);
      return r.body as DataverseRow;
    },
  };
}

const I = DEMO_IDS;
const NOW = Date.parse('2026-11-26T12:00:00Z');
const daysAgo = (d: number) => new Date(NOW - d * 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
const CLIENT_5555 = '3c000000-0000-4000-8000-000000000001';
const CONSENT_TIE = '3c000000-0000-4000-8000-000000000010';
const CONSENT_OUTBOUNCE = '3c000000-0000-4000-8000-000000000011';
const ADMIN = 'admin-secret-token';

let engine: Engine;
let reader: ReturnType<typeof engineReader>;
let app: FastifyInstance;

beforeAll(async () => {
  engine = new Engine(buildSchema(), { baseUrl: 'https://dataverse.test' });
  const seed = demoSeed();
  for (const [table, rows] of Object.entries(seed)) engine.seedRows(table, rows);
  engine.seedRows('crs_campaignclient', [{ crs_campaignclientid: CLIENT_5555, crs_name: 'Second client', crs_clientid: '5555' }]);
  engine.seedRows('crs_campaignmailing', [
    { crs_name: 'recent', crs_mailingid: '2001', _crs_campaignclientid_value: CLIENT_5555, _crs_campaignid_value: I.campaignSpring, createdon: daysAgo(29) },
    { crs_name: 'old', crs_mailingid: '2002', _crs_campaignclientid_value: CLIENT_5555, _crs_campaignid_value: I.campaignSpring, createdon: daysAgo(31) },
  ]);
  // Clara: opt-in and opt-out at the same second (tie → opt-out); lead David: outbounced, opted in.
  engine.seedRows('crs_advertisingconsent', [
    { crs_advertisingconsentid: CONSENT_TIE, crs_name: 'Clara', _crs_contactid_value: I.contactClara, _crs_newsletterid_value: I.newsletterEmail, crs_status: CONSENT_STATUS.OptedOut },
    { crs_advertisingconsentid: CONSENT_OUTBOUNCE, crs_name: 'David', _crs_leadid_value: I.leadDavid, _crs_newsletterid_value: I.newsletterEmail, crs_status: CONSENT_STATUS.OptedIn, crs_outbounce: true, crs_outbounceon: '2026-11-02T08:00:00Z' },
  ]);
  engine.seedRows('crs_optinhistory', [
    { crs_name: 'in', _crs_advertisingconsentid_value: CONSENT_TIE, crs_entrytype: ENTRY_TYPE.OptIn, crs_source: ENTRY_SOURCE.Crm, crs_occurredon: '2026-10-01T09:00:00Z' },
    { crs_name: 'out', _crs_advertisingconsentid_value: CONSENT_TIE, crs_entrytype: ENTRY_TYPE.OptOut, crs_source: ENTRY_SOURCE.CampaignSpamComplaint, crs_occurredon: '2026-10-01T09:00:00Z' },
    { crs_name: 'in', _crs_advertisingconsentid_value: CONSENT_OUTBOUNCE, crs_entrytype: ENTRY_TYPE.OptIn, crs_source: ENTRY_SOURCE.CampaignDoubleOptIn, crs_occurredon: '2026-06-01T09:00:00Z' },
  ]);
  reader = engineReader(engine);
  app = Fastify();
  registerEligibilityRoute(app, { dataverse: reader, adminToken: ADMIN });
  await app.ready();
});
afterAll(async () => {
  await app.close();
});

describe('reconciliation directory (crs_campaignclient, crs_campaignmailing)', () => {
  it('lists the client ids', async () => {
    expect(await dataverseDirectory(reader).clients()).toEqual(['1234', '5555']);
  });

  it('lists only mailings created within the window, with their client id', async () => {
    const dir = dataverseDirectory(reader);
    const recent = await dir.recentMailings(new Date(NOW - 30 * 86_400_000));
    expect(recent.filter((m) => m.clientId === '5555')).toEqual([{ clientId: '5555', mailingId: '2001' }]);
    // The demo mailings were created "now" by the emulator: inside the window.
    expect(recent.filter((m) => m.clientId === '1234').map((m) => m.mailingId).sort()).toEqual(['1001', '1002']);
    expect(reader.queries.at(-1)).toContain('$filter=createdon%20ge%202026-10-27T12%3A00%3A00Z');
  });
});

describe('consent gate (R6) on Dataverse data', () => {
  it('Ben opted out (unsubscribe of mailing 1001) → not eligible, with the date', async () => {
    const v = await readEligibility(reader, { newsletterId: I.newsletterEmail, person: { type: 'contact', id: I.contactBen } });
    expect(v.eligible).toBe(false);
    expect(v.reasons).toEqual([{
      code: 'optedOut', basis: 'history', since: '2026-09-18T17:40:00Z', source: 'Campaign unsubscribe', mailingId: '1001', reason: 'Too many emails',
      entryId: '1b3a7c1e-0008-4d2a-9c11-000000000004',
    }]);
  });

  it('Ben is still eligible for his other newsletter (SMS)', async () => {
    const v = await readEligibility(reader, { newsletterId: I.newsletterSms, person: { type: 'contact', id: I.contactBen } });
    expect(v).toMatchObject({ eligible: true, state: 'optin', consentIds: [I.consentBenSms] });
  });

  it('Anna (opted in) is eligible', async () => {
    const v = await readEligibility(reader, { newsletterId: I.newsletterEmail, person: { type: 'contact', id: I.contactAnna } });
    expect(v).toMatchObject({ eligible: true, state: 'optin', reasons: [] });
  });

  it('a tie between opt-in and opt-out → opted out', async () => {
    const v = await readEligibility(reader, { newsletterId: I.newsletterEmail, person: { type: 'contact', id: I.contactClara } });
    expect(v).toMatchObject({ eligible: false, state: 'optout', reasons: [{ code: 'optedOut', since: '2026-10-01T09:00:00Z', source: 'Campaign spam complaint' }] });
  });

  it('an outbounced lead → not eligible, with the outbounce date', async () => {
    const v = await readEligibility(reader, { newsletterId: I.newsletterEmail, person: { type: 'lead', id: I.leadDavid } });
    expect(v).toMatchObject({ eligible: false, state: 'optin', leadId: I.leadDavid, reasons: [{ code: 'outbounce', since: '2026-11-02T08:00:00Z' }] });
  });
});

describe('GET /admin/eligibility', () => {
  const get = (query: string, token: string | null = ADMIN) =>
    app.inject({ method: 'GET', url: `/admin/eligibility?${query}`, headers: token ? { authorization: `Bearer ${token}` } : {} });

  it('answers the verdict', async () => {
    const res = await get(`newsletter=${I.newsletterEmail}&contact=${I.contactBen}`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ eligible: false, contactId: I.contactBen, newsletterId: I.newsletterEmail, reasons: [{ code: 'optedOut', since: '2026-09-18T17:40:00Z' }] });
  });

  it('needs the admin token', async () => {
    expect((await get(`newsletter=${I.newsletterEmail}&contact=${I.contactBen}`, null)).statusCode).toBe(401);
    expect((await get(`newsletter=${I.newsletterEmail}&contact=${I.contactBen}`, 'wrong')).statusCode).toBe(401);
  });

  it('400 with a one-line reason for bad parameters', async () => {
    const res = await get(`newsletter=nope&contact=${I.contactBen}`);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'newsletter must be a GUID, got "nope"' });
  });

  it('404 for an unknown newsletter; not eligible (no consent) for a known newsletter without consent', async () => {
    const unknown = await get(`newsletter=3c000000-0000-4000-8000-0000000000ff&contact=${I.contactBen}`);
    expect(unknown.statusCode).toBe(404);
    const none = await get(`newsletter=${I.newsletterSms}&contact=${I.contactAnna}`);
    expect(none.statusCode).toBe(200);
    expect(none.json()).toMatchObject({ eligible: false, reasons: [{ code: 'noConsent' }] });
  });

  it('is absent without an admin token, and 503 without Dataverse', async () => {
    const off = Fastify();
    registerEligibilityRoute(off, { dataverse: reader });
    expect((await off.inject({ method: 'GET', url: `/admin/eligibility?newsletter=${I.newsletterEmail}&contact=${I.contactBen}` })).statusCode).toBe(404);
    await off.close();
    const noDv = Fastify();
    registerEligibilityRoute(noDv, { adminToken: ADMIN, unavailableReason: 'Dataverse is not configured (demo mode)' });
    const res = await noDv.inject({ method: 'GET', url: `/admin/eligibility?newsletter=${I.newsletterEmail}&contact=${I.contactBen}`, headers: { authorization: `Bearer ${ADMIN}` } });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ error: 'Dataverse is not configured (demo mode)' });
    await noDv.close();
  });
});
