/**
 * Campaign responses of one person: the Web API queries and the pure shaping of their rows
 * (grouping by campaign, newest first; totals per category). Names come from the schema model.
 */
import { campaign, campaignResponse, RESPONSE_CATEGORIES, type ResponseCategory } from '../../../solution/model/tables.js';
import type { Row } from '../shared/data-client.js';
import { col, FORMATTED, num, str } from '../shared/format.js';
import type { PanelRecord } from '../shared/host.js';

export const RESPONSE_ENTITY = campaignResponse.logicalName;
const C = {
  id: campaignResponse.primaryIdAttribute,
  subject: col(campaignResponse, 'subject'),
  category: col(campaignResponse, 'category'),
  count: col(campaignResponse, 'crs_eventcount'),
  receivedOn: col(campaignResponse, 'receivedon'),
  lastOn: col(campaignResponse, 'crs_lastoccurredon'),
  link: col(campaignResponse, 'crs_linkurl'),
  mailing: col(campaignResponse, 'crs_mailingid'),
  regarding: col(campaignResponse, 'regardingobjectid'),
} as const;
const CAMPAIGN_NAME = campaign.primaryNameAttribute;

/** Single-valued navigation property of the polymorphic regarding lookup, for target campaign. */
export const REGARDING_CAMPAIGN_NAV = `${C.regarding}_${campaign.logicalName}_${campaignResponse.logicalName}`;
/** Collection-valued navigation property from the activity to its activity parties. */
export const PARTIES_NAV = `${campaignResponse.logicalName}_activity_parties`;
/** activityparty.participationtypemask of the customer party. */
export const CUSTOMER_MASK = 11;
export const DEFAULT_PAGE_SIZE = 50;

export const CATEGORY_VALUES: readonly ResponseCategory[] = RESPONSE_CATEGORIES.map((c) => c.value);

export function isResponseCategory(value: unknown): value is ResponseCategory {
  return typeof value === 'string' && (CATEGORY_VALUES as readonly string[]).includes(value);
}

function customerFilter(record: PanelRecord): string {
  return `${PARTIES_NAV}/any(p:p/_partyid_value eq ${record.id} and p/participationtypemask eq ${CUSTOMER_MASK})`;
}

/** First page of this person's responses (optionally one category), newest first. */
export function responsesQuery(record: PanelRecord, category?: ResponseCategory): string {
  const select = [C.id, C.subject, C.category, C.count, C.receivedOn, C.lastOn, C.link, C.mailing, `_${C.regarding}_value`].join(',');
  const filter = customerFilter(record) + (category ? ` and ${C.category} eq '${category}'` : '');
  return `?$select=${select}&$expand=${REGARDING_CAMPAIGN_NAV}($select=${CAMPAIGN_NAME})&$filter=${filter}&$orderby=${C.lastOn} desc,${C.receivedOn} desc`;
}

/**
 * Totals per category over all of the person's responses (not only loaded pages): a FetchXML
 * aggregate — responses per category, the sum of crs_eventcount and how many rows have a count
 * (a response without a count is one event).
 */
export function totalsQuery(record: PanelRecord): string {
  const xml =
    `<fetch aggregate="true"><entity name="${RESPONSE_ENTITY}">` +
    `<attribute name="${C.category}" groupby="true" alias="category"/>` +
    `<attribute name="${C.id}" aggregate="count" alias="responses"/>` +
    `<attribute name="${C.count}" aggregate="sum" alias="eventsum"/>` +
    `<attribute name="${C.count}" aggregate="countcolumn" alias="withcount"/>` +
    `<link-entity name="activityparty" from="activityid" to="${C.id}" link-type="inner">` +
    `<filter><condition attribute="partyid" operator="eq" value="${record.id}"/>` +
    `<condition attribute="participationtypemask" operator="eq" value="${CUSTOMER_MASK}"/></filter>` +
    `</link-entity></entity></fetch>`;
  return `?fetchXml=${encodeURIComponent(xml)}`;
}

export interface ResponseRow {
  id: string;
  subject?: string;
  category: string;
  eventCount: number;
  firstOn?: string;
  firstOnFormatted?: string;
  lastOn?: string;
  lastOnFormatted?: string;
  linkUrl?: string;
  mailingId?: string;
  campaignId?: string;
  campaignName?: string;
}

export function toResponseRow(row: Row): ResponseRow {
  const campaignRow = row[REGARDING_CAMPAIGN_NAV];
  const campaignName = campaignRow && typeof campaignRow === 'object' ? str(campaignRow as Row, CAMPAIGN_NAME) : undefined;
  const regardingId = str(row, `_${C.regarding}_value`);
  const firstOn = str(row, C.receivedOn);
  const lastOn = str(row, C.lastOn) ?? firstOn;
  const lastFormatted = str(row, C.lastOn) ? str(row, C.lastOn + FORMATTED) : str(row, C.receivedOn + FORMATTED);
  const out: ResponseRow = {
    id: str(row, C.id) ?? '',
    category: str(row, C.category) ?? '',
    eventCount: num(row, C.count) ?? 1,
  };
  const optional: Partial<ResponseRow> = {
    subject: str(row, C.subject),
    firstOn,
    firstOnFormatted: str(row, C.receivedOn + FORMATTED),
    lastOn,
    lastOnFormatted: lastFormatted,
    linkUrl: str(row, C.link),
    mailingId: str(row, C.mailing),
    campaignId: regardingId,
    campaignName: campaignName ?? str(row, `_${C.regarding}_value${FORMATTED}`),
  };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) (out as unknown as Record<string, unknown>)[k] = v;
  return out;
}

function time(iso: string | undefined): number {
  const t = iso ? Date.parse(iso) : NaN;
  return Number.isNaN(t) ? -Infinity : t;
}

export interface CampaignGroup {
  key: string;
  campaignId?: string;
  campaignName?: string;
  rows: ResponseRow[];
}

/** Groups by campaign; groups and rows newest first (by last occurrence). */
export function groupByCampaign(rows: readonly ResponseRow[]): CampaignGroup[] {
  const groups = new Map<string, CampaignGroup>();
  for (const r of rows) {
    const key = r.campaignId ?? '';
    let g = groups.get(key);
    if (!g) {
      g = { key, rows: [], ...(r.campaignId ? { campaignId: r.campaignId } : {}), ...(r.campaignName ? { campaignName: r.campaignName } : {}) };
      groups.set(key, g);
    }
    if (!g.campaignName && r.campaignName) g.campaignName = r.campaignName;
    g.rows.push(r);
  }
  const list = [...groups.values()];
  for (const g of list) g.rows.sort((a, b) => time(b.lastOn) - time(a.lastOn));
  list.sort((a, b) => time(b.rows[0]?.lastOn) - time(a.rows[0]?.lastOn));
  return list;
}

export interface CategoryTotal {
  category: ResponseCategory;
  responses: number;
  events: number;
}

function emptyTotals(): Map<ResponseCategory, CategoryTotal> {
  return new Map(CATEGORY_VALUES.map((category) => [category, { category, responses: 0, events: 0 }]));
}

/** Totals from the aggregate query's rows (one per category present). */
export function totalsFromAggregate(rows: readonly Row[]): CategoryTotal[] {
  const totals = emptyTotals();
  for (const row of rows) {
    const category = row.category;
    if (!isResponseCategory(category)) continue;
    const responses = num(row, 'responses') ?? 0;
    const eventSum = num(row, 'eventsum') ?? 0;
    const withCount = num(row, 'withcount') ?? 0;
    totals.set(category, { category, responses, events: eventSum + Math.max(0, responses - withCount) });
  }
  return [...totals.values()];
}

/** Totals over loaded rows (fallback when the aggregate query is unavailable). */
export function totalsFromRows(rows: readonly ResponseRow[]): CategoryTotal[] {
  const totals = emptyTotals();
  for (const r of rows) {
    if (!isResponseCategory(r.category)) continue;
    const t = totals.get(r.category)!;
    t.responses += 1;
    t.events += r.eventCount;
  }
  return [...totals.values()];
}
