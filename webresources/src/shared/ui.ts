/**
 * Pieces both panels render: the status blocks (loading, error, no permission, unsaved record),
 * the "load more" button, theme hint, and re-rendering that keeps keyboard focus.
 */
import { h } from './dom.js';
import type { Theme } from './host.js';
import type { StringKey, Translate } from './i18n.js';
import type { PanelState } from './panel-state.js';

export function loadingBlock(t: Translate): HTMLElement {
  return h('div', { class: 'crs-state crs-state--loading', role: 'status' }, h('span', { class: 'crs-spinner', 'aria-hidden': 'true' }), h('span', null, t('loading')));
}

export function errorBlock(t: Translate, message: string, onRetry: () => void): HTMLElement {
  const retry = h('button', { type: 'button', class: 'crs-button', 'data-focus': 'retry' }, t('retry'));
  retry.addEventListener('click', onRetry);
  return h(
    'div',
    { class: 'crs-state crs-state--error', role: 'alert' },
    h('p', { class: 'crs-state__title' }, t('errorTitle')),
    h('p', null, t('errorBody', { message })),
    retry,
  );
}

export function forbiddenBlock(t: Translate): HTMLElement {
  return h('div', { class: 'crs-state crs-state--forbidden', role: 'alert' }, h('p', { class: 'crs-state__title' }, t('forbiddenTitle')), h('p', null, t('forbiddenBody')));
}

export function messageBlock(text: string, kind = 'empty'): HTMLElement {
  return h('div', { class: `crs-state crs-state--${kind}`, role: 'status' }, h('p', null, text));
}

export function moreButton(label: string, busyLabel: string, busy: boolean, focusKey: string, onClick: () => void): HTMLButtonElement {
  const button = h('button', { type: 'button', class: 'crs-button', 'data-focus': focusKey, 'aria-disabled': busy ? 'true' : null }, busy ? busyLabel : label);
  button.addEventListener('click', () => {
    if (button.getAttribute('aria-disabled') !== 'true') onClick();
  });
  return button;
}

/** The panel heading (focus target after a re-render). */
export function panelHeading(t: Translate, titleKey: StringKey): HTMLElement {
  return h('h1', { class: 'crs-title', tabindex: '-1', 'data-focus': 'title' }, t(titleKey));
}

/**
 * A panel's content: its heading, then the status block of a state before data is shown, or what
 * `renderReady` builds for the ready state.
 */
export function renderPanelFrame<Ready extends { kind: 'ready' }>(
  t: Translate,
  titleKey: StringKey,
  state: PanelState<Ready>,
  onRetry: () => void,
  renderReady: (state: Ready) => Node[],
): Node[] {
  const heading = panelHeading(t, titleKey);
  if (state.kind === 'ready') return [heading, ...renderReady(state as Ready)];
  switch (state.kind) {
    case 'loading':
      return [heading, loadingBlock(t)];
    case 'noRecord':
      return [heading, messageBlock(t('noRecord'), 'info')];
    case 'forbidden':
      return [heading, forbiddenBlock(t)];
    case 'error':
      return [heading, errorBlock(t, state.message, onRetry)];
  }
}

/** A theme hint wins over prefers-color-scheme; without one the CSS media query decides. */
export function applyTheme(doc: Document, theme: Theme | undefined): void {
  if (theme) doc.documentElement.setAttribute('data-theme', theme);
  else doc.documentElement.removeAttribute('data-theme');
}

/**
 * Replaces the root's content and puts focus back on the element with the same data-focus key
 * (e.g. the "load more" button, a filter button), or on `fallbackKey` if that one is gone.
 */
export function replaceKeepingFocus(root: HTMLElement, content: readonly Node[], fallbackKey?: string): void {
  const doc = root.ownerDocument;
  const active = doc.activeElement;
  const key = active && root.contains(active) ? active.getAttribute('data-focus') : null;
  root.replaceChildren(...content);
  if (key === null) return;
  const target = root.querySelector<HTMLElement>(`[data-focus="${CSS.escape(key)}"]`) ?? (fallbackKey ? root.querySelector<HTMLElement>(`[data-focus="${CSS.escape(fallbackKey)}"]`) : null);
  target?.focus();
}
