/** Renders the campaign responses panel from its state (DOM builder only; no HTML from data). */
import type { ResponseCategory } from '../../../solution/model/tables.js';
import { h, link } from '../shared/dom.js';
import { formatDateTime, formatNumber, type DateContext } from '../shared/format.js';
import type { Lang, Translate } from '../shared/i18n.js';
import { categoryClass, categoryLabel } from '../shared/labels.js';
import { messageBlock, moreButton, renderPanelFrame } from '../shared/ui.js';
import { responsesMessage, type ResponsesState } from './controller.js';
import { CATEGORY_VALUES, type CampaignGroup, type CategoryTotal, type ResponseRow } from './model.js';

export interface ResponsesActions {
  retry(): void;
  loadMore(): void;
  setFilter(category: ResponseCategory | undefined): void;
}

export interface ViewContext {
  t: Translate;
  lang: Lang;
  dates: DateContext;
}

function timeCell(iso: string | undefined, formatted: string | undefined, v: ViewContext): HTMLElement {
  const text = formatDateTime(iso, v.dates, formatted);
  if (!text) return h('td', null, v.t('notAvailable'));
  return h('td', null, h('time', { datetime: iso ?? null }, text));
}

/** The mailing of a response: its subject without the "<category>: " prefix, else the mailing id. */
function mailingText(row: ResponseRow): string | undefined {
  if (row.subject) {
    const prefix = `${row.category}: `;
    return row.subject.startsWith(prefix) ? row.subject.slice(prefix.length) : row.subject;
  }
  return row.mailingId;
}

function responseRow(row: ResponseRow, v: ViewContext): HTMLTableRowElement {
  return h(
    'tr',
    { 'data-response': row.id },
    h('td', null, h('span', { class: categoryClass(row.category) }, categoryLabel(row.category, v.lang))),
    h('td', { class: 'crs-num' }, formatNumber(row.eventCount, v.dates.locale)),
    timeCell(row.firstOn, row.firstOnFormatted, v),
    timeCell(row.lastOn, row.lastOnFormatted, v),
    h('td', null, mailingText(row) ?? v.t('notAvailable')),
    h('td', { class: 'crs-url' }, row.linkUrl ? link(row.linkUrl) : v.t('notAvailable')),
  );
}

function groupSection(group: CampaignGroup, index: number, v: ViewContext): HTMLElement {
  const headingId = `crs-group-${index}`;
  const t = v.t;
  return h(
    'section',
    { class: 'crs-group', 'aria-labelledby': headingId },
    h('h2', { id: headingId, class: 'crs-group__title' }, group.campaignName ?? t('noCampaign'), ' ', h('span', { class: 'crs-meta' }, group.rows.length === 1 ? t('groupSummaryOne') : t('groupSummary', { count: formatNumber(group.rows.length, v.dates.locale) }))),
    h(
      'table',
      { class: 'crs-table' },
      h('thead', null, h('tr', null, ...(['colCategory', 'colCount', 'colFirst', 'colLast', 'colMailing', 'colLink'] as const).map((k) => h('th', { scope: 'col' }, t(k))))),
      h('tbody', null, group.rows.map((r) => responseRow(r, v))),
    ),
  );
}

function filterBar(totals: readonly CategoryTotal[], filter: ResponseCategory | undefined, v: ViewContext, actions: ResponsesActions): HTMLElement {
  const all = totals.reduce((n, x) => n + x.responses, 0);
  const button = (category: ResponseCategory | undefined, content: (Node | string)[], count: number): HTMLButtonElement => {
    const b = h(
      'button',
      { type: 'button', class: 'crs-filter__button', 'aria-pressed': String(filter === category), 'data-focus': `filter-${category ?? 'all'}` },
      ...content,
      ' ',
      h('span', { class: 'crs-filter__count' }, formatNumber(count, v.dates.locale)),
    );
    b.addEventListener('click', () => actions.setFilter(category));
    return b;
  };
  return h(
    'div',
    { class: 'crs-filter', role: 'group', 'aria-label': v.t('filterLabel') },
    button(undefined, [h('span', { class: 'crs-filter__label' }, v.t('filterAll'))], all),
    CATEGORY_VALUES.map((c) =>
      button(c, [h('span', { class: categoryClass(c) }, categoryLabel(c, v.lang))], totals.find((x) => x.category === c)?.responses ?? 0),
    ),
  );
}

function totalsLine(totals: readonly CategoryTotal[], filter: ResponseCategory | undefined, v: ViewContext): HTMLElement {
  const picked = filter ? totals.filter((x) => x.category === filter) : totals;
  const responses = picked.reduce((n, x) => n + x.responses, 0);
  const events = picked.reduce((n, x) => n + x.events, 0);
  return h(
    'p',
    { class: 'crs-meta crs-totals', 'data-testid': 'totals' },
    h('span', { class: 'crs-visually-hidden' }, v.t('totalsLabel'), ': '),
    responses === 1 ? v.t('totalsResponsesOne') : v.t('totalsResponses', { count: formatNumber(responses, v.dates.locale) }),
    ' · ',
    events === 1 ? v.t('totalsEventsOne') : v.t('totalsEvents', { count: formatNumber(events, v.dates.locale) }),
  );
}

export function renderResponses(state: ResponsesState, v: ViewContext, actions: ResponsesActions): Node[] {
  const t = v.t;
  return renderPanelFrame(t, 'responsesTitle', state, actions.retry, (ready) => {
    const message = responsesMessage(ready);
    const body: Node[] = message
      ? [messageBlock(t(message))]
      : [
          h('div', { class: 'crs-groups', 'aria-busy': ready.refreshing ? 'true' : null }, ready.groups.map((g, i) => groupSection(g, i, v))),
          h('p', { class: 'crs-meta', role: 'status' }, t('shownOf', { shown: formatNumber(ready.rows.length, v.dates.locale) })),
        ];
    if (ready.moreError) body.push(h('p', { class: 'crs-inline-error', role: 'alert' }, t('errorBody', { message: ready.moreError })));
    if (ready.hasMore) body.push(moreButton(t('loadMore'), t('loadingMore'), ready.loadingMore, 'more', actions.loadMore));
    return [filterBar(ready.totals, ready.filter, v, actions), totalsLine(ready.totals, ready.filter, v), ...body];
  });
}
