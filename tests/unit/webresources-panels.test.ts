/// <reference types="xrm" />
/**
 * The two panels' controllers over a stubbed Xrm.WebApi (xrm-mock): the queries they send, data
 * loading, paging ("load more" with nextLink), the category filter and totals, the R4 verdict
 * computed from the history (stale stored status, ties), and the empty / error / 403 states.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ClientContextMock, ContextMock, UserSettingsMock, XrmMockGenerator } from 'xrm-mock';
import { CONSENT_STATUS, ENTRY_SOURCE } from '../../solution/model/tables.js';
import { xrmWebApiClient } from '../../webresources/src/shared/data-client.js';
import { ResponsesController, responsesMessage, type ResponsesState } from '../../webresources/src/responses/controller.js';
import { groupByCampaign, PARTIES_NAV, REGARDING_CAMPAIGN_NAV, toResponseRow, totalsFromAggregate } from '../../webresources/src/responses/model.js';
import { OptInController, optInMessage, type OptInState } from '../../webresources/src/optin/controller.js';
import { consentsQuery, HISTORY_NAV, HISTORY_PREVIEW, toConsentCard, type ConsentCard } from '../../webresources/src/optin/model.js';
import { consentRow, historyRow, manyResponses, PERSON_ID, sampleConsents, sampleResponses, type HistorySpec, type Row } from '../browser/fixtures/data.js';

const contact = { id: PERSON_ID, entityType: 'contact' as const };

interface Call { entity: string; options: string; maxPageSize: number | undefined }

/** Stubs Xrm.WebApi.retrieveMultipleRecords over fixture rows: category filter, fetchXml aggregate, paging. */
function stubWebApi(rowsByEntity: Record<string, Row[]>, fail?: (call: Call) => unknown): Call[] {
  const calls: Call[] = [];
  vi.spyOn(Xrm.WebApi, 'retrieveMultipleRecords').mockImplementation((async (entity: string, options = '', maxPageSize?: number): Promise<{ entities: Row[]; nextLink?: string }> => {
    const call = { entity, options, maxPageSize };
    calls.push(call);
    const error = fail?.(call);
    if (error) throw error;
    let rows = rowsByEntity[entity] ?? [];
    if (options.startsWith('?fetchXml=')) {
      const counts = new Map<string, Row>();
      for (const r of rows) {
        const t = counts.get(String(r.category)) ?? { category: r.category, responses: 0, eventsum: 0, withcount: 0 };
        (t.responses as number)++;
        if (typeof r.crs_eventcount === 'number') { (t.eventsum as number) += r.crs_eventcount; (t.withcount as number)++; }
        counts.set(String(r.category), t);
      }
      return { entities: [...counts.values()] };
    }
    const category = /category eq '(\w+)'/.exec(options)?.[1];
    if (category) rows = rows.filter((r) => r.category === category);
    const consent = /_crs_advertisingconsentid_value eq ([0-9a-f-]+)/.exec(options)?.[1];
    if (consent) rows = rows.filter((r) => r._consent === consent);
    const offset = Number(/\$skiptoken=(\d+)/.exec(options)?.[1] ?? 0);
    const size = maxPageSize ?? 5000;
    const page = rows.slice(offset, offset + size);
    const rest = options.replace(/&?\$skiptoken=\d+/, '');
    return offset + size < rows.length ? { entities: page, nextLink: `https://org/api/data/v9.2/x${rest}${rest.includes('?') ? '&' : '?'}$skiptoken=${offset + size}` } : { entities: page };
  }) as unknown as Xrm.WebApi['retrieveMultipleRecords']);
  return calls;
}

beforeEach(() => {
  const userSettings = new UserSettingsMock({ isGuidedHelpEnabled: false, isHighContrastEnabled: false, isRTL: false, userId: '{00000000-0000-0000-0000-000000000001}', userName: 'marketer', languageId: 1033 });
  XrmMockGenerator.initialise({ entity: { entityName: 'contact', id: `{${PERSON_ID}}` }, context: new ContextMock({ userSettings: userSettings as unknown as Xrm.UserSettings, clientContext: new ClientContextMock('Web', 'Online') }) });
});
afterEach(() => vi.restoreAllMocks());

function responses(pageSize = 50): { controller: ResponsesController; states: ResponsesState[] } {
  const states: ResponsesState[] = [];
  const controller = new ResponsesController(xrmWebApiClient(Xrm.WebApi), contact, pageSize, (s) => states.push(s));
  return { controller, states };
}

function ready(state: ResponsesState): Extract<ResponsesState, { kind: 'ready' }> {
  if (state.kind !== 'ready') throw new Error(`expected ready, got ${state.kind}`);
  return state;
}

describe('campaign responses panel', () => {
  it('queries responses through the customer activity party, expands the campaign name, pages with maxPageSize', async () => {
    const calls = stubWebApi({ campaignresponse: sampleResponses() });
    const { controller, states } = responses(50);
    await controller.load();
    expect(states[0]).toEqual({ kind: 'loading' });
    const rowsCall = calls.find((c) => !c.options.startsWith('?fetchXml='))!;
    expect(rowsCall.entity).toBe('campaignresponse');
    expect(rowsCall.maxPageSize).toBe(50);
    expect(rowsCall.options).toContain(`$filter=${PARTIES_NAV}/any(p:p/_partyid_value eq ${PERSON_ID} and p/participationtypemask eq 11)`);
    expect(rowsCall.options).toContain(`$expand=${REGARDING_CAMPAIGN_NAV}($select=name)`);
    expect(REGARDING_CAMPAIGN_NAV).toBe('regardingobjectid_campaign_campaignresponse');
    expect(rowsCall.options).toContain('$orderby=crs_lastoccurredon desc,receivedon desc');
    const agg = calls.find((c) => c.options.startsWith('?fetchXml='))!;
    const xml = decodeURIComponent(agg.options.slice('?fetchXml='.length));
    expect(xml).toContain(`<condition attribute="partyid" operator="eq" value="${PERSON_ID}"/>`);
    expect(xml).toContain('aggregate="true"');
  });

  it('groups by campaign, newest first, with totals per category from the aggregate', async () => {
    stubWebApi({ campaignresponse: sampleResponses() });
    const { controller } = responses();
    await controller.load();
    const s = ready(controller.current);
    expect(s.groups.map((g) => g.campaignName)).toEqual(['Autumn Newsletter', 'Spring Sale 2026']);
    expect(s.groups[0]!.rows.map((r) => r.category)).toEqual(['Click', 'Reply', 'Autoresponder', 'Open']);
    expect(s.totalsExact).toBe(true);
    expect(s.totals).toEqual([
      { category: 'Open', responses: 2, events: 5 },
      { category: 'Click', responses: 2, events: 5 },
      { category: 'Reply', responses: 1, events: 1 },
      { category: 'Autoresponder', responses: 1, events: 1 },
      { category: 'Unsubscription', responses: 1, events: 1 },
    ]);
    expect(s.hasMore).toBe(false);
    expect(s.rows[1]).toMatchObject({ category: 'Click', eventCount: 2, linkUrl: 'https://shop.example.com/spring?utm_source=campaign', firstOn: '2026-03-02T08:17:00Z', lastOn: '2026-03-04T12:00:00Z', campaignName: 'Spring Sale 2026' });
  });

  it('pages: "load more" requests the nextLink query, appends, and stops at the end', async () => {
    const calls = stubWebApi({ campaignresponse: manyResponses(120) });
    const { controller, states } = responses(50);
    await controller.load();
    expect(ready(controller.current).rows).toHaveLength(50);
    expect(ready(controller.current).hasMore).toBe(true);
    await controller.loadMore();
    expect(states.some((s) => s.kind === 'ready' && s.loadingMore)).toBe(true);
    expect(calls.at(-1)!.options).toMatch(/^\?\$select=.*\$skiptoken=50$/);
    expect(calls.at(-1)!.maxPageSize).toBe(50);
    await controller.loadMore();
    const s = ready(controller.current);
    expect(s.rows).toHaveLength(120);
    expect(new Set(s.rows.map((r) => r.id)).size).toBe(120);
    expect(s.hasMore).toBe(false);
    const before = calls.length;
    await controller.loadMore();
    expect(calls.length).toBe(before); // nothing more to read
  });

  it('filters by category on the server and keeps the totals of all categories', async () => {
    const calls = stubWebApi({ campaignresponse: sampleResponses() });
    const { controller, states } = responses();
    await controller.load();
    await controller.setFilter('Click');
    expect(states.some((s) => s.kind === 'ready' && s.refreshing)).toBe(true);
    expect(calls.at(-1)!.options).toContain(" and category eq 'Click'");
    const s = ready(controller.current);
    expect(s.filter).toBe('Click');
    expect(s.rows.map((r) => r.category)).toEqual(['Click', 'Click']);
    expect(s.totals.find((t) => t.category === 'Open')!.responses).toBe(2);
    expect(calls.filter((c) => c.options.startsWith('?fetchXml='))).toHaveLength(1); // totals read once
    await controller.setFilter(undefined);
    expect(ready(controller.current).rows).toHaveLength(7);
    expect(ready(controller.current).filter).toBeUndefined();
  });

  it('shows the empty state, and a filtered empty state', async () => {
    stubWebApi({ campaignresponse: [] });
    const { controller } = responses();
    await controller.load();
    expect(responsesMessage(controller.current)).toBe('responsesEmpty');
    await controller.setFilter('Reply');
    expect(responsesMessage(controller.current)).toBe('responsesEmptyFiltered');
  });

  it('shows no-permission on a privilege error (403), an error with the message otherwise', async () => {
    stubWebApi({}, () => ({ errorCode: 0x80040220, message: 'Principal user is missing prvReadActivity privilege' }));
    const denied = responses();
    await denied.controller.load();
    expect(denied.controller.current).toEqual({ kind: 'forbidden' });

    vi.restoreAllMocks();
    stubWebApi({}, () => ({ errorCode: 0x80060891, message: 'Service unavailable' }));
    const failed = responses();
    await failed.controller.load();
    expect(failed.controller.current).toEqual({ kind: 'error', message: 'Service unavailable' });
  });

  it('falls back to totals of loaded rows when the aggregate query fails', async () => {
    stubWebApi({ campaignresponse: sampleResponses() }, (c) => (c.options.startsWith('?fetchXml=') ? { message: 'aggregate not allowed' } : undefined));
    const { controller } = responses();
    await controller.load();
    const s = ready(controller.current);
    expect(s.totalsExact).toBe(false);
    expect(s.totals.find((t) => t.category === 'Open')).toEqual({ category: 'Open', responses: 2, events: 5 });
  });

  it('keeps loaded rows when "load more" fails, and says why', async () => {
    let failNext = false;
    stubWebApi({ campaignresponse: manyResponses(60) }, (c) => (failNext && c.options.includes('$skiptoken') ? { message: 'timeout' } : undefined));
    const { controller } = responses(50);
    await controller.load();
    failNext = true;
    await controller.loadMore();
    const s = ready(controller.current);
    expect(s.rows).toHaveLength(50);
    expect(s.moreError).toBe('timeout');
    expect(s.hasMore).toBe(true);
  });

  it('says "no record" on an unsaved form and reads nothing', async () => {
    const calls = stubWebApi({});
    const c = new ResponsesController(xrmWebApiClient(Xrm.WebApi), undefined, 50, () => undefined);
    await c.load();
    expect(c.current).toEqual({ kind: 'noRecord' });
    expect(calls).toHaveLength(0);
  });

  it('shapes rows: missing count is one event, missing last occurrence is the first, unknown category stays text', () => {
    const row = toResponseRow({ activityid: 'x', category: 'Phone', receivedon: '2026-01-01T00:00:00Z', [REGARDING_CAMPAIGN_NAV]: null, _regardingobjectid_value: null });
    expect(row).toEqual({ id: 'x', category: 'Phone', eventCount: 1, firstOn: '2026-01-01T00:00:00Z', lastOn: '2026-01-01T00:00:00Z' });
    expect(groupByCampaign([row])[0]!.key).toBe('');
    // Dataverse's formatted values (user time zone and format) are kept for display
    const F = '@OData.Community.Display.V1.FormattedValue';
    const formatted = toResponseRow({
      activityid: 'y', category: 'Open', receivedon: '2026-01-01T00:00:00Z', [`receivedon${F}`]: '01.01.2026 01:00',
      crs_lastoccurredon: '2026-01-02T00:00:00Z', [`crs_lastoccurredon${F}`]: '02.01.2026 01:00',
      _regardingobjectid_value: 'c1', [`_regardingobjectid_value${F}`]: 'Winter Campaign',
    });
    expect(formatted).toMatchObject({ firstOnFormatted: '01.01.2026 01:00', lastOnFormatted: '02.01.2026 01:00', campaignId: 'c1', campaignName: 'Winter Campaign' });
    expect(totalsFromAggregate([{ category: 'Open', responses: 3, eventsum: 10, withcount: 2 }, { category: '<x>', responses: 9 }])[0]).toEqual({ category: 'Open', responses: 3, events: 11 });
  });
});

function optin(pageSize = 50): { controller: OptInController; states: OptInState[] } {
  const states: OptInState[] = [];
  const controller = new OptInController(xrmWebApiClient(Xrm.WebApi), contact, pageSize, (s) => states.push(s));
  return { controller, states };
}

function readyOptIn(state: OptInState): Extract<OptInState, { kind: 'ready' }> {
  if (state.kind !== 'ready') throw new Error(`expected ready, got ${state.kind}`);
  return state;
}

function card(history: HistorySpec[], storedStatus: number = CONSENT_STATUS.OptedIn): ConsentCard {
  return toConsentCard(consentRow(1, { newsletter: 'N', client: 'C', clientId: '1', channel: 583000000, storedStatus, history }));
}

describe('R4 verdict in the opt-in panel (computed from the history)', () => {
  const src = ENTRY_SOURCE.Crm;
  it.each([
    ['the latest entry wins', [{ type: 'in', on: '2026-01-01T00:00:00Z', source: src }, { type: 'out', on: '2026-02-01T00:00:00Z', source: src }], 'optout', '2026-02-01T00:00:00Z'],
    ['an older entry arriving later does not win', [{ type: 'in', on: '2026-03-01T00:00:00Z', source: src }, { type: 'out', on: '2026-02-01T00:00:00Z', source: src }], 'optin', '2026-03-01T00:00:00Z'],
    ['an opt-out wins a tie', [{ type: 'in', on: '2026-03-01T00:00:00Z', source: src }, { type: 'out', on: '2026-03-01T00:00:00Z', source: src }], 'optout', '2026-03-01T00:00:00Z'],
    ['no history → none', [], 'none', undefined],
  ] as const)('%s', (_name, history, state, decidedAt) => {
    const c = card([...history]);
    expect(c.verdict.state).toBe(state);
    expect(c.verdict.decidingEntry?.occurredOn).toBe(decidedAt);
    // history is shown newest first
    const times = c.history.map((e) => Date.parse(e.occurredOn));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
  });

  it('flags a stale stored status and ignores entries without a valid time or type', () => {
    const stale = card([{ type: 'out', on: '2026-02-01T00:00:00Z', source: src }], CONSENT_STATUS.OptedIn);
    expect(stale.verdict.state).toBe('optout');
    expect(stale.stale).toBe(true);
    expect(card([{ type: 'out', on: '2026-02-01T00:00:00Z', source: src }], CONSENT_STATUS.OptedOut).stale).toBe(false);
    const row = consentRow(2, { newsletter: 'N', client: 'C', clientId: '1', channel: 583000000, storedStatus: CONSENT_STATUS.OptedIn, history: [] });
    row[HISTORY_NAV] = [{ crs_entrytype: 583000001, crs_occurredon: null }, { crs_entrytype: 42, crs_occurredon: '2026-01-01T00:00:00Z' }];
    const c = toConsentCard(row);
    expect(c.history).toEqual([]);
    expect(c.verdict.state).toBe('none');
    expect(c.stale).toBe(false);
  });

  it('counts an opted-out stored status at its date as an entry, as the consent gate does; an opted-in status is no evidence', () => {
    const withStatus = (status: number, changedOn: string) => {
      const row = consentRow(3, { newsletter: 'N', client: 'C', clientId: '1', channel: 583000000, storedStatus: status, history: [{ type: 'in', on: '2026-10-01T00:00:00Z', source: src }] });
      row.crs_statuschangedon = changedOn;
      row['crs_statuschangedon@OData.Community.Display.V1.FormattedValue'] = '01.12.2026';
      return toConsentCard(row);
    };
    // Imported opted out on Dec 1, then an older opt-in entry arrived: still opted out, since Dec 1.
    const imported = withStatus(CONSENT_STATUS.OptedOut, '2026-12-01T00:00:00Z');
    expect(imported.verdict.state).toBe('optout');
    expect(imported.verdict.decidingEntry).toMatchObject({ occurredOn: '2026-12-01T00:00:00Z', occurredOnFormatted: '01.12.2026' });
    expect(imported.stale).toBe(false);
    // An opt-out status older than the opt-in entry: the entry decides (and the stored status is stale).
    const older = withStatus(CONSENT_STATUS.OptedOut, '2026-09-01T00:00:00Z');
    expect([older.verdict.state, older.stale]).toEqual(['optin', true]);
    expect(withStatus(CONSENT_STATUS.OptedIn, '2026-12-01T00:00:00Z').verdict.decidingEntry?.occurredOn).toBe('2026-10-01T00:00:00Z');
  });
});

describe('opt-in history panel', () => {
  it('queries the consents of a contact (or lead) with newsletter, client and a bounded, ordered history', () => {
    const q = consentsQuery(contact);
    expect(q).toContain(`$filter=_crs_contactid_value eq ${PERSON_ID}`);
    expect(q).toContain('$expand=crs_newsletterid($select=crs_name,crs_channel;$expand=crs_campaignclientid($select=crs_name,crs_clientid))');
    expect(q).toContain(`crs_advertisingconsent_crs_optinhistory($select=`);
    expect(q).toContain(`$orderby=crs_occurredon desc,crs_entrytype desc;$top=${HISTORY_PREVIEW})`);
    expect(consentsQuery({ id: PERSON_ID, entityType: 'lead' })).toContain(`$filter=_crs_leadid_value eq ${PERSON_ID}`);
  });

  it('loads consent cards with the verdict, outbounce and stale flag', async () => {
    const calls = stubWebApi({ crs_advertisingconsent: sampleConsents() });
    const { controller, states } = optin(50);
    await controller.load();
    expect(states[0]).toEqual({ kind: 'loading' });
    expect(calls[0]).toMatchObject({ entity: 'crs_advertisingconsent', maxPageSize: 50 });
    const s = readyOptIn(controller.current);
    expect(s.cards.map((c) => [c.newsletterName, c.clientName, c.verdict.state, c.outbounce, c.stale])).toEqual([
      ['Weekly Deals', 'Retail DE', 'optout', false, true],
      ['Product News', 'Retail AT', 'optin', true, false],
      ['SMS Alerts', 'Retail DE', 'none', false, false],
    ]);
    expect(s.cards[1]!.outbounceOn).toBe('2026-09-30T06:00:00Z');
    expect(optInMessage(s)).toBeUndefined();
  });

  it('pages consents with "load more"', async () => {
    const many = Array.from({ length: 7 }, (_, i) => consentRow(i + 1, { newsletter: `N${i}`, client: 'C', clientId: '1', channel: 583000000, storedStatus: CONSENT_STATUS.OptedIn, history: [] }));
    const calls = stubWebApi({ crs_advertisingconsent: many });
    const { controller } = optin(3);
    await controller.load();
    expect(readyOptIn(controller.current).cards).toHaveLength(3);
    await controller.loadMore();
    await controller.loadMore();
    expect(readyOptIn(controller.current).cards.map((c) => c.newsletterName)).toEqual(['N0', 'N1', 'N2', 'N3', 'N4', 'N5', 'N6']);
    expect(readyOptIn(controller.current).hasMore).toBe(false);
    expect(calls.map((c) => c.maxPageSize)).toEqual([3, 3, 3]);
  });

  it('loads a long history on demand, paged, replacing the preview', async () => {
    const spec: HistorySpec[] = Array.from({ length: 130 }, (_, i) => ({ type: i % 2 ? 'out' : 'in', on: new Date(Date.UTC(2025, 0, 1) + i * 86_400_000).toISOString(), source: ENTRY_SOURCE.Import }));
    const consent = consentRow(1, { newsletter: 'Long', client: 'C', clientId: '1', channel: 583000000, storedStatus: CONSENT_STATUS.OptedOut, history: [] });
    const all = spec.map((h, i) => ({ ...historyRow(1, i, h), _consent: consent.crs_advertisingconsentid })).reverse();
    consent[HISTORY_NAV] = all.slice(0, HISTORY_PREVIEW);
    const calls = stubWebApi({ crs_advertisingconsent: [consent], crs_optinhistory: all });
    const { controller } = optin();
    await controller.load();
    const id = String(consent.crs_advertisingconsentid);
    let c = readyOptIn(controller.current).cards[0]!;
    expect(c.history).toHaveLength(HISTORY_PREVIEW);
    expect(c.historyHasMore).toBe(true);
    expect(c.verdict.state).toBe('optout'); // day 129 is an opt-out: the preview holds the deciding entry
    await controller.loadMoreHistory(id);
    expect(calls.at(-1)).toMatchObject({ entity: 'crs_optinhistory', maxPageSize: 100 });
    expect(calls.at(-1)!.options).toContain(`$filter=_crs_advertisingconsentid_value eq ${id}`);
    c = readyOptIn(controller.current).cards[0]!;
    expect(c.history).toHaveLength(100);
    await controller.loadMoreHistory(id);
    c = readyOptIn(controller.current).cards[0]!;
    expect(c.history).toHaveLength(130);
    expect(c.historyHasMore).toBe(false);
    expect(c.verdict.decidingEntry?.occurredOn).toBe(spec[129]!.on);
  });

  it('shows empty, 403 and error states', async () => {
    stubWebApi({ crs_advertisingconsent: [] });
    const empty = optin();
    await empty.controller.load();
    expect(optInMessage(empty.controller.current)).toBe('optinEmpty');

    vi.restoreAllMocks();
    stubWebApi({}, () => ({ status: 403, message: 'Forbidden' }));
    const denied = optin();
    await denied.controller.load();
    expect(denied.controller.current).toEqual({ kind: 'forbidden' });

    vi.restoreAllMocks();
    stubWebApi({}, () => new TypeError('Failed to fetch'));
    const failed = optin();
    await failed.controller.load();
    expect(failed.controller.current).toEqual({ kind: 'error', message: 'Failed to fetch' });
  });
});
