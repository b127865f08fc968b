/// <reference types="xrm" />
/**
 * Starts a panel page: theme hint, loading state in the query-string language, then waits for
 * Xrm (see host.ts) and creates the panel's controller with the right data client. A repeated
 * injection for the same record and client kind does nothing (tab navigation re-injects).
 */
import type { TableDef } from '../../../solution/model/types.js';
import { fetchWebApiClient, xrmWebApiClient, type FetchLike, type PanelDataClient } from './data-client.js';
import { installHost, readQuery, type PanelContext, type PanelRecord } from './host.js';
import { langFromLcid, localeFromLcid, translator } from './i18n.js';
import { applyTheme, replaceKeepingFocus } from './ui.js';
import type { ViewContext } from '../responses/view.js';

export interface PanelDefinition<C> {
  defaultPageSize: number;
  /** The tables the panel reads (their entity set names serve the fetch fallback). */
  tables: readonly TableDef[];
  create(client: PanelDataClient, record: PanelRecord | undefined, pageSize: number, rerender: () => void): C;
  load(controller: C): Promise<void>;
  render(controller: C | undefined, v: ViewContext): Node[];
}

/** How long a panel waits for the form's onload script before using parent.Xrm or the query string. */
export const INJECTION_WAIT_MS = 1000;

export function viewContext(lcid: number | undefined, timeZoneOffsetMinutes: number | undefined): ViewContext {
  const lang = langFromLcid(lcid);
  return {
    lang,
    t: translator(lang),
    dates: { locale: localeFromLcid(lcid), ...(timeZoneOffsetMinutes !== undefined ? { timeZoneOffsetMinutes } : {}) },
  };
}

function entitySetOf(tables: readonly TableDef[], logicalName: string): string {
  const table = tables.find((t) => t.logicalName === logicalName);
  if (!table) throw new Error(`table ${logicalName} is not read by this panel`);
  return table.entitySetName;
}

export function bootPanel<C>(def: PanelDefinition<C>, win: Window = window): void {
  const doc = win.document;
  const root = doc.getElementById('crs-root');
  if (!root) return;
  const query = readQuery(win.location.search);
  applyTheme(doc, query.theme);
  let v = viewContext(query.lcid, undefined);
  doc.documentElement.lang = v.lang;
  let controller: C | undefined;
  let currentKey: string | undefined;
  const rerender = (): void => {
    replaceKeepingFocus(root, def.render(controller, v), 'title');
    root.setAttribute('aria-busy', 'false');
  };
  rerender();

  installHost(
    win,
    query,
    (ctx: PanelContext) => {
      const key = [ctx.xrm ? 'xrm' : 'fetch', ctx.record?.entityType ?? '', ctx.record?.id ?? '', ctx.unsaved].join('|');
      if (key === currentKey) return;
      currentKey = key;
      v = viewContext(ctx.user.lcid, ctx.user.timeZoneOffsetMinutes);
      doc.documentElement.lang = v.lang;
      const client = ctx.xrm
        ? xrmWebApiClient(ctx.xrm.WebApi)
        : fetchWebApiClient(win.fetch.bind(win) as unknown as FetchLike, (name) => entitySetOf(def.tables, name));
      controller = def.create(client, ctx.record, query.pageSize ?? def.defaultPageSize, rerender);
      void def.load(controller);
    },
    { injectionWaitMs: INJECTION_WAIT_MS },
  );
}
