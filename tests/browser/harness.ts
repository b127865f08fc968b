/**
 * Browser harness shared by the browser tests and scripts/screenshots.ts: builds the web resources
 * into a temp dir, bundles the fake form (fixtures/host.ts), serves both from node:http with a
 * strict Content-Security-Policy, and launches Debian's chromium through playwright-core.
 */
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { chromium, type Browser, type Frame, type Page } from 'playwright-core';
import { buildWebResources } from '../../webresources/build.js';
import type { Scenario } from './fixtures/host.js';

export type { Scenario };

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const CSP = "default-src 'self'";
export const CHROMIUM_PATH = process.env.CRS_CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic',
];

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

export interface Harness {
  baseUrl: string;
  browser: Browser;
  /** Bytes of each built web resource, by name. */
  sizes: Map<string, number>;
  close(): Promise<void>;
}

async function bundleHost(): Promise<string> {
  const result = await esbuild.build({
    entryPoints: [path.join(HERE, 'fixtures', 'host.ts')],
    bundle: true, write: false, format: 'iife', target: 'es2020', platform: 'browser', logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

export async function startHarness(): Promise<Harness> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'crs-webresources-'));
  let server: Server | undefined;
  let browser: Browser | undefined;
  try {
    const built = await buildWebResources(dir);
    const require = createRequire(import.meta.url);
    const testFiles = new Map<string, string>([
      ['/__test__/form.html', await readFile(path.join(HERE, 'fixtures', 'form.html'), 'utf8')],
      ['/__test__/form.css', await readFile(path.join(HERE, 'fixtures', 'form.css'), 'utf8')],
      ['/__test__/host.js', await bundleHost()],
      ['/__test__/axe.min.js', await readFile(require.resolve('axe-core/axe.min.js'), 'utf8')],
    ]);
    const byName = new Map(built.map((b) => ['/' + b.name, b.path]));
    server = createServer((req, res) => {
      const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
      const headers = { 'Content-Security-Policy': CSP, 'Cache-Control': 'no-store' };
      const serve = (body: string | Buffer): void => {
        res.writeHead(200, { ...headers, 'Content-Type': TYPES[path.extname(pathname)] ?? 'application/octet-stream' });
        res.end(body);
      };
      const inMemory = testFiles.get(pathname);
      if (inMemory !== undefined) return serve(inMemory);
      const file = byName.get(pathname); // only the built files: no path traversal possible
      if (!file) {
        res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' });
        return void res.end('not found');
      }
      readFile(file).then(serve, () => {
        res.writeHead(500, headers);
        res.end();
      });
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('no server address');
    browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS });
    const openServer = server;
    const openBrowser = browser;
    return {
      baseUrl: `http://127.0.0.1:${address.port}`,
      browser,
      sizes: new Map(built.map((b) => [b.name, b.bytes])),
      async close() {
        await openBrowser.close();
        await new Promise<void>((resolve) => openServer.close(() => resolve()));
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await browser?.close();
    server?.close();
    await rm(dir, { recursive: true, force: true });
    throw err;
  }
}

export interface OpenedPanel {
  page: Page;
  frame: Frame;
  /** Elapsed ms when the scenario asked for a measurement. */
  elapsed: number | undefined;
  /** Console messages about CSP violations, from any frame. */
  cspViolations: string[];
}

/** Opens the test form with a scenario and returns the panel's frame once the scenario started. */
export async function openPanel(h: Harness, scenario: Scenario, options: { colorScheme?: 'light' | 'dark'; viewport?: { width: number; height: number } } = {}): Promise<OpenedPanel> {
  const page = await h.browser.newPage({ colorScheme: options.colorScheme ?? 'light', viewport: options.viewport ?? { width: 900, height: 900 } });
  const cspViolations: string[] = [];
  page.on('console', (msg) => {
    if (/Content Security Policy|Refused to/i.test(msg.text())) cspViolations.push(msg.text());
  });
  await page.goto(`${h.baseUrl}/__test__/form.html`);
  const elapsed = await page.evaluate((s) => window.crsTest.start(s), scenario);
  const frame = page.frames().find((f) => f.url().includes(`/crs_/panels/${scenario.panel}.html`));
  if (!frame) throw new Error('panel frame not found');
  return { page, frame, elapsed, cspViolations };
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: number;
}

/** Runs axe-core inside the panel frame (loaded as a same-origin script, so CSP allows it). */
export async function axeViolations(frame: Frame): Promise<AxeViolation[]> {
  await frame.addScriptTag({ url: '/__test__/axe.min.js' });
  return frame.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: Document, opts: object): Promise<{ violations: { id: string; impact: string | null; help: string; nodes: unknown[] }[] }> } }).axe;
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length }));
  });
}
