/**
 * Browser tests of the built web resources: Debian chromium (playwright-core) loads them from a
 * node:http server that sends `Content-Security-Policy: default-src 'self'`, inside a test form
 * page that hands a fake Xrm to the panel the way the form does (Crs.Form.onLoad →
 * getContentWindow → setClientApiContext) or leaves it to parent.Xrm. Asserts what a person sees,
 * axe-core findings, inert rendering of hostile values, themes, and the 1,000-row render time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Frame, Locator } from 'playwright-core';
import { axeViolations, openPanel, startHarness, type Harness, type OpenedPanel, type Scenario } from './harness.js';
import { manyResponses, PERSON_ID, sampleConsents, sampleResponses, XSS, xssConsents, xssResponses } from './fixtures/data.js';

let h: Harness;
const opened: OpenedPanel[] = [];

beforeAll(async () => {
  h = await startHarness();
}, 60_000);

afterAll(async () => {
  await h?.close();
});

async function open(scenario: Partial<Scenario> & Pick<Scenario, 'panel' | 'rows'>, colorScheme: 'light' | 'dark' = 'light'): Promise<OpenedPanel> {
  const panel = await openPanel(h, { recordId: PERSON_ID, inject: true, parentXrm: true, lcid: 1033, ...scenario }, { colorScheme });
  opened.push(panel);
  return panel;
}

async function seriousAxe(frame: Frame): Promise<string[]> {
  const violations = await axeViolations(frame);
  return violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id}: ${v.help} (${v.nodes})`);
}

async function cellTexts(frame: Frame | Locator, selector: string): Promise<string[]> {
  return (await frame.locator(selector).allTextContents()).map(squash);
}

/** Text as read out: whitespace collapsed (layout may break inline-flex content into lines). */
function squash(text: string | null): string {
  return (text ?? '').replace(/\s+/g, ' ').trim();
}

describe('web resources in chromium under a strict CSP', () => {
  afterAll(async () => {
    for (const p of opened) await p.page.close();
  });

  it('campaign responses (English): groups, chips, counts, dates, links, totals, filter, load more, keyboard, axe', async () => {
    const { frame, cspViolations, page } = await open({ panel: 'campaignresponses', rows: sampleResponses(), data: 'pageSize=5' });
    await frame.getByRole('heading', { level: 1, name: 'Campaign responses' }).waitFor();
    await frame.locator('tr[data-response]').first().waitFor();
    expect(await cellTexts(frame, 'h2.crs-group__title')).toEqual(['Autumn Newsletter 4 responses', 'Spring Sale 2026 1 response']);
    const first = frame.locator('tr[data-response]').first();
    expect(await first.locator('td').allInnerTexts()).toEqual(['Click', '3', 'Oct 14, 2026, 8:35 AM', 'Oct 20, 2026, 5:45 PM', 'Newsletter October', 'https://www.example.com/autumn/collection']);
    const a = first.getByRole('link');
    expect(await a.getAttribute('href')).toBe('https://www.example.com/autumn/collection');
    expect(await a.getAttribute('target')).toBe('_blank');
    expect(await a.getAttribute('rel')).toBe('noopener noreferrer');
    expect(await frame.getByTestId('totals').textContent().then(squash)).toBe('Totals per category: 7 responses · 13 events');

    // paging: 5 of 7 rows, then "Load more"
    expect(await frame.locator('tr[data-response]').count()).toBe(5);
    await frame.getByRole('button', { name: 'Load more' }).click();
    await expect.poll(() => frame.locator('tr[data-response]').count()).toBe(7);
    expect(await frame.getByRole('button', { name: 'Load more' }).count()).toBe(0);
    expect(await frame.getByRole('status').last().innerText()).toBe('7 shown');

    // keyboard: Tab to the "Click" filter and press Enter; focus stays on it after the re-render
    const click = frame.getByRole('button', { name: /^Click/ });
    await frame.getByRole('button', { name: /^All/ }).focus();
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    expect(await click.evaluate((el) => el === document.activeElement)).toBe(true);
    await page.keyboard.press('Enter');
    await expect.poll(() => click.getAttribute('aria-pressed')).toBe('true');
    await expect.poll(async () => (await cellTexts(frame, 'tr[data-response] td:first-child')).join()).toBe('Click,Click');
    expect(await click.evaluate((el) => el === document.activeElement)).toBe(true);
    expect(await frame.getByTestId('totals').textContent().then(squash)).toBe('Totals per category: 2 responses · 5 events');

    expect(await seriousAxe(frame)).toEqual([]);
    expect(cspViolations).toEqual([]);
  });

  it('campaign responses (German): strings, category labels and dates', async () => {
    const { frame } = await open({ panel: 'campaignresponses', rows: sampleResponses(), lcid: 1031 });
    await frame.getByRole('heading', { level: 1, name: 'Kampagnenreaktionen' }).waitFor();
    await frame.locator('tr[data-response]').first().waitFor();
    expect(await frame.locator('html').getAttribute('lang')).toBe('de');
    expect(await cellTexts(frame, '.crs-filter__button')).toEqual(['Alle 7', 'Öffnung 2', 'Klick 2', 'Antwort 1', 'Autoresponder 1', 'Abmeldung 1']);
    expect(await frame.locator('tr[data-response]').first().locator('td').nth(2).innerText()).toBe('14.10.2026, 08:35');
    expect(await frame.getByTestId('totals').textContent().then(squash)).toBe('Summen je Kategorie: 7 Reaktionen · 13 Ereignisse');
  });

  it('opt-in history (German): R4 verdict from the history, stale status note, outbounce badge, newest first, axe', async () => {
    const { frame, cspViolations } = await open({ panel: 'optinhistory', rows: sampleConsents(), lcid: 1031 });
    await frame.getByRole('heading', { level: 1, name: 'Opt-in-Verlauf' }).waitFor();
    await frame.locator('article').first().waitFor();
    const cards = frame.locator('article');
    expect(await cards.count()).toBe(3);
    expect(await cards.nth(0).getByRole('heading', { level: 2 }).innerText()).toBe('Weekly Deals');
    expect(await cards.nth(0).getByTestId('verdict').textContent().then(squash)).toBe('Abgemeldet seit 10.04.2026, 13:00');
    expect(await cards.nth(0).getByRole('note').innerText()).toContain('gespeicherte Status (Eingewilligt) ist veraltet');
    expect(await cellTexts(cards.nth(0), 'tbody tr td:first-child')).toEqual(['Opt-out', 'Opt-in', 'Opt-in']);
    expect(await cards.nth(0).locator('tbody tr').first().locator('td').allInnerTexts()).toEqual(['Opt-out', '10.04.2026, 13:00', 'Campaign-Abmeldung', '88123', 'Too many emails']);
    expect(await cards.nth(1).getByTestId('verdict').textContent().then(squash)).toBe('Eingewilligt seit 01.02.2026, 09:00');
    expect(await cards.nth(1).getByTestId('outbounce').innerText()).toBe('Outbounce seit 30.09.2026, 07:00');
    expect(await cards.nth(0).getByTestId('outbounce').count()).toBe(0);
    expect(await cards.nth(2).getByTestId('verdict').textContent().then(squash)).toBe('Kein Verlauf gespeicherter Status: Abgemeldet');
    expect(await cards.nth(1).locator('.crs-meta').first().innerText()).toBe('Mandant: Retail AT (432) · Kanal: E-Mail');
    expect(await seriousAxe(frame)).toEqual([]);
    expect(cspViolations).toEqual([]);
  });

  it('opt-in history (English) found through a guarded parent.Xrm when no onload script injects', async () => {
    const { frame } = await open({ panel: 'optinhistory', rows: sampleConsents(), inject: false });
    await frame.getByRole('heading', { level: 1, name: 'Opt-in history' }).waitFor();
    await frame.locator('article').first().waitFor({ timeout: 5000 });
    expect(await frame.locator('article').first().getByTestId('verdict').textContent().then(squash)).toBe('Opted out since Apr 10, 2026, 1:00 PM');
    expect(await frame.locator('article').first().getByRole('table').getAttribute('class')).toBe('crs-table');
  });

  it.each([
    ['empty', { rows: [] }, 1033, 'status', 'No campaign responses yet.'],
    ['no permission (403)', { rows: [], error: { errorCode: 0x80040220, message: 'Principal user is missing prvReadActivity privilege' } }, 1033, 'alert', 'No permission'],
    ['no permission, German', { rows: [], error: { errorCode: 0x80040220, message: 'denied' } }, 1031, 'alert', 'Keine Berechtigung'],
    ['error', { rows: [], error: { errorCode: 0x80060891, message: 'Service unavailable' } }, 1033, 'alert', 'The data could not be loaded: Service unavailable'],
  ] as const)('campaign responses %s state', async (_name, scenario, lcid, role, text) => {
    const { frame } = await open({ panel: 'campaignresponses', lcid, ...scenario, rows: [...scenario.rows] });
    await expect.poll(async () => (await frame.getByRole(role).allInnerTexts()).join(' | '), { timeout: 5000 }).toContain(text);
    if (_name === 'error') expect(await frame.getByRole('button', { name: 'Try again' }).count()).toBe(1);
    expect(await seriousAxe(frame)).toEqual([]);
  });

  it('opt-in history empty state', async () => {
    const { frame } = await open({ panel: 'optinhistory', rows: [], lcid: 1031 });
    await expect.poll(() => frame.getByRole('status').allInnerTexts(), { timeout: 5000 }).toEqual(['Noch keine Werbeeinwilligungen.']);
  });

  it('renders <script>, <img onerror> and javascript: values as inert text', async () => {
    const responses = await open({ panel: 'campaignresponses', rows: xssResponses() });
    await responses.frame.locator('tr[data-response]').first().waitFor();
    const consents = await open({ panel: 'optinhistory', rows: xssConsents() });
    await consents.frame.locator('article').first().waitFor();
    for (const { frame, page } of [responses, consents]) {
      const text = await frame.locator('#crs-root').innerText();
      expect(text).toContain(XSS.script);
      expect(text).toContain(XSS.img);
      expect(await frame.locator('#crs-root img, #crs-root script, #crs-root iframe').count()).toBe(0);
      expect(await frame.evaluate(() => (window as unknown as { __pwned?: string }).__pwned)).toBeUndefined();
      expect(await page.evaluate(() => (window as unknown as { __pwned?: string }).__pwned)).toBeUndefined();
      const hrefs = await frame.locator('#crs-root a').evaluateAll((as) => as.map((a) => a.getAttribute('href') ?? ''));
      for (const href of hrefs) expect(href).toMatch(/^https?:\/\//);
    }
    const inert = responses.frame.locator('.crs-inert-url');
    expect(await inert.innerText()).toBe(XSS.js);
    await inert.click();
    expect(await responses.frame.evaluate(() => (window as unknown as { __pwned?: string }).__pwned)).toBeUndefined();
    expect(await responses.frame.locator('a').first().innerText()).toBe('https://ok.example.com/"><img src=x onerror=alert(1)>');
    expect(responses.cspViolations).toEqual([]);
  });

  it('follows the theme hint and prefers-color-scheme (dark and light), axe clean in dark', async () => {
    const background = (frame: Frame): Promise<string> => frame.evaluate(() => getComputedStyle(document.body).backgroundColor);
    const hinted = await open({ panel: 'optinhistory', rows: sampleConsents(), data: 'theme=dark' });
    await hinted.frame.locator('article').first().waitFor();
    expect(await background(hinted.frame)).toBe('rgb(41, 41, 41)');
    expect(await seriousAxe(hinted.frame)).toEqual([]);
    const scheme = await open({ panel: 'campaignresponses', rows: sampleResponses() }, 'dark');
    await scheme.frame.locator('tr[data-response]').first().waitFor();
    expect(await background(scheme.frame)).toBe('rgb(41, 41, 41)');
    expect(await seriousAxe(scheme.frame)).toEqual([]);
    const forcedLight = await open({ panel: 'campaignresponses', rows: sampleResponses(), data: 'theme=light' }, 'dark');
    expect(await background(forcedLight.frame)).toBe('rgb(255, 255, 255)');
  });

  it('renders 1,000 responses in under 1 s (from onLoad to 1,000 rows on screen)', async () => {
    const { frame, elapsed } = await open({ panel: 'campaignresponses', rows: manyResponses(1000), data: 'pageSize=1000', measure: { selector: 'tr[data-response]', count: 1000 } });
    expect(await frame.locator('tr[data-response]').count()).toBe(1000);
    expect(elapsed).toBeDefined();
    console.log(`[bench] 1,000 campaign responses rendered in ${elapsed!.toFixed(0)} ms`);
    expect(elapsed!).toBeLessThan(1000);
  });

  it('ships small bundles', () => {
    for (const [name, bytes] of h.sizes) expect(bytes, name).toBeLessThan(100 * 1024);
  });
});
