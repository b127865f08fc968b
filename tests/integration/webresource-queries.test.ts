/**
 * The campaign responses panel's two queries against the Dataverse emulator, over data the service
 * wrote itself: events go through the real `decide` and `planWrites` (service/sync/planner.ts) and
 * the plan is executed by the real HttpDataverseClient, so responses and their activity parties
 * have exactly the service's request bodies. The panel side uses its real fetch client
 * (fetchWebApiClient), `responsesQuery`/`totalsQuery` and the ResponsesController.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { campaignResponse, contact, lead, type ResponseCategory } from '../../solution/model/tables.js';
import type { NormalizedEvent } from '../../service/events.js';
import { DEFAULT_PLAN_OPTIONS, type Aggregate, type BatchFacts, type ClientRow, type MailingRow, type Person } from '../../service/sync/facts.js';
import { decide, planWrites, type DecidedEvent } from '../../service/sync/planner.js';
import { fetchWebApiClient, type FetchLike, type PanelDataClient } from '../../webresources/src/shared/data-client.js';
import { ResponsesController, type ResponsesState } from '../../webresources/src/responses/controller.js';
import { RESPONSE_ENTITY, responsesQuery, toResponseRow, totalsFromAggregate, totalsQuery, type CategoryTotal } from '../../webresources/src/responses/model.js';
import type { PanelRecord } from '../../webresources/src/shared/host.js';
import { DEMO_IDS } from '../emulators/dataverse/demo-seed.js';
import { demoSeed } from '../emulators/dataverse/index.js';
import { startHarness, type Harness } from '../emulators/dataverse/helpers.js';
import { emulatorClient } from '../e2e/helpers.js';

const I = DEMO_IDS;
const anna: Person = { type: 'contact', id: I.contactAnna, email: 'anna.schmidt@example.com' };
const leadAnna: Person = { type: 'lead', id: I.leadAnna, email: 'anna.schmidt@example.com' };
const ben: Person = { type: 'contact', id: I.contactBen, email: 'ben.keller@example.com' };
const client: ClientRow = { id: I.client1234, clientId: '1234', name: 'Demo client 1234' };
const MAILINGS: Record<string, MailingRow> = {
  '1001': { id: I.mailing1001, mailingId: '1001', clientRowId: I.client1234, name: 'Spring mailing 1001', campaignId: I.campaignSpring, newsletterId: I.newsletterEmail },
  '1002': { id: I.mailing1002, mailingId: '1002', clientRowId: I.client1234, name: 'Autumn mailing 1002', campaignId: I.campaignAutumn },
};

/** One row of the scenario: a response of `persons` made of events at `times`. */
interface Scenario { label: string; type: NormalizedEvent['type']; mailing: '1001' | '1002'; persons: Person[]; times: string[]; linkUrl?: string; withoutCount?: boolean }
const SCENARIO: Scenario[] = [
  { label: 'anna open spring', type: 'open', mailing: '1001', persons: [anna], times: ['2026-03-01T08:00:00Z', '2026-03-05T09:00:00Z', '2026-03-02T07:30:00Z'] },
  { label: 'anna click spring', type: 'click', mailing: '1001', persons: [anna], times: ['2026-03-04T10:00:00Z', '2026-03-03T10:00:00Z'], linkUrl: 'https://example.com/offer' },
  { label: 'anna reply autumn', type: 'reply', mailing: '1002', persons: [anna], times: ['2026-10-02T12:00:00Z'] },
  // One address, a contact and a lead: the service writes one response per person (R8).
  { label: 'anna+lead open autumn', type: 'open', mailing: '1002', persons: [anna, leadAnna], times: ['2026-09-15T06:00:00Z'] },
  // The service always writes crs_eventcount; a response created another way (by hand, an import) has none.
  { label: 'anna autoresponder autumn', type: 'autoresponder', mailing: '1002', persons: [anna], times: ['2026-06-01T00:00:00Z', '2026-05-01T00:00:00Z'], withoutCount: true },
  { label: 'lead click spring', type: 'click', mailing: '1001', persons: [leadAnna], times: ['2026-03-07T10:00:00Z'], linkUrl: 'https://example.com/lead' },
  { label: 'ben open spring', type: 'open', mailing: '1001', persons: [ben], times: ['2026-03-06T11:00:00Z', '2026-03-06T12:00:00Z', '2026-03-06T13:00:00Z', '2026-03-06T14:00:00Z'] },
];

let h: Harness;
/** Response id per `<scenario label>|<person id>`. */
const responseIds = new Map<string, string>();
let panelClient: PanelDataClient;

/** Decides every event of the scenario, plans all of them in one batch like the worker, and executes the plan. */
async function writeThroughService(): Promise<void> {
  const decided: DecidedEvent[] = [];
  const aggregates = new Map<string, Aggregate>();
  const withoutCount = new Set<string>();
  let n = 0;
  for (const s of SCENARIO) {
    for (const at of s.times) {
      const event: NormalizedEvent = {
        key: `nk:webresource-queries-${++n}`, type: s.type, clientId: '1234', mailingId: s.mailing, occurredAt: at, origin: 'webhook',
        email: s.persons[0]!.email, ...(s.linkUrl ? { linkUrl: s.linkUrl } : {}),
      };
      const decision = decide(event, { persons: s.persons, client, mailing: MAILINGS[s.mailing], newsletters: [] }, DEFAULT_PLAN_OPTIONS);
      if (decision.outcome !== 'apply') throw new Error(`scenario event not applied: ${decision.reason}`);
      decided.push({ eventId: event.key, decision });
      for (const r of decision.responses) {
        responseIds.set(`${s.label}|${r.person.id}`, r.id);
        if (s.withoutCount) withoutCount.add(r.id);
        // What the store's addToAggregates reports: distinct events, earliest and latest time (R10).
        const a = aggregates.get(r.id);
        aggregates.set(r.id, a
          ? { count: a.count + 1, firstAt: at < a.firstAt ? at : a.firstAt, lastAt: at > a.lastAt ? at : a.lastAt }
          : { count: 1, firstAt: at, lastAt: at });
      }
    }
  }
  const facts: BatchFacts = { consents: [], newsletters: [], responses: [], aggregates, outbouncedAddresses: new Map() };
  const plan = planWrites(decided, facts, DEFAULT_PLAN_OPTIONS);
  const service = await emulatorClient(h.emu);
  try {
    for (const phase of plan.phases) {
      for (const op of phase) if (op.method === 'create' && op.id && withoutCount.has(op.id)) delete (op.body as Record<string, unknown>).crs_eventcount;
      const results = await service.client.execute(phase);
      expect(results.filter((r) => !r.ok)).toEqual([]);
    }
  } finally {
    await service.close();
  }
}

beforeAll(async () => {
  h = await startHarness({ seed: demoSeed() });
  await writeThroughService();
  // Anna is also a party of Ben's response, as To Recipient (mask 2), e.g. added in CRM. The Web API
  // refuses that mask on campaign responses (strict masks), so the row is seeded in stored form.
  h.emu.seed({ activityparty: [{
    _activityid_value: responseIds.get(`ben open spring|${I.contactBen}`), _partyid_value: I.contactAnna,
    '_partyid_value@Microsoft.Dynamics.CRM.lookuplogicalname': 'contact', participationtypemask: 2,
  }] });
  const token = await h.token();
  const sets: Record<string, string> = { [campaignResponse.logicalName]: campaignResponse.entitySetName, [contact.logicalName]: contact.entitySetName, [lead.logicalName]: lead.entitySetName };
  const fetchFn: FetchLike = async (url, init) => fetch(url, { method: init.method, headers: { ...init.headers, Authorization: `Bearer ${token}` } });
  panelClient = fetchWebApiClient(fetchFn, (name) => sets[name]!, `${h.emu.url}/api/data/v9.2`);
}, 30_000);

afterAll(async () => {
  await h?.emu.close();
});

const annaRecord: PanelRecord = { id: I.contactAnna, entityType: 'contact' };
const leadRecord: PanelRecord = { id: I.leadAnna, entityType: 'lead' };
const idOf = (label: string, person: Person): string => responseIds.get(`${label}|${person.id}`)!;

function totalsOf(expected: Partial<Record<ResponseCategory, [number, number]>>): CategoryTotal[] {
  const all: ResponseCategory[] = ['Open', 'Click', 'Reply', 'Autoresponder', 'Unsubscription'];
  return all.map((category) => ({ category, responses: expected[category]?.[0] ?? 0, events: expected[category]?.[1] ?? 0 }));
}

describe('web resource queries against data written by the service', () => {
  it('the service wrote one customer party (mask 11) per response, plus the seeded mask-2 party', () => {
    const parties = h.emu.rows('activityparty');
    expect(parties).toHaveLength(responseIds.size + 1);
    expect(parties.filter((p) => p.participationtypemask === 11)).toHaveLength(responseIds.size);
  });

  it("responsesQuery: exactly the contact's responses, newest first (not the lead's, not Ben's where she is a To party)", async () => {
    const page = await panelClient.retrieveMultiple(RESPONSE_ENTITY, responsesQuery(annaRecord), 50);
    const rows = page.entities.map(toResponseRow);
    expect(rows.map((r) => r.id)).toEqual([
      idOf('anna reply autumn', anna), idOf('anna+lead open autumn', anna), idOf('anna autoresponder autumn', anna),
      idOf('anna open spring', anna), idOf('anna click spring', anna),
    ]);
    expect(page.nextLink).toBeUndefined();
    const openSpring = rows.find((r) => r.id === idOf('anna open spring', anna))!;
    expect(openSpring).toMatchObject({ category: 'Open', eventCount: 3, campaignName: 'Spring Newsletter 2026', firstOn: '2026-03-01T08:00:00Z', lastOn: '2026-03-05T09:00:00Z' });
    expect(rows.find((r) => r.id === idOf('anna autoresponder autumn', anna))).toMatchObject({ eventCount: 1, campaignName: 'Autumn Offers 2026' });
  });

  it('responsesQuery with a category, for a lead, and paged through nextLink', async () => {
    const open = await panelClient.retrieveMultiple(RESPONSE_ENTITY, responsesQuery(annaRecord, 'Open'), 50);
    expect(open.entities.map((r) => r.activityid)).toEqual([idOf('anna+lead open autumn', anna), idOf('anna open spring', anna)]);
    const leadRows = await panelClient.retrieveMultiple(RESPONSE_ENTITY, responsesQuery(leadRecord), 50);
    expect(leadRows.entities.map((r) => r.activityid)).toEqual([idOf('anna+lead open autumn', leadAnna), idOf('lead click spring', leadAnna)]);
    const first = await panelClient.retrieveMultiple(RESPONSE_ENTITY, responsesQuery(annaRecord), 3);
    expect(first.nextLink).toBeDefined();
    const second = await panelClient.retrieveMultiple(RESPONSE_ENTITY, first.nextLink!.slice(first.nextLink!.indexOf('?')), 3);
    expect([...first.entities, ...second.entities].map((r) => r.activityid)).toHaveLength(5);
    expect(second.entities.map((r) => r.activityid)).toEqual([idOf('anna open spring', anna), idOf('anna click spring', anna)]);
  });

  it('totalsQuery → totalsFromAggregate: per category, a response without a count is one event', async () => {
    const page = await panelClient.retrieveMultiple(RESPONSE_ENTITY, totalsQuery(annaRecord), 50);
    expect(totalsFromAggregate(page.entities)).toEqual(totalsOf({ Open: [2, 4], Click: [1, 2], Reply: [1, 1], Autoresponder: [1, 1] }));
    const leadTotals = await panelClient.retrieveMultiple(RESPONSE_ENTITY, totalsQuery(leadRecord), 50);
    expect(totalsFromAggregate(leadTotals.entities)).toEqual(totalsOf({ Open: [1, 1], Click: [1, 1] }));
    const benTotals = await panelClient.retrieveMultiple(RESPONSE_ENTITY, totalsQuery({ id: I.contactBen, entityType: 'contact' }), 50);
    expect(totalsFromAggregate(benTotals.entities)).toEqual(totalsOf({ Open: [1, 4] }));
  });

  it('the panel controller gets exact totals (the aggregate query did not fall back) and the same rows', async () => {
    const states: ResponsesState[] = [];
    const controller = new ResponsesController(panelClient, annaRecord, 50, (s) => states.push(s));
    await controller.load();
    const last = states[states.length - 1]!;
    if (last.kind !== 'ready') throw new Error(`expected ready, got ${last.kind}`);
    expect(last.totalsExact).toBe(true);
    expect(last.totals).toEqual(totalsOf({ Open: [2, 4], Click: [1, 2], Reply: [1, 1], Autoresponder: [1, 1] }));
    expect(last.rows).toHaveLength(5);
  });
});
