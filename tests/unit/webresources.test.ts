/// <reference types="xrm" />
/**
 * Web resource plumbing: how a panel gets Xrm and its record (xrm-mock form context, query
 * string), the form onload script, the data clients (Xrm.WebApi stub, fetch stub) with their error
 * mapping (403 / missing privilege → no-permission state), languages and date formatting.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ClientContextMock, ContextMock, IframeControlMock, UserSettingsMock, XrmMockGenerator } from 'xrm-mock';
import { fetchWebApiClient, nextPageQuery, PanelDataError, toPanelDataError, xrmWebApiClient, type FetchLike } from '../../webresources/src/shared/data-client.js';
import { safeHttpUrl } from '../../webresources/src/shared/dom.js';
import { formatDateTime } from '../../webresources/src/shared/format.js';
import { guardedParentXrm, installHost, readQuery, recordFromForm, userFromXrm, type PanelContext } from '../../webresources/src/shared/host.js';
import { langFromLcid, localeFromLcid, translator, type StringKey } from '../../webresources/src/shared/i18n.js';
import { categoryLabel } from '../../webresources/src/shared/labels.js';
import { injectPanels, onLoad, PANEL_CONTROL_PREFIX } from '../../webresources/src/form/onload.js';

const ID = '5a0c3f1e-8d2b-4c6a-9e7f-1b2c3d4e5f60';

function initialiseForm(entityName = 'contact', id = `{${ID.toUpperCase()}}`, languageId = 1031): void {
  const userSettings = new UserSettingsMock({ isGuidedHelpEnabled: false, isHighContrastEnabled: false, isRTL: false, userId: '{00000000-0000-0000-0000-000000000001}', userName: 'marketer', languageId });
  vi.spyOn(userSettings, 'getTimeZoneOffsetMinutes').mockReturnValue(60);
  XrmMockGenerator.initialise({ entity: { entityName, id }, context: new ContextMock({ userSettings: userSettings as unknown as Xrm.UserSettings, clientContext: new ClientContextMock('Web', 'Online') }) });
}

function addPanelControl(name: string, win: object): IframeControlMock {
  const control = new IframeControlMock({ name, controlType: 'webresource' as Xrm.Controls.ControlType });
  vi.spyOn(control, 'getContentWindow').mockResolvedValue(win as Window);
  (XrmMockGenerator.getFormContext().ui.controls as unknown as { push(c: unknown): void }).push(control);
  return control;
}

describe('query string (form passes record type code and id)', () => {
  it.each([
    ['?typename=contact&id=%7B' + ID.toUpperCase() + '%7D&userlcid=1031', { record: { id: ID, entityType: 'contact' }, unsaved: false, lcid: 1031 }],
    ['?type=4&id=' + ID + '&userlcid=1033', { record: { id: ID, entityType: 'lead' }, unsaved: false, lcid: 1033 }],
    ['?typename=lead&userlcid=1033', { unsaved: true, lcid: 1033 }],
    ['?typename=account&id=' + ID, { unsaved: false }],
    ['?typename=contact&id=not-a-guid', { unsaved: true }],
    ['?typename=contact&id=' + ID + '&data=' + encodeURIComponent('theme=dark&pageSize=1000'), { record: { id: ID, entityType: 'contact' }, unsaved: false, theme: 'dark', pageSize: 1000 }],
    ['?data=' + encodeURIComponent('pageSize=0'), { unsaved: false }],
    ['?data=' + encodeURIComponent('pageSize=12345678'), { unsaved: false }],
    ['?data=' + encodeURIComponent('pageSize=9000&theme=purple'), { unsaved: false, pageSize: 5000 }],
  ])('%s', (search, expected) => {
    expect(readQuery(search)).toEqual(expected);
  });
});

describe('context from Xrm (xrm-mock)', () => {
  beforeEach(() => initialiseForm());
  afterEach(() => vi.restoreAllMocks());

  it('reads the record of the form context without braces, lower case', () => {
    expect(recordFromForm(XrmMockGenerator.getFormContext())).toEqual({ record: { id: ID, entityType: 'contact' }, unsaved: false });
  });

  it('says unsaved for a create form (no id yet)', () => {
    initialiseForm('lead');
    vi.spyOn(XrmMockGenerator.getFormContext().data.entity, 'getId').mockReturnValue('');
    expect(recordFromForm(XrmMockGenerator.getFormContext())).toEqual({ unsaved: true });
  });

  it('reads language and time-zone offset from the user settings', () => {
    expect(userFromXrm(Xrm as Xrm.XrmStatic)).toEqual({ lcid: 1031, timeZoneOffsetMinutes: 60 });
  });

  it('finds no parent.Xrm in a top-level window and survives a cross-origin parent', () => {
    const top = {} as Window;
    (top as { parent: Window }).parent = top;
    expect(guardedParentXrm(top)).toBeUndefined();
    const framed = { get parent(): Window { throw new DOMException('Blocked a frame', 'SecurityError'); } } as unknown as Window;
    expect(guardedParentXrm(framed)).toBeUndefined();
    const withXrm = { parent: { Xrm } } as unknown as Window;
    expect(guardedParentXrm(withXrm)).toBe(Xrm);
  });
});

describe('installHost: injection first, then parent.Xrm, then the query string', () => {
  beforeEach(() => {
    initialiseForm();
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  function fakeWindow(parentXrm?: unknown): Window {
    const win = { setTimeout: (fn: () => void, ms: number) => setTimeout(fn, ms) } as unknown as Window;
    (win as { parent: unknown }).parent = parentXrm ? { Xrm: parentXrm } : win;
    return win;
  }

  it('starts with the injected Xrm and form record, and never falls back afterwards', () => {
    const win = fakeWindow(Xrm);
    const started: PanelContext[] = [];
    installHost(win, readQuery('?userlcid=1033'), (ctx) => started.push(ctx), { injectionWaitMs: 1000 });
    win.setClientApiContext!(Xrm as Xrm.XrmStatic, XrmMockGenerator.getFormContext());
    vi.advanceTimersByTime(5000);
    expect(started).toHaveLength(1);
    expect(started[0]).toMatchObject({ source: 'injected', record: { id: ID, entityType: 'contact' }, user: { lcid: 1031, timeZoneOffsetMinutes: 60 } });
  });

  it('falls back to a guarded parent.Xrm after the wait', () => {
    const win = fakeWindow(Xrm);
    const started: PanelContext[] = [];
    installHost(win, readQuery(`?typename=contact&id=${ID}&userlcid=1033`), (ctx) => started.push(ctx), { injectionWaitMs: 1000 });
    vi.advanceTimersByTime(999);
    expect(started).toHaveLength(0);
    vi.advanceTimersByTime(1);
    expect(started[0]).toMatchObject({ source: 'parent', record: { id: ID, entityType: 'contact' } });
    expect(started[0]!.xrm).toBe(Xrm);
  });

  it('falls back to the query string alone (fetch) without any Xrm', () => {
    const win = fakeWindow();
    const started: PanelContext[] = [];
    installHost(win, readQuery(`?typename=lead&id=${ID}&userlcid=1031`), (ctx) => started.push(ctx), { injectionWaitMs: 10 });
    vi.advanceTimersByTime(10);
    expect(started).toEqual([{ source: 'query', record: { id: ID, entityType: 'lead' }, unsaved: false, user: { lcid: 1031 } }]);
  });
});

describe('Crs.Form.onLoad hands Xrm and the form context to the panels', () => {
  beforeEach(() => initialiseForm());
  afterEach(() => vi.restoreAllMocks());

  it('calls setClientApiContext on our web resource controls only, again on tab state change', async () => {
    const ours = { setClientApiContext: vi.fn() };
    const foreign = { setClientApiContext: vi.fn() };
    addPanelControl(`${PANEL_CONTROL_PREFIX}campaignresponses`, ours);
    addPanelControl('WebResource_other_vendor', foreign);
    const tab = XrmMockGenerator.Tab.createTab('tab_crs', 'Campaign', true, 'expanded');
    onLoad(XrmMockGenerator.getEventContext());
    await vi.waitFor(() => expect(ours.setClientApiContext).toHaveBeenCalledTimes(1));
    expect(ours.setClientApiContext).toHaveBeenCalledWith(Xrm, XrmMockGenerator.getFormContext());
    expect(foreign.setClientApiContext).not.toHaveBeenCalled();
    // the form re-creates frames on tab navigation: the tab handler injects again
    const handlers = (tab as unknown as { tabStateChangeHandlers: (() => void)[] }).tabStateChangeHandlers;
    expect(handlers).toHaveLength(1);
    handlers[0]!();
    await vi.waitFor(() => expect(ours.setClientApiContext).toHaveBeenCalledTimes(2));
    // onload again (e.g. after save) does not register a second tab handler
    onLoad(XrmMockGenerator.getEventContext());
    expect(handlers).toHaveLength(1);
  });

  it('skips frames that are not ready or have no setClientApiContext', async () => {
    const control = addPanelControl(`${PANEL_CONTROL_PREFIX}optinhistory`, {});
    expect(await injectPanels(XrmMockGenerator.getFormContext(), Xrm as Xrm.XrmStatic)).toBe(0);
    vi.spyOn(control, 'getContentWindow').mockRejectedValue(new Error('not loaded'));
    expect(await injectPanels(XrmMockGenerator.getFormContext(), Xrm as Xrm.XrmStatic)).toBe(0);
  });
});

describe('data clients', () => {
  beforeEach(() => initialiseForm());
  afterEach(() => vi.restoreAllMocks());

  it('Xrm.WebApi: passes entity, options and maxPageSize; returns entities and nextLink', async () => {
    const stub = vi.spyOn(Xrm.WebApi, 'retrieveMultipleRecords').mockResolvedValue({ entities: [{ a: 1 }], nextLink: 'https://x/api/data/v9.2/campaignresponses?$select=a&$skiptoken=abc' });
    const client = xrmWebApiClient(Xrm.WebApi);
    expect(await client.retrieveMultiple('campaignresponse', '?$select=a', 50)).toEqual({ entities: [{ a: 1 }], nextLink: 'https://x/api/data/v9.2/campaignresponses?$select=a&$skiptoken=abc' });
    expect(stub).toHaveBeenCalledWith('campaignresponse', '?$select=a', 50);
  });

  it.each([
    [{ errorCode: 0x80040220, message: 'SecLib::AccessCheckEx failed' }, 'forbidden'],
    [{ errorCode: -2147220960, message: 'denied' }, 'forbidden'],
    [{ errorCode: 1, message: 'Principal user (Id=…) is missing prvReadcrs_advertisingconsent privilege' }, 'forbidden'],
    [{ status: 403, message: 'Forbidden' }, 'forbidden'],
    [{ errorCode: 0x80060891, message: 'Could not find a property named x' }, 'failed'],
    [new TypeError('Failed to fetch'), 'failed'],
  ])('maps %o to %s', async (error, kind) => {
    vi.spyOn(Xrm.WebApi, 'retrieveMultipleRecords').mockRejectedValue(error);
    const err = await xrmWebApiClient(Xrm.WebApi).retrieveMultiple('crs_advertisingconsent', '', 10).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PanelDataError);
    expect((err as PanelDataError).kind).toBe(kind);
    expect((err as PanelDataError).message).toBe((error as { message: string }).message);
  });

  it('nextPageQuery keeps only the query part of nextLink', () => {
    expect(nextPageQuery('https://org/api/data/v9.2/campaignresponses?$select=a&$skiptoken=%3Ccookie%3E')).toBe('?$select=a&$skiptoken=%3Ccookie%3E');
    expect(toPanelDataError(new PanelDataError('forbidden', 'x')).kind).toBe('forbidden');
  });

  function fetchStub(status: number, body: unknown): { fn: FetchLike; calls: Parameters<FetchLike>[] } {
    const calls: Parameters<FetchLike>[] = [];
    return { calls, fn: async (...args) => { calls.push(args); return { ok: status < 300, status, json: async () => body }; } };
  }

  it('fetch fallback: same-origin Web API with maxpagesize and formatted values', async () => {
    const stub = fetchStub(200, { value: [{ a: 1 }], '@odata.nextLink': 'https://org/api/data/v9.2/crs_advertisingconsents?$skiptoken=2' });
    const client = fetchWebApiClient(stub.fn, (n) => ({ crs_advertisingconsent: 'crs_advertisingconsents' })[n]!);
    expect(await client.retrieveMultiple('crs_advertisingconsent', '?$select=a', 25)).toEqual({ entities: [{ a: 1 }], nextLink: 'https://org/api/data/v9.2/crs_advertisingconsents?$skiptoken=2' });
    const [url, init] = stub.calls[0]!;
    expect(url).toBe('/api/data/v9.2/crs_advertisingconsents?$select=a');
    expect(init.credentials).toBe('same-origin');
    expect(init.headers.Prefer).toContain('odata.maxpagesize=25');
    expect(init.headers.Prefer).toContain('OData.Community.Display.V1.FormattedValue');
  });

  it.each([
    [403, { error: { code: '0x80040220', message: 'no read' } }, 'forbidden'],
    [401, { error: { code: '0x80040220', message: 'privilege' } }, 'forbidden'],
    [500, { error: { code: '0x80040216', message: 'boom' } }, 'failed'],
    [502, 'not json', 'failed'],
  ])('fetch fallback maps HTTP %i to %s', async (status, body, kind) => {
    const client = fetchWebApiClient(fetchStub(status, body).fn, () => 'x');
    const err = (await client.retrieveMultiple('x', '', 1).catch((e: unknown) => e)) as PanelDataError;
    expect(err.kind).toBe(kind);
  });
});

describe('languages and formatting', () => {
  it.each([
    [1031, 'de', 'de-DE'], [3079, 'de', 'de-AT'], [2055, 'de', 'de-CH'], [1033, 'en', 'en-US'], [2057, 'en', 'en-GB'],
    [1036, 'en', 'en-US'], [undefined, 'en', 'en-US'],
  ])('LCID %s → %s (%s)', (lcid, lang, locale) => {
    expect(langFromLcid(lcid)).toBe(lang);
    expect(localeFromLcid(lcid)).toBe(locale);
  });

  it('has every string in English and German, German differing where words differ', () => {
    const en = translator('en');
    const de = translator('de');
    const keys: StringKey[] = ['loading', 'forbiddenBody', 'responsesEmpty', 'stateOptedOut', 'loadMore', 'errorBody'];
    for (const k of keys) {
      expect(en(k)).not.toBe('');
      expect(de(k)).not.toBe(en(k));
    }
    expect(en('errorBody', { message: 'HTTP 500' })).toBe('The data could not be loaded: HTTP 500');
    expect(de('totalsResponses', { count: 3 })).toBe('3 Reaktionen');
    expect(categoryLabel('Unsubscription', 'de')).toBe('Abmeldung');
    expect(categoryLabel('Click', 'en')).toBe('Click');
    expect(categoryLabel('<b>x</b>', 'de')).toBe('<b>x</b>');
  });

  it('formats dates in the user time zone offset and locale, preferring Dataverse formatted values', () => {
    const iso = '2026-03-02T08:15:00Z';
    expect(formatDateTime(iso, { locale: 'de-DE', timeZoneOffsetMinutes: 60 })).toBe('02.03.2026, 09:15');
    expect(formatDateTime(iso, { locale: 'en-US', timeZoneOffsetMinutes: -300 })).toBe('Mar 2, 2026, 3:15 AM');
    expect(formatDateTime(iso, { locale: 'en-US' }, '3/2/2026 9:15 AM')).toBe('3/2/2026 9:15 AM');
    expect(formatDateTime('garbage', { locale: 'en-US' })).toBeUndefined();
    expect(formatDateTime(undefined, { locale: 'en-US' })).toBeUndefined();
  });
});

describe('links are only http(s)', () => {
  it.each([
    ['https://shop.example.com/a?b=1', 'https://shop.example.com/a?b=1'],
    ['http://example.com', 'http://example.com/'],
    ['  https://example.com/x  ', 'https://example.com/x'],
    ['javascript:alert(1)', undefined],
    [' JavaScript:alert(1)', undefined],
    ['data:text/html,<script>alert(1)</script>', undefined],
    ['vbscript:msgbox', undefined],
    ['/relative/path', undefined],
    ['//evil.example.com', undefined],
    ['', undefined],
  ])('%s → %s', (raw, expected) => {
    expect(safeHttpUrl(raw)).toBe(expected);
  });
});
