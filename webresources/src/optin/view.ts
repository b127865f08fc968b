/** Renders the opt-in history panel from its state (DOM builder only; no HTML from data). */
import { advertisingConsent, ENTRY_TYPE, newsletter, optInHistory } from '../../../solution/model/tables.js';
import { h } from '../shared/dom.js';
import { choiceLabel, formatDateTime } from '../shared/format.js';
import { messageBlock, moreButton, renderPanelFrame } from '../shared/ui.js';
import type { ViewContext } from '../responses/view.js';
import { optInMessage, type OptInState } from './controller.js';
import type { ConsentCard, HistoryEntry } from './model.js';

export interface OptInActions {
  retry(): void;
  loadMore(): void;
  loadMoreHistory(consentId: string): void;
}

function dateText(iso: string | undefined, formatted: string | undefined, v: ViewContext): string {
  return formatDateTime(iso, v.dates, formatted) ?? v.t('notAvailable');
}

function historyRow(e: HistoryEntry, v: ViewContext): HTMLTableRowElement {
  const type = choiceLabel(optInHistory, 'crs_entrytype', e.entryType === 'optin' ? ENTRY_TYPE.OptIn : ENTRY_TYPE.OptOut, v.lang);
  const source = e.sourceFormatted ?? (e.source !== undefined ? choiceLabel(optInHistory, 'crs_source', e.source, v.lang) : undefined);
  return h(
    'tr',
    { 'data-entry': e.id },
    h('td', null, h('span', { class: `crs-entry crs-entry--${e.entryType}` }, type ?? e.entryType)),
    h('td', null, h('time', { datetime: e.occurredOn }, dateText(e.occurredOn, e.occurredOnFormatted, v))),
    h('td', null, source ?? v.t('notAvailable')),
    h('td', null, e.mailingId ?? v.t('notAvailable')),
    h('td', { class: 'crs-reason' }, e.reason ?? v.t('notAvailable')),
  );
}

function stateBadge(card: ConsentCard, stored: string | undefined, v: ViewContext): HTMLElement {
  const { state, decidingEntry } = card.verdict;
  const label = state === 'optin' ? v.t('stateOptedIn') : state === 'optout' ? v.t('stateOptedOut') : v.t('stateNone');
  return h(
    'p',
    { class: 'crs-verdict', 'data-testid': 'verdict' },
    h('span', { class: `crs-badge crs-badge--${state}` }, label),
    decidingEntry ? h('span', { class: 'crs-meta' }, ' ', v.t('since', { date: dateText(decidingEntry.occurredOn, decidingEntry.occurredOnFormatted, v) })) : null,
    // without history there is no verdict to compute: show what is stored, labelled as such
    state === 'none' && stored ? h('span', { class: 'crs-meta' }, ' ', v.t('storedStatus', { stored })) : null,
  );
}

function consentCard(card: ConsentCard, index: number, state: Extract<OptInState, { kind: 'ready' }>, v: ViewContext, actions: OptInActions): HTMLElement {
  const t = v.t;
  const headingId = `crs-consent-${index}`;
  const title = card.newsletterName ?? card.name ?? t('unknownNewsletter');
  const channel = card.channel !== undefined ? choiceLabel(newsletter, 'crs_channel', card.channel, v.lang) : undefined;
  const client = card.clientName ? (card.clientId ? `${card.clientName} (${card.clientId})` : card.clientName) : card.clientId;
  const stored = card.storedStatus !== undefined ? choiceLabel(advertisingConsent, 'crs_status', card.storedStatus, v.lang) : undefined;
  const loading = state.historyLoading.includes(card.id);
  return h(
    'li',
    { class: 'crs-card-item' },
    h(
      'article',
      { class: 'crs-card', 'aria-labelledby': headingId, 'data-consent': card.id },
      h(
        'header',
        { class: 'crs-card__header' },
        h('h2', { id: headingId, class: 'crs-card__title' }, title),
        h(
          'p',
          { class: 'crs-meta' },
          client ? [t('client'), ': ', client] : null,
          client && channel ? ' · ' : null,
          channel ? [t('channel'), ': ', channel] : null,
        ),
        h(
          'div',
          { class: 'crs-badges' },
          stateBadge(card, stored, v),
          card.outbounce
            ? h('p', { class: 'crs-badge crs-badge--outbounce', 'data-testid': 'outbounce' }, card.outbounceOn || card.outbounceOnFormatted ? t('outbounceSince', { date: dateText(card.outbounceOn, card.outbounceOnFormatted, v) }) : t('outbounce'))
            : null,
        ),
        card.stale && stored ? h('p', { class: 'crs-note', role: 'note' }, t('storedStatusStale', { stored })) : null,
      ),
      card.history.length === 0
        ? h('p', { class: 'crs-meta' }, t('historyEmpty'))
        : h(
            'table',
            { class: 'crs-table' },
            h('caption', { class: 'crs-visually-hidden' }, t('historyCaption', { name: title })),
            h('thead', null, h('tr', null, ...(['colEntryType', 'colOccurredOn', 'colSource', 'colMailing', 'colReason'] as const).map((k) => h('th', { scope: 'col' }, t(k))))),
            h('tbody', null, card.history.map((e) => historyRow(e, v))),
          ),
      card.historyHasMore ? moreButton(t('loadMoreHistory'), t('loadingMore'), loading, `history-${card.id}`, () => actions.loadMoreHistory(card.id)) : null,
    ),
  );
}

export function renderOptIn(state: OptInState, v: ViewContext, actions: OptInActions): Node[] {
  const t = v.t;
  return renderPanelFrame(t, 'optinTitle', state, actions.retry, (ready) => {
    const message = optInMessage(ready);
    if (message) return [messageBlock(t(message))];
    const body: Node[] = [h('ul', { class: 'crs-cards' }, ready.cards.map((c, i) => consentCard(c, i, ready, v, actions)))];
    if (ready.moreError) body.push(h('p', { class: 'crs-inline-error', role: 'alert' }, t('errorBody', { message: ready.moreError })));
    if (ready.hasMore) body.push(moreButton(t('loadMore'), t('loadingMore'), ready.loadingMore, 'more', actions.loadMore));
    return body;
  });
}
