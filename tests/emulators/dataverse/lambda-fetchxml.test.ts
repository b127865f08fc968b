/** Lambda `any`/`all` in $filter and the FetchXML subset over HTTP, on campaign responses with their activity parties. */
import { beforeEach, describe, expect, it } from 'vitest';
import { DEMO_IDS } from './demo-seed.js';
import { useDemoHarness } from './helpers.js';

const h = useDemoHarness();
const I = DEMO_IDS;

const id = (n: number): string => `5e1d0000-0000-4000-8000-${String(n).padStart(12, '0')}`;
const ANNA_OPEN = id(1);
const ANNA_CLICK = id(2);
const ANNA_OPEN_NO_COUNT = id(3);
const BEN_OPEN = id(4);
const LEAD_ANNA_REPLY = id(5);
const NO_PARTIES = id(6);

interface ResponseSpec { id: string; category: string; count?: number; customer?: { set: 'contacts' | 'leads'; id: string } }
const RESPONSES: ResponseSpec[] = [
  { id: ANNA_OPEN, category: 'Open', count: 3, customer: { set: 'contacts', id: I.contactAnna } },
  { id: ANNA_CLICK, category: 'Click', count: 2, customer: { set: 'contacts', id: I.contactAnna } },
  { id: ANNA_OPEN_NO_COUNT, category: 'Open', customer: { set: 'contacts', id: I.contactAnna } },
  { id: BEN_OPEN, category: 'Open', count: 5, customer: { set: 'contacts', id: I.contactBen } },
  { id: LEAD_ANNA_REPLY, category: 'Reply', count: 1, customer: { set: 'leads', id: I.leadAnna } },
  { id: NO_PARTIES, category: 'Open', count: 7 },
];

beforeEach(async () => {
  for (const r of RESPONSES) {
    const body: Record<string, unknown> = { activityid: r.id, subject: `${r.category} ${r.id}`, category: r.category };
    if (r.count !== undefined) body.crs_eventcount = r.count;
    if (r.customer) {
      const nav = r.customer.set === 'contacts' ? 'partyid_contact' : 'partyid_lead';
      body.campaignresponse_activity_parties = [{ participationtypemask: 11, [`${nav}@odata.bind`]: `/${r.customer.set}(${r.customer.id})` }];
    }
    const res = await h.api('POST', 'campaignresponses', { body });
    expect(res.status, res.text).toBe(204);
  }
  // Anna is also a party of Ben's response, as To Recipient (mask 2): not its customer. The Web API
  // refuses that mask on a campaign response (strictPartyMasks), so it is seeded in stored form.
  h.emu.seed({ activityparty: [{ _activityid_value: BEN_OPEN, _partyid_value: I.contactAnna, '_partyid_value@Microsoft.Dynamics.CRM.lookuplogicalname': 'contact', participationtypemask: 2 }] });
});

const ids = (json: { value: Record<string, unknown>[] }, key = 'activityid'): string[] => json.value.map((r) => String(r[key])).sort();

describe('lambda any/all in $filter', () => {
  const parties = 'campaignresponse_activity_parties';
  const cases: [string, string, string[]][] = [
    ['the customer party of a contact', `${parties}/any(p:p/_partyid_value eq ${I.contactAnna} and p/participationtypemask eq 11)`, [ANNA_OPEN, ANNA_CLICK, ANNA_OPEN_NO_COUNT]],
    ['the same person as a party of another type', `${parties}/any(p:p/_partyid_value eq ${I.contactAnna} and p/participationtypemask eq 2)`, [BEN_OPEN]],
    ['any party of the person', `${parties}/any(p:p/_partyid_value eq ${I.contactAnna})`, [ANNA_OPEN, ANNA_CLICK, ANNA_OPEN_NO_COUNT, BEN_OPEN]],
    ['a lead customer', `${parties}/any(p:p/_partyid_value eq ${I.leadAnna} and p/participationtypemask eq 11)`, [LEAD_ANNA_REPLY]],
    ['with a category', `${parties}/any(p:p/_partyid_value eq ${I.contactAnna} and p/participationtypemask eq 11) and category eq 'open'`, [ANNA_OPEN, ANNA_OPEN_NO_COUNT]],
    ['all parties customers (true without parties)', `${parties}/all(p:p/participationtypemask eq 11)`, [ANNA_OPEN, ANNA_CLICK, ANNA_OPEN_NO_COUNT, LEAD_ANNA_REPLY, NO_PARTIES]],
    ['no party at all', `not ${parties}/any()`, [NO_PARTIES]],
  ];
  it.each(cases)('%s', async (_name, filter, expected) => {
    const r = await h.api('GET', `campaignresponses?$select=activityid&$filter=${encodeURIComponent(filter)}`);
    expect(r.status, r.text).toBe(200);
    expect(ids(r.json)).toEqual([...expected].sort());
  });

  it('works on any collection-valued navigation property (contacts with a consent, with an SMS consent)', async () => {
    const any = await h.api('GET', `contacts?$select=contactid&$filter=${encodeURIComponent('crs_contact_crs_advertisingconsent/any()')}`);
    expect(ids(any.json, 'contactid')).toEqual([I.contactAnna, I.contactBen].sort());
    const sms = await h.api('GET', `contacts?$select=contactid&$filter=${encodeURIComponent(`crs_contact_crs_advertisingconsent/any(c:c/_crs_newsletterid_value eq ${I.newsletterSms})`)}`);
    expect(ids(sms.json, 'contactid')).toEqual([I.contactBen]);
  });

  const errors: [string, string, RegExp][] = [
    ['a single-valued navigation property', 'campaignresponses?$filter=regardingobjectid_campaign_campaignresponse/any()', /is single-valued/],
    ['an unknown navigation property', 'campaignresponses?$filter=nothing/any()', /Could not find a property named 'nothing'/],
    ['an unknown column of the child', `campaignresponses?$filter=${encodeURIComponent(`${parties}/any(p:p/fullname eq 'x')`)}`, /Could not find a property named 'fullname' on type 'Microsoft.Dynamics.CRM.activityparty'/],
    ['inside $expand, a navigation property the child table lacks', `campaignresponses?$expand=${parties}($filter=${encodeURIComponent(`${parties}/any()`)})`, /Could not find a property named 'campaignresponse_activity_parties' on type 'Microsoft.Dynamics.CRM.activityparty'/],
    ['an outer property inside the lambda', `campaignresponses?$filter=${encodeURIComponent(`${parties}/any(p:category eq 'Open')`)}`, /only 'p\/<property>' paths/],
  ];
  it.each(errors)('%s → 400', async (_name, path, re) => {
    const r = await h.api('GET', path);
    expect(r.status).toBe(400);
    expect(r.json.error.message).toMatch(re);
  });
});

function fetchXml(xml: string, set = 'campaignresponses'): Promise<Awaited<ReturnType<typeof h.api>>> {
  return h.api('GET', `${set}?fetchXml=${encodeURIComponent(xml)}`);
}

/** The customer link of the web resource's totals query, for `person`. */
const customerLink = (person: string, mask = 11): string =>
  `<link-entity name="activityparty" from="activityid" to="activityid" link-type="inner"><filter>` +
  `<condition attribute="partyid" operator="eq" value="${person}"/><condition attribute="participationtypemask" operator="eq" value="${mask}"/>` +
  `</filter></link-entity>`;

const TOTALS = '<attribute name="category" groupby="true" alias="category"/><attribute name="activityid" aggregate="count" alias="responses"/>' +
  '<attribute name="crs_eventcount" aggregate="sum" alias="eventsum"/><attribute name="crs_eventcount" aggregate="countcolumn" alias="withcount"/>';

const byCategory = (rows: Record<string, unknown>[]): Record<string, unknown>[] => [...rows].sort((a, b) => String(a.category).localeCompare(String(b.category)));

describe('FetchXML', () => {
  const cases: [string, string, Record<string, unknown>[]][] = [
    ['totals per category of a contact (a response without a count: counted, not summed)',
      `<fetch aggregate="true"><entity name="campaignresponse">${TOTALS}${customerLink(I.contactAnna)}</entity></fetch>`,
      [{ category: 'Click', responses: 1, eventsum: 2, withcount: 1 }, { category: 'Open', responses: 2, eventsum: 3, withcount: 1 }]],
    ['totals of a lead', `<fetch aggregate="true"><entity name="campaignresponse">${TOTALS}${customerLink(I.leadAnna)}</entity></fetch>`,
      [{ category: 'Reply', responses: 1, eventsum: 1, withcount: 1 }]],
    ['the person as a party of another type', `<fetch aggregate="true"><entity name="campaignresponse">${TOTALS}${customerLink(I.contactAnna, 2)}</entity></fetch>`,
      [{ category: 'Open', responses: 1, eventsum: 5, withcount: 1 }]],
    ['nobody matches, grouped: no rows', `<fetch aggregate="true"><entity name="campaignresponse">${TOTALS}${customerLink(I.contactClara)}</entity></fetch>`, []],
    ['nobody matches, not grouped: one row, sum null', `<fetch aggregate="true"><entity name="campaignresponse"><attribute name="activityid" aggregate="count" alias="n"/><attribute name="crs_eventcount" aggregate="sum" alias="s"/>${customerLink(I.contactClara)}</entity></fetch>`,
      [{ n: 0, s: null }]],
    ['a condition on the entity (case-insensitive text) and an or-filter',
      `<fetch aggregate="true" mapping="logical"><entity name="campaignresponse"><attribute name="activityid" aggregate="count" alias="n"/><filter><condition attribute="category" operator="eq" value="open"/>` +
      `<filter type="or"><condition attribute="crs_eventcount" operator="eq" value="3"/><condition attribute="crs_eventcount" operator="eq" value="7"/></filter></filter></entity></fetch>`,
      [{ n: 2 }]],
    ['plain fetch: the selected columns plus the primary key, lookups as _x_value',
      `<fetch><entity name="activityparty"><attribute name="partyid"/><attribute name="participationtypemask"/><filter><condition attribute="activityid" operator="eq" value="${BEN_OPEN}"/><condition attribute="participationtypemask" operator="eq" value="2"/></filter></entity></fetch>`,
      [expect.objectContaining({ _partyid_value: I.contactAnna, participationtypemask: 2, activitypartyid: expect.any(String) }) as Record<string, unknown>]],
  ];
  it.each(cases)('%s', async (_name, xml, expected) => {
    const set = xml.includes('name="activityparty"><attribute') ? 'activityparties' : 'campaignresponses';
    const r = await fetchXml(xml, set);
    expect(r.status, r.text).toBe(200);
    expect(byCategory(r.json.value)).toEqual(expected);
  });

  it('an inner join counts a response once per matching party (SQL semantics), distinct plain fetch once', async () => {
    const twice = { participationtypemask: 11, 'partyid_contact@odata.bind': `/contacts(${I.contactClara})` };
    expect((await h.api('POST', 'campaignresponses', { body: { activityid: id(9), subject: 's', category: 'Open', campaignresponse_activity_parties: [twice, twice] } })).status).toBe(204);
    const totals = await fetchXml(`<fetch aggregate="true"><entity name="campaignresponse">${TOTALS}${customerLink(I.contactClara)}</entity></fetch>`);
    expect(totals.json.value).toEqual([{ category: 'Open', responses: 2, eventsum: null, withcount: 0 }]);
    const plain = await fetchXml(`<fetch distinct="true"><entity name="campaignresponse"><attribute name="subject"/>${customerLink(I.contactClara)}</entity></fetch>`);
    expect(plain.json.value).toHaveLength(1);
  });

  const errors: [string, string, RegExp][] = [
    ['another operator', `<fetch><entity name="campaignresponse"><filter><condition attribute="category" operator="ne" value="Open"/></filter></entity></fetch>`, /condition operator 'ne' is not supported/],
    ['an outer join', `<fetch><entity name="campaignresponse"><link-entity name="activityparty" from="activityid" to="activityid" link-type="outer"/></entity></fetch>`, /link-type 'outer' is not supported/],
    ['avg', `<fetch aggregate="true"><entity name="campaignresponse"><attribute name="crs_eventcount" aggregate="avg" alias="a"/></entity></fetch>`, /aggregate function 'avg' is not supported/],
    ['<order>', `<fetch><entity name="campaignresponse"><order attribute="subject"/></entity></fetch>`, /element <order> inside <entity> is not supported/],
    ['top on <fetch>', `<fetch top="5"><entity name="campaignresponse"/></fetch>`, /attribute 'top' on <fetch> is not supported/],
    ['attributes of a link-entity', `<fetch><entity name="campaignresponse"><link-entity name="activityparty" from="activityid" to="activityid"><attribute name="partyid"/></link-entity></entity></fetch>`, /element <attribute> inside <link-entity> is not supported/],
    ['an unknown column', `<fetch><entity name="campaignresponse"><attribute name="nothing"/></entity></fetch>`, /'campaignresponse' entity doesn't contain attribute with Name = 'nothing'/],
    ['an unknown column of the linked table', `<fetch><entity name="campaignresponse">${customerLink(I.contactAnna).replace('partyid', 'party')}</entity></fetch>`, /'activityparty' entity doesn't contain attribute with Name = 'party'/],
    ['an unknown linked table', `<fetch><entity name="campaignresponse"><link-entity name="email" from="activityid" to="activityid"/></entity></fetch>`, /link-entity 'email' is not a table/],
    ['another entity than the set', `<fetch><entity name="contact"/></fetch>`, /entity 'contact' does not match the entity set 'campaignresponses'/],
    ['an aggregate without alias', `<fetch aggregate="true"><entity name="campaignresponse"><attribute name="activityid" aggregate="count"/></entity></fetch>`, /needs an alias/],
    ['a plain attribute in an aggregate', `<fetch aggregate="true"><entity name="campaignresponse"><attribute name="subject" alias="s"/></entity></fetch>`, /either groupby="true" or have an aggregate, not neither/],
    ['an aggregate without aggregate="true"', `<fetch><entity name="campaignresponse"><attribute name="activityid" aggregate="count" alias="n"/></entity></fetch>`, /needs aggregate="true"/],
    ['sum of a text column', `<fetch aggregate="true"><entity name="campaignresponse"><attribute name="subject" aggregate="sum" alias="s"/></entity></fetch>`, /'sum' needs a number column/],
    ['a duplicate alias', `<fetch aggregate="true"><entity name="campaignresponse"><attribute name="activityid" aggregate="count" alias="n"/><attribute name="crs_eventcount" aggregate="sum" alias="n"/></entity></fetch>`, /alias 'n' is used twice/],
    ['a value that is not a GUID', `<fetch><entity name="campaignresponse">${customerLink('anna')}</entity></fetch>`, /value 'anna' .* is not a valid Edm.Guid/],
    ['a condition without value', `<fetch><entity name="campaignresponse"><filter><condition attribute="category" operator="eq"/></filter></entity></fetch>`, /needs a value/],
    ['malformed XML', `<fetch><entity name="campaignresponse"></fetch>`, /Invalid FetchXML/],
    ['another root element', `<query><entity name="campaignresponse"/></query>`, /root element must be <fetch>/],
  ];
  it.each(errors)('%s → 400', async (_name, xml, re) => {
    const r = await fetchXml(xml);
    expect(r.status, r.text).toBe(400);
    expect(r.json.error.message).toMatch(re);
  });

  it('rejects other query options next to fetchXml, and savedQuery/userQuery', async () => {
    const both = await h.api('GET', `campaignresponses?$select=subject&fetchXml=${encodeURIComponent('<fetch><entity name="campaignresponse"/></fetch>')}`);
    expect(both.status).toBe(400);
    expect(both.json.error.message).toMatch(/\$select cannot be combined with fetchXml/);
    const saved = await h.api('GET', `campaignresponses?savedQuery=${id(99)}`);
    expect(saved.status).toBe(400);
    expect(saved.json.error.message).toMatch(/savedQuery is not supported/);
  });
});
