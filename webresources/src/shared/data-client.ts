/// <reference types="xrm" />
/**
 * The one seam between the panels and Dataverse. Panels call retrieveMultiple only; the browser
 * uses Xrm.WebApi (injected or parent.Xrm) or, with no Xrm at all, same-origin fetch to the Web
 * API; tests swap in a stub. Every read is paged (maxPageSize); the next page is requested by
 * passing the query part of nextLink, as Xrm.WebApi.retrieveMultipleRecords documents.
 */

export type Row = Record<string, unknown>;

export interface PageResult {
  entities: Row[];
  /** Present when more rows exist. */
  nextLink?: string;
}

export interface PanelDataClient {
  retrieveMultiple(entityLogicalName: string, query: string, maxPageSize: number): Promise<PageResult>;
}

export type DataErrorKind = 'forbidden' | 'failed';

export class PanelDataError extends Error {
  constructor(readonly kind: DataErrorKind, message: string) {
    super(message);
    this.name = 'PanelDataError';
  }
}

/**
 * Dataverse's "missing privilege" error codes (PrivilegeDenied 0x80040220, PrincipalPrivilegeDenied
 * 0x8004140C as unsigned and signed numbers) — Xrm.WebApi rejects with errorCode, not an HTTP status.
 */
const PRIVILEGE_DENIED = new Set([0x80040220, 0x80040220 - 0x100000000, 0x8004140c, 0x8004140c - 0x100000000]);

export function toPanelDataError(err: unknown): PanelDataError {
  if (err instanceof PanelDataError) return err;
  const e = (typeof err === 'object' && err !== null ? err : {}) as { message?: unknown; errorCode?: unknown; status?: unknown; httpStatusCode?: unknown; code?: unknown };
  const message = typeof e.message === 'string' && e.message ? e.message : String(err);
  const status = typeof e.status === 'number' ? e.status : typeof e.httpStatusCode === 'number' ? e.httpStatusCode : undefined;
  const code = typeof e.errorCode === 'number' ? e.errorCode : typeof e.code === 'string' ? Number.parseInt(e.code, 16) : undefined;
  const forbidden = status === 403 || (code !== undefined && PRIVILEGE_DENIED.has(code)) || /is missing prv\w+ privilege/i.test(message);
  return new PanelDataError(forbidden ? 'forbidden' : 'failed', message);
}

/** "?$select=…&$skiptoken=…" from a nextLink (absolute URL or query), to request the next page. */
export function nextPageQuery(nextLink: string): string {
  const i = nextLink.indexOf('?');
  return i >= 0 ? nextLink.slice(i) : '';
}

export function xrmWebApiClient(webApi: Pick<Xrm.WebApi, 'retrieveMultipleRecords'>): PanelDataClient {
  return {
    async retrieveMultiple(entityLogicalName, query, maxPageSize) {
      try {
        const result = await webApi.retrieveMultipleRecords(entityLogicalName, query, maxPageSize);
        return { entities: result.entities ?? [], ...(result.nextLink ? { nextLink: result.nextLink } : {}) };
      } catch (err) {
        throw toPanelDataError(err);
      }
    },
  };
}

export type FetchLike = (url: string, init: { method: string; headers: Record<string, string>; credentials: 'same-origin' }) => Promise<{
  ok: boolean;
  status: number;
  json(): Promise<unknown>;
}>;

/**
 * Last resort without Xrm: the same-origin Web API with the user's session cookie. Needs the entity
 * set name of each table (from the schema model).
 */
export function fetchWebApiClient(fetchFn: FetchLike, entitySetOf: (logicalName: string) => string, baseUrl = '/api/data/v9.2'): PanelDataClient {
  return {
    async retrieveMultiple(entityLogicalName, query, maxPageSize) {
      const url = `${baseUrl}/${entitySetOf(entityLogicalName)}${query}`;
      let res: Awaited<ReturnType<FetchLike>>;
      try {
        res = await fetchFn(url, {
          method: 'GET',
          credentials: 'same-origin',
          headers: {
            Accept: 'application/json',
            'OData-MaxVersion': '4.0',
            'OData-Version': '4.0',
            Prefer: `odata.maxpagesize=${maxPageSize},odata.include-annotations="OData.Community.Display.V1.FormattedValue"`,
          },
        });
      } catch (err) {
        throw toPanelDataError(err);
      }
      const body = (await res.json().catch(() => ({}))) as { value?: Row[]; '@odata.nextLink'?: string; error?: { message?: string; code?: string } };
      if (!res.ok) {
        if (res.status === 403) throw new PanelDataError('forbidden', body.error?.message ?? 'HTTP 403');
        throw toPanelDataError({ status: res.status, message: body.error?.message ?? `HTTP ${res.status}`, code: body.error?.code });
      }
      const nextLink = body['@odata.nextLink'];
      return { entities: body.value ?? [], ...(nextLink ? { nextLink } : {}) };
    },
  };
}
