/**
 * State of the opt-in history panel: consents (paged, "load more") with a preview of each history;
 * the full history of one consent is loaded on demand, paged. I/O only through PanelDataClient.
 */
import { nextPageQuery, toPanelDataError } from '../shared/data-client.js';
import type { StringKey } from '../shared/i18n.js';
import { PanelController, type PanelState } from '../shared/panel-state.js';
import {
  CONSENT_ENTITY,
  consentsQuery,
  HISTORY_ENTITY,
  HISTORY_PAGE_SIZE,
  historyQuery,
  toConsentCard,
  toHistoryEntry,
  withHistory,
  type ConsentCard,
  type HistoryEntry,
} from './model.js';

export type OptInState = PanelState<{
  kind: 'ready';
  cards: ConsentCard[];
  hasMore: boolean;
  loadingMore: boolean;
  /** Consent ids whose history is being loaded. */
  historyLoading: string[];
  moreError?: string;
}>;

export function optInMessage(state: OptInState): StringKey | undefined {
  return state.kind === 'ready' && state.cards.length === 0 ? 'optinEmpty' : undefined;
}

export class OptInController extends PanelController<Extract<OptInState, { kind: 'ready' }>> {
  /** Per consent: the nextLink of its separately loaded history ('' = history query not started). */
  private readonly historyLinks = new Map<string, string | undefined>();

  private fail(err: unknown, keep?: Extract<OptInState, { kind: 'ready' }>): void {
    const e = toPanelDataError(err);
    if (e.kind === 'forbidden') this.set({ kind: 'forbidden' });
    else if (keep) this.set({ ...keep, loadingMore: false, historyLoading: [], moreError: e.message });
    else this.set({ kind: 'error', message: e.message });
  }

  async load(): Promise<void> {
    if (!this.record) return this.set({ kind: 'noRecord' });
    const generation = ++this.generation;
    this.historyLinks.clear();
    this.set({ kind: 'loading' });
    try {
      const page = await this.client.retrieveMultiple(CONSENT_ENTITY, consentsQuery(this.record), this.pageSize);
      if (generation !== this.generation) return;
      this.nextLink = page.nextLink;
      this.set({ kind: 'ready', cards: page.entities.map(toConsentCard), hasMore: !!page.nextLink, loadingMore: false, historyLoading: [] });
    } catch (err) {
      if (generation === this.generation) this.fail(err);
    }
  }

  async loadMore(): Promise<void> {
    const state = this.state;
    if (state.kind !== 'ready' || !this.nextLink || state.loadingMore) return;
    const generation = this.generation;
    const { moreError: _e, ...base } = state;
    this.set({ ...base, loadingMore: true });
    try {
      const page = await this.client.retrieveMultiple(CONSENT_ENTITY, nextPageQuery(this.nextLink), this.pageSize);
      if (generation !== this.generation) return;
      this.nextLink = page.nextLink;
      const current = this.state.kind === 'ready' ? this.state : base;
      this.set({ ...current, cards: [...current.cards, ...page.entities.map(toConsentCard)], hasMore: !!page.nextLink, loadingMore: false });
    } catch (err) {
      if (generation === this.generation) this.fail(err, base);
    }
  }

  /**
   * Loads (more of) one consent's history. The first call re-reads it from the start with paging
   * (the Web API has no $skip), replacing the preview; later calls follow nextLink.
   */
  async loadMoreHistory(consentId: string): Promise<void> {
    const state = this.state;
    if (state.kind !== 'ready' || state.historyLoading.includes(consentId)) return;
    const card = state.cards.find((c) => c.id === consentId);
    if (!card || !card.historyHasMore) return;
    const generation = this.generation;
    const started = this.historyLinks.has(consentId);
    const link = this.historyLinks.get(consentId);
    if (started && !link) return;
    const { moreError: _e, ...base } = state;
    this.set({ ...base, historyLoading: [...state.historyLoading, consentId] });
    try {
      const query = started && link ? nextPageQuery(link) : historyQuery(consentId);
      const page = await this.client.retrieveMultiple(HISTORY_ENTITY, query, HISTORY_PAGE_SIZE);
      if (generation !== this.generation || this.state.kind !== 'ready') return;
      this.historyLinks.set(consentId, page.nextLink);
      const entries = page.entities.map(toHistoryEntry).filter((e): e is HistoryEntry => e !== undefined);
      const cur = this.state;
      this.set({
        ...cur,
        cards: cur.cards.map((c) => (c.id === consentId ? withHistory(c, started ? [...c.history, ...entries] : entries, !!page.nextLink) : c)),
        historyLoading: cur.historyLoading.filter((id) => id !== consentId),
      });
    } catch (err) {
      if (generation === this.generation) this.fail(err, base);
    }
  }
}
