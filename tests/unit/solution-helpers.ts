/** Shared helpers of the solution tests: fixture web resources, xmllint, reading zips back. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yauzl from 'yauzl';
import type { SolutionModel } from '../../solution/model/types.js';

export const XSD_DIR = '/work/shared/reference/xsd';
export const SAMPLE_DIR = '/work/shared/reference/solution-samples/VirtualEntityRecordSource_SampleSolution_1_22043_1_managed';

/** Small stand-ins for the esbuild output, one per web resource of the model. */
export function fixtureWebResources(model: SolutionModel): Map<string, Uint8Array> {
  return new Map(model.webResources.map((w) => [w.name, new Uint8Array(Buffer.from(`/* fixture ${w.name} */\n`))]));
}

/** Writes the fixtures as dist/webresources would hold them; returns the directory. */
export function writeFixtureDir(model: SolutionModel, root: string): string {
  const dir = path.join(root, 'webresources');
  for (const [name, bytes] of fixtureWebResources(model)) {
    const file = path.join(dir, ...name.split('/'));
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, bytes);
  }
  return dir;
}

export function tempDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'crs-solution-test-'));
}

export interface LintResult { status: number; errors: string[] }

/** Runs xmllint on a document given as text; `schema` = file name in XSD_DIR. */
export function xmllint(xml: string, schema?: string): LintResult {
  const which = spawnSync('xmllint', ['--version']);
  if (which.error) throw new Error('xmllint is missing: apt-get install -y libxml2-utils');
  const args = ['--noout', ...(schema ? ['--schema', path.join(XSD_DIR, schema)] : []), '-'];
  const r = spawnSync('xmllint', args, { input: xml, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const errors = r.stderr.split('\n').filter((l) => l.trim() !== '' && !/ validates$/.test(l) && !/fails to validate$/.test(l));
  return { status: r.status ?? -1, errors };
}

/** The zip's entries, name → bytes, in central-directory order. */
export function readZip(zip: Buffer): Promise<Map<string, Buffer>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(zip, { lazyEntries: true }, (err, file) => {
      if (err || !file) return reject(err ?? new Error('no zip'));
      const out = new Map<string, Buffer>();
      file.on('error', reject);
      file.on('end', () => resolve(out));
      file.on('entry', (entry: yauzl.Entry) => {
        file.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(e ?? new Error('no stream'));
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            out.set(entry.fileName, Buffer.concat(chunks));
            file.readEntry();
          });
        });
      });
      file.readEntry();
    });
  });
}

/** Raw central-directory facts of each entry (to prove determinism details). */
export function zipEntryFacts(zip: Buffer): Promise<Array<{ name: string; method: number; dosDate: number; dosTime: number; extraLength: number }>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(zip, { lazyEntries: true }, (err, file) => {
      if (err || !file) return reject(err ?? new Error('no zip'));
      const out: Array<{ name: string; method: number; dosDate: number; dosTime: number; extraLength: number }> = [];
      file.on('error', reject);
      file.on('end', () => resolve(out));
      file.on('entry', (e: yauzl.Entry) => {
        out.push({ name: e.fileName, method: e.compressionMethod, dosDate: e.lastModFileDate, dosTime: e.lastModFileTime, extraLength: e.extraFieldLength });
        file.readEntry();
      });
      file.readEntry();
    });
  });
}
