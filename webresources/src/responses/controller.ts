/**
 * State of the campaign responses panel: loads the first page and the totals, pages on with
 * "load more", re-queries on a category filter. All I/O goes through PanelDataClient; results of
 * superseded requests (an older filter) are dropped.
 */
import type { ResponseCategory } from '../../../solution/model/tables.js';
import { nextPageQuery, toPanelDataError } from '../shared/data-client.js';
import type { PanelRecord } from '../shared/host.js';
import type { StringKey } from '../shared/i18n.js';
import { PanelController, type PanelState } from '../shared/panel-state.js';
import {
  groupByCampaign,
  RESPONSE_ENTITY,
  responsesQuery,
  toResponseRow,
  totalsFromAggregate,
  totalsFromRows,
  totalsQuery,
  type CampaignGroup,
  type CategoryTotal,
  type ResponseRow,
} from './model.js';

export type ResponsesState = PanelState<{
  kind: 'ready';
  rows: ResponseRow[];
  groups: CampaignGroup[];
  totals: CategoryTotal[];
  /** false: the aggregate query failed, totals count loaded rows only. */
  totalsExact: boolean;
  filter?: ResponseCategory;
  hasMore: boolean;
  loadingMore: boolean;
  /** A new filter is being loaded; the old rows stay visible meanwhile. */
  refreshing: boolean;
  moreError?: string;
}>;

/** The message a ready state shows instead of rows, if any. */
export function responsesMessage(state: ResponsesState): StringKey | undefined {
  if (state.kind !== 'ready' || state.rows.length > 0) return undefined;
  return state.filter ? 'responsesEmptyFiltered' : 'responsesEmpty';
}

export class ResponsesController extends PanelController<Extract<ResponsesState, { kind: 'ready' }>> {
  private filter: ResponseCategory | undefined;
  private totals: { list: CategoryTotal[]; exact: boolean } | undefined;

  /** Loads totals and the first page for the current filter. */
  async load(): Promise<void> {
    if (!this.record) return this.set({ kind: 'noRecord' });
    const record = this.record;
    const generation = ++this.generation;
    const prev = this.state;
    if (prev.kind === 'ready') {
      const { filter: _previousFilter, ...rest } = prev;
      this.set({ ...rest, refreshing: true, ...(this.filter ? { filter: this.filter } : {}) });
    } else this.set({ kind: 'loading' });
    try {
      const totalsPromise = this.totals ? Promise.resolve(this.totals) : this.loadTotals(record);
      const page = await this.client.retrieveMultiple(RESPONSE_ENTITY, responsesQuery(record, this.filter), this.pageSize);
      const totals = await totalsPromise;
      if (generation !== this.generation) return;
      const rows = page.entities.map(toResponseRow);
      this.nextLink = page.nextLink;
      this.set(this.ready(rows, totals ?? { list: totalsFromRows(rows), exact: false }));
    } catch (err) {
      if (generation !== this.generation) return;
      const e = toPanelDataError(err);
      this.set(e.kind === 'forbidden' ? { kind: 'forbidden' } : { kind: 'error', message: e.message });
    }
  }

  private async loadTotals(record: PanelRecord): Promise<{ list: CategoryTotal[]; exact: boolean } | undefined> {
    try {
      const page = await this.client.retrieveMultiple(RESPONSE_ENTITY, totalsQuery(record), 50);
      this.totals = { list: totalsFromAggregate(page.entities), exact: true };
      return this.totals;
    } catch {
      return undefined; // the rows query reports the error; totals fall back to loaded rows
    }
  }

  private ready(rows: ResponseRow[], totals: { list: CategoryTotal[]; exact: boolean }, extra: { loadingMore?: boolean; moreError?: string } = {}): ResponsesState {
    return {
      kind: 'ready',
      rows,
      groups: groupByCampaign(rows),
      totals: totals.exact ? totals.list : totalsFromRows(rows),
      totalsExact: totals.exact,
      ...(this.filter ? { filter: this.filter } : {}),
      hasMore: this.nextLink !== undefined,
      loadingMore: extra.loadingMore ?? false,
      refreshing: false,
      ...(extra.moreError ? { moreError: extra.moreError } : {}),
    };
  }

  /** Appends the next page; keeps the loaded rows on failure. */
  async loadMore(): Promise<void> {
    const state = this.state;
    if (state.kind !== 'ready' || !this.nextLink || state.loadingMore) return;
    const generation = this.generation;
    const totals = this.totals ?? { list: state.totals, exact: false };
    this.set(this.ready(state.rows, totals, { loadingMore: true }));
    try {
      const page = await this.client.retrieveMultiple(RESPONSE_ENTITY, nextPageQuery(this.nextLink), this.pageSize);
      if (generation !== this.generation) return;
      this.nextLink = page.nextLink;
      this.set(this.ready([...state.rows, ...page.entities.map(toResponseRow)], totals));
    } catch (err) {
      if (generation !== this.generation) return;
      const e = toPanelDataError(err);
      if (e.kind === 'forbidden') return this.set({ kind: 'forbidden' });
      this.set(this.ready(state.rows, totals, { moreError: e.message }));
    }
  }

  /** Shows one category (server-side filter, back to the first page) or all (undefined). */
  async setFilter(category: ResponseCategory | undefined): Promise<void> {
    if (category === this.filter && this.state.kind === 'ready') return;
    this.filter = category;
    this.nextLink = undefined;
    await this.load();
  }
}
