import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { LEAD_MAIN_FORM_ID, solutionModel } from '../../solution/model/index.js';
import { buildSolutionZips } from '../../solution/build/cli.js';
import { webResourceFileName } from '../../solution/build/customizations.js';
import { buildSolution, sha256, zipEntries, zipFileName } from '../../solution/build/package.js';
import { scopeModel } from '../../solution/build/scope.js';
import { fixtureWebResources, readZip, tempDir, writeFixtureDir, xmllint, zipEntryFacts } from './solution-helpers.js';

const repoRoot = path.resolve(import.meta.dirname, '../..');
const ids = JSON.parse(readFileSync(path.join(repoRoot, 'solution/ids.json'), 'utf8')) as Record<string, string>;
const files = fixtureWebResources(solutionModel);
const opts = { managed: true, withoutLead: false, version: '1.0.0.0' };

const dirs: string[] = [];
const newDir = () => {
  const d = tempDir();
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Every trace a Lead part would leave (descriptions may still say "contact or lead" in prose). */
function expectNoLeadPart(solutionXml: string, customizationsXml: string): void {
  expect(solutionXml).not.toMatch(/schemaName="lead"/i);
  expect(customizationsXml).not.toMatch(/>Lead</);
  expect(customizationsXml).not.toContain('crs_leadid');
  expect(customizationsXml).not.toContain('crs_lead_crs_advertisingconsent');
  expect(customizationsXml).not.toMatch(/prv[A-Za-z]+Lead"/);
  expect(customizationsXml).not.toContain(LEAD_MAIN_FORM_ID);
}

function expectedEntries(withoutLead: boolean): string[] {
  const model = scopeModel(solutionModel, { withoutLead });
  return ['[Content_Types].xml', 'customizations.xml', 'solution.xml', ...model.webResources.map((w) => webResourceFileName(w, ids))].sort();
}

describe('buildSolution (pure)', () => {
  it('produces exactly the three XML files at the root and one WebResources part per web resource, sorted', () => {
    const entries = buildSolution(solutionModel, files, ids, opts);
    expect([...entries.keys()]).toEqual(expectedEntries(false));
    for (const w of solutionModel.webResources) expect(entries.get(webResourceFileName(w, ids))).toEqual(files.get(w.name));
  });

  it('fails with a clear line when a web resource file is missing', () => {
    const partial = new Map(files);
    partial.delete('crs_/form/onload.js');
    expect(() => buildSolution(solutionModel, partial, ids, opts)).toThrow('web resource content missing for: crs_/form/onload.js');
  });

  it('without Lead needs no more files than it ships and has no Lead component', () => {
    const entries = buildSolution(solutionModel, files, ids, { ...opts, withoutLead: true });
    const sol = Buffer.from(entries.get('solution.xml')!).toString('utf8');
    const cust = Buffer.from(entries.get('customizations.xml')!).toString('utf8');
    expectNoLeadPart(sol, cust);
    expect(sol).toMatch(/schemaName="contact" behavior="2"/);
    // the same checks do see the Lead parts of a full build
    const fullEntries = buildSolution(solutionModel, files, ids, opts);
    expect(() => expectNoLeadPart(Buffer.from(fullEntries.get('solution.xml')!).toString(), Buffer.from(fullEntries.get('customizations.xml')!).toString())).toThrow();
  });
});

describe('zip', () => {
  it('round-trips: the zip lists exactly the expected entries with the built bytes', async () => {
    const entries = buildSolution(solutionModel, files, ids, opts);
    const zip = await zipEntries(entries);
    const back = await readZip(zip);
    expect([...back.keys()]).toEqual(expectedEntries(false));
    for (const [name, bytes] of entries) expect(new Uint8Array(back.get(name)!)).toEqual(bytes);
    for (const name of ['solution.xml', 'customizations.xml', '[Content_Types].xml']) {
      expect(xmllint(back.get(name)!.toString('utf8')).errors).toEqual([]);
    }
  });

  it('is deterministic: deflate, the DOS epoch as timestamp, no extra fields', async () => {
    const facts = await zipEntryFacts(await zipEntries(buildSolution(solutionModel, files, ids, opts)));
    for (const f of facts) {
      expect(f.method).toBe(8);
      expect(f.dosDate).toBe((0 << 9) | (1 << 5) | 1); // 1980-01-01
      expect(f.dosTime).toBe(0);
      expect(f.extraLength).toBe(0);
    }
  });

  it('names the zip like Microsoft exports', () => {
    expect(zipFileName('CampaignResponseSync', '1.0.0.0', true)).toBe('CampaignResponseSync_1_0_0_0_managed.zip');
    expect(zipFileName('CampaignResponseSync', '1.2.3.0', false)).toBe('CampaignResponseSync_1_2_3_0_unmanaged.zip');
  });
});

describe('buildSolutionZips (I/O shell)', () => {
  it('two builds give byte-identical managed and unmanaged zips, and the log names path, size and sha256', async () => {
    const root = newDir();
    const web = writeFixtureDir(solutionModel, root);
    const lines: string[] = [];
    const a = await buildSolutionZips({ outDir: path.join(root, 'a'), webResourcesDir: web, withoutLead: false, managed: true, unmanaged: true, packageVersion: '1.0.0', log: (l) => lines.push(l) });
    const b = await buildSolutionZips({ outDir: path.join(root, 'b'), webResourcesDir: web, withoutLead: false, managed: true, unmanaged: true, packageVersion: '1.0.0', log: () => undefined });
    expect(a.map((z) => path.basename(z.path))).toEqual(['CampaignResponseSync_1_0_0_0_managed.zip', 'CampaignResponseSync_1_0_0_0_unmanaged.zip']);
    for (let i = 0; i < a.length; i++) {
      const bytesA = readFileSync(a[i]!.path);
      expect(readFileSync(b[i]!.path).equals(bytesA)).toBe(true);
      expect(a[i]!.sha256).toBe(sha256(bytesA));
      expect(lines[i]).toContain(path.basename(a[i]!.path));
      expect(lines[i]).toContain(`${bytesA.length} bytes`);
      expect(lines[i]).toContain(`sha256 ${a[i]!.sha256}`);
    }
    expect(a[0]!.sha256).not.toBe(a[1]!.sha256);
    const managed = await readZip(readFileSync(a[0]!.path));
    const unmanaged = await readZip(readFileSync(a[1]!.path));
    expect(managed.get('solution.xml')!.toString()).toContain('<Managed>1</Managed>');
    expect(unmanaged.get('solution.xml')!.toString()).toContain('<Managed>0</Managed>');
  });

  it('--without-lead zip has no Lead component', async () => {
    const root = newDir();
    const web = writeFixtureDir(solutionModel, root);
    const [z] = await buildSolutionZips({ outDir: root, webResourcesDir: web, withoutLead: true, managed: true, unmanaged: false, packageVersion: '1.0.0', log: () => undefined });
    const back = await readZip(readFileSync(z!.path));
    expect([...back.keys()]).toEqual(expectedEntries(true));
    expectNoLeadPart(back.get('solution.xml')!.toString(), back.get('customizations.xml')!.toString());
  });

  it('a missing bundle file is one clear error naming the file and `npm run build`', async () => {
    const root = newDir();
    await expect(buildSolutionZips({ outDir: root, webResourcesDir: path.join(root, 'nothing'), withoutLead: false, managed: true, unmanaged: false, packageVersion: '1.0.0', log: () => undefined }))
      .rejects.toThrow(/^web resource crs_\/\S+ not found at \S+nothing\S+; run `npm run build`/);
  });

  it('refuses an id map that lacks a needed id', async () => {
    const root = newDir();
    await expect(buildSolutionZips({ outDir: root, webResourcesDir: root, withoutLead: false, managed: true, unmanaged: false, packageVersion: '1.0.0', ids: {}, log: () => undefined }))
      .rejects.toThrow(/solution\/ids\.json lacks \d+ id\(s\).*npx crs solution ids/);
  });
});

describe('with the real web resource build (webresources/build.ts)', () => {
  it('the bundles cover every web resource the model ships, well under the 5 MB web resource limit', async () => {
    const root = newDir();
    const { buildWebResources } = (await import('../../webresources/build.js')) as { buildWebResources: (outDir: string) => Promise<Array<{ name: string; bytes: number }>> };
    const built = await buildWebResources(path.join(root, 'web'));
    expect(built.map((b) => b.name).sort()).toEqual(solutionModel.webResources.map((w) => w.name).sort());
    for (const b of built) {
      expect(b.bytes).toBeGreaterThan(0);
      expect(b.bytes).toBeLessThan(5 * 1024 * 1024);
    }
    const [z] = await buildSolutionZips({ outDir: root, webResourcesDir: path.join(root, 'web'), withoutLead: false, managed: true, unmanaged: false, packageVersion: '1.0.0', log: () => undefined });
    const back = await readZip(readFileSync(z!.path));
    expect([...back.keys()]).toEqual(expectedEntries(false));
  });
});

describe('npx crs solution build', () => {
  it('writes the managed zip through the real CLI', () => {
    const root = newDir();
    const web = writeFixtureDir(solutionModel, root);
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts/crs.mjs'), 'solution', 'build', '--managed-only', '--webresources', web, '--out', root], { encoding: 'utf8', cwd: repoRoot });
    expect(r.stderr).not.toContain('crs solution:');
    expect(r.status).toBe(0);
    const version = (JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { version: string }).version;
    const name = zipFileName('CampaignResponseSync', `${version}.0`, true);
    expect(r.stdout).toMatch(new RegExp(`${name.replace(/\./g, '\\.')}  \\d+ bytes  sha256 [0-9a-f]{64}`));
  });

  it('rejects --managed-only together with --unmanaged-only', () => {
    const r = spawnSync(process.execPath, [path.join(repoRoot, 'scripts/crs.mjs'), 'solution', 'build', '--managed-only', '--unmanaged-only'], { encoding: 'utf8', cwd: repoRoot });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe('crs solution: --managed-only and --unmanaged-only exclude each other');
  });
});
