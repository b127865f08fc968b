/// <reference types="xrm" />
/**
 * How a panel gets Xrm and its record, in the order the platform recommends:
 * 1. injection — the form's onload script (Crs.Form.onLoad) calls window.setClientApiContext(Xrm,
 *    formContext) through the web resource control's getContentWindow(), again on tab state change
 *    (idempotent: the same record is not reloaded);
 * 2. after a short wait without injection, a guarded parent.Xrm (the panel sits on a form);
 * 3. otherwise the query string the form passes ("pass record object-type code and unique
 *    identifier as parameters": id, typename/type, userlcid) and same-origin fetch.
 */
import { contact, lead } from '../../../solution/model/tables.js';
import { normalizeGuid } from './format.js';

export type Theme = 'light' | 'dark';
export type PersonType = 'contact' | 'lead';

export interface PanelRecord {
  id: string;
  entityType: PersonType;
}

export interface QueryParams {
  record?: PanelRecord;
  /** The form sent a record type but no id: the record is not saved yet. */
  unsaved: boolean;
  lcid?: number;
  theme?: Theme;
  /** Rows per page requested from the Web API (custom "data" parameter pageSize=…). */
  pageSize?: number;
}

export interface UserContext {
  lcid?: number;
  timeZoneOffsetMinutes?: number;
}

/** What a panel is started with; `source` says which of the three ways delivered it. */
export interface PanelContext {
  source: 'injected' | 'parent' | 'query';
  xrm?: Xrm.XrmStatic;
  record?: PanelRecord;
  unsaved: boolean;
  user: UserContext;
}

export const MAX_PAGE_SIZE = 5000;

function personType(raw: string | null | undefined): PersonType | undefined {
  if (!raw) return undefined;
  const s = raw.toLowerCase();
  if (s === contact.logicalName || s === String(contact.objectTypeCode)) return 'contact';
  if (s === lead.logicalName || s === String(lead.objectTypeCode)) return 'lead';
  return undefined;
}

function intParam(raw: string | null): number | undefined {
  if (raw === null || !/^\d{1,6}$/.test(raw.trim())) return undefined;
  return Number.parseInt(raw, 10);
}

function themeParam(raw: string | null): Theme | undefined {
  const s = raw?.toLowerCase();
  return s === 'dark' || s === 'light' ? s : undefined;
}

/** Parses the web resource query string; the custom `data` parameter may carry theme= and pageSize=. */
export function readQuery(search: string): QueryParams {
  const q = new URLSearchParams(search);
  const data = new URLSearchParams(q.get('data') ?? '');
  const entityType = personType(q.get('typename')) ?? personType(q.get('type'));
  const id = normalizeGuid(q.get('id'));
  const pageSize = intParam(data.get('pageSize') ?? q.get('pageSize'));
  const theme = themeParam(q.get('theme')) ?? themeParam(data.get('theme'));
  const lcid = intParam(q.get('userlcid'));
  return {
    ...(entityType && id ? { record: { id, entityType } } : {}),
    unsaved: entityType !== undefined && id === undefined,
    ...(lcid !== undefined ? { lcid } : {}),
    ...(theme ? { theme } : {}),
    ...(pageSize !== undefined && pageSize > 0 ? { pageSize: Math.min(pageSize, MAX_PAGE_SIZE) } : {}),
  };
}

/** The record of a form context (undefined when the form is a create form or not a contact/lead). */
export function recordFromForm(formContext: Xrm.FormContext | undefined): { record?: PanelRecord; unsaved: boolean } {
  try {
    const entity = formContext?.data?.entity;
    if (!entity) return { unsaved: false };
    const entityType = personType(entity.getEntityName());
    const id = normalizeGuid(entity.getId());
    if (!entityType) return { unsaved: false };
    return id ? { record: { id, entityType }, unsaved: false } : { unsaved: true };
  } catch {
    return { unsaved: false };
  }
}

export function userFromXrm(xrm: Xrm.XrmStatic | undefined): UserContext {
  try {
    const settings = xrm?.Utility?.getGlobalContext?.()?.userSettings;
    if (!settings) return {};
    const offset = settings.getTimeZoneOffsetMinutes?.();
    return {
      ...(typeof settings.languageId === 'number' && settings.languageId > 0 ? { lcid: settings.languageId } : {}),
      ...(typeof offset === 'number' && Number.isFinite(offset) ? { timeZoneOffsetMinutes: offset } : {}),
    };
  } catch {
    return {};
  }
}

/** parent.Xrm when the panel is framed by a same-origin form that has it; never throws. */
export function guardedParentXrm(win: Window): Xrm.XrmStatic | undefined {
  try {
    if (win.parent === win) return undefined;
    const candidate = (win.parent as unknown as { Xrm?: Xrm.XrmStatic }).Xrm;
    return candidate && typeof candidate.WebApi?.retrieveMultipleRecords === 'function' ? candidate : undefined;
  } catch {
    return undefined; // cross-origin parent (Outlook, mobile, other hosts)
  }
}

export interface HostOptions {
  /** How long to wait for injection before falling back to parent.Xrm / the query string. */
  injectionWaitMs: number;
}

declare global {
  interface Window {
    setClientApiContext?: (xrm: Xrm.XrmStatic, formContext?: Xrm.FormContext) => void;
  }
}

/**
 * Exposes window.setClientApiContext and calls `start` with the best context available: at once on
 * injection (every time; `start` decides whether anything changed), or once after the wait.
 */
export function installHost(win: Window, query: QueryParams, start: (ctx: PanelContext) => void, options: HostOptions): void {
  let injected = false;
  win.setClientApiContext = (xrm, formContext) => {
    injected = true;
    const fromForm = recordFromForm(formContext);
    const user = userFromXrm(xrm);
    start({
      source: 'injected',
      xrm,
      ...(fromForm.record ? { record: fromForm.record } : query.record ? { record: query.record } : {}),
      unsaved: fromForm.record ? false : fromForm.unsaved || query.unsaved,
      user: { ...(query.lcid !== undefined ? { lcid: query.lcid } : {}), ...user },
    });
  };
  win.setTimeout(() => {
    if (injected) return;
    const xrm = guardedParentXrm(win);
    const user = userFromXrm(xrm);
    start({
      source: xrm ? 'parent' : 'query',
      ...(xrm ? { xrm } : {}),
      ...(query.record ? { record: query.record } : {}),
      unsaved: query.unsaved,
      user: { ...(query.lcid !== undefined ? { lcid: query.lcid } : {}), ...user },
    });
  }, options.injectionWaitMs);
}
