/**
 * buildWebResources (called by `npm run build` and the solution packager): the seven web resources
 * under their Dataverse names, HTML shells without inline script that link their bundles
 * relatively, bundles free of HTML/eval sinks, Crs.Form exposed by the form library.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildWebResources, type BuiltWebResource } from '../../webresources/build.js';

let dir: string;
let built: BuiltWebResource[];

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'crs-wr-build-'));
  built = await buildWebResources(dir);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const read = (name: string): Promise<string> => readFile(path.join(dir, ...name.split('/')), 'utf8');

describe('buildWebResources', () => {
  it('writes the seven web resources with their sizes', async () => {
    expect(built.map((b) => b.name).sort()).toEqual([
      'crs_/form/onload.js',
      'crs_/panels/campaignresponses.css',
      'crs_/panels/campaignresponses.html',
      'crs_/panels/campaignresponses.js',
      'crs_/panels/optinhistory.css',
      'crs_/panels/optinhistory.html',
      'crs_/panels/optinhistory.js',
    ]);
    for (const b of built) {
      expect(b.path).toBe(path.join(dir, ...b.name.split('/')));
      expect(Buffer.byteLength(await readFile(b.path))).toBe(b.bytes);
      expect(b.bytes).toBeLessThan(100 * 1024);
    }
  });

  it.each(['campaignresponses', 'optinhistory'])('%s.html links its own bundle and styles relatively, with no inline script or handler', async (panel) => {
    const html = await read(`crs_/panels/${panel}.html`);
    expect(html).toContain(`<script src="${panel}.js" defer></script>`);
    expect(html).toContain(`<link rel="stylesheet" href="${panel}.css">`);
    expect(html.match(/<script\b[^>]*>/g)).toEqual([`<script src="${panel}.js" defer>`]);
    expect(html).not.toMatch(/\son[a-z]+=|style=|javascript:|\/WebResources\//i);
  });

  it.each(['crs_/panels/campaignresponses.js', 'crs_/panels/optinhistory.js', 'crs_/form/onload.js'])('%s has no HTML or eval sinks', async (name) => {
    const js = await read(name);
    expect(js).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function/);
  });

  it('exposes Crs.Form.onLoad and onTabStateChange as globals for the form', async () => {
    const context: Record<string, unknown> = {};
    vm.runInNewContext(await read('crs_/form/onload.js'), context);
    const crs = context.Crs as { Form: Record<string, unknown> };
    expect(typeof crs.Form.onLoad).toBe('function');
    expect(typeof crs.Form.onTabStateChange).toBe('function');
  });
});
