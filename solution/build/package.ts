/**
 * The packager: a pure function from the model, the web resource bytes and the options to the
 * zip's entries, plus a deterministic zip writer (yazl: fixed DOS timestamp, fixed mode, sorted
 * entries, deflate).
 */
import { createHash } from 'node:crypto';
import yazl from 'yazl';
import type { SolutionModel } from '../model/types.js';
import { customizationsXml, webResourceFileName } from './customizations.js';
import type { IdMap } from './ids.js';
import { contentTypesXml, solutionXml } from './manifest.js';
import { scopeModel, type BuildOptions } from './scope.js';

/** Web resource contents by web resource name (crs_/panels/…). */
export type WebResourceFiles = ReadonlyMap<string, Uint8Array>;

export const SOLUTION_XML = 'solution.xml';
export const CUSTOMIZATIONS_XML = 'customizations.xml';
export const CONTENT_TYPES_XML = '[Content_Types].xml';

const utf8 = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));

/** Entries of the solution zip, sorted by path. */
export function buildSolution(model: SolutionModel, files: WebResourceFiles, ids: IdMap, options: BuildOptions): Map<string, Uint8Array> {
  const scoped = scopeModel(model, options);
  const missing = scoped.webResources.filter((w) => !files.has(w.name)).map((w) => w.name);
  if (missing.length > 0) throw new Error(`web resource content missing for: ${missing.join(', ')}`);
  const entries = new Map<string, Uint8Array>();
  const parts: string[] = [];
  for (const w of scoped.webResources) {
    const part = webResourceFileName(w, ids);
    parts.push(part);
    entries.set(part, files.get(w.name) as Uint8Array);
  }
  entries.set(SOLUTION_XML, utf8(solutionXml(scoped, ids, options)));
  entries.set(CUSTOMIZATIONS_XML, utf8(customizationsXml(scoped, ids, options)));
  entries.set(CONTENT_TYPES_XML, utf8(contentTypesXml(parts)));
  return new Map([...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** 1980-01-01 00:00 local time: the DOS epoch, so the stored timestamp is the same in every time zone. */
const FIXED_MTIME = new Date(1980, 0, 1, 0, 0, 0);
const FILE_MODE = 0o100644;

export function zipEntries(entries: ReadonlyMap<string, Uint8Array>): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const name of [...entries.keys()].sort()) {
    zip.addBuffer(Buffer.from(entries.get(name) as Uint8Array), name, {
      mtime: FIXED_MTIME, mode: FILE_MODE, compress: true, forceDosTimestamp: true,
    });
  }
  zip.end();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    zip.outputStream.on('data', (c: Buffer) => chunks.push(c));
    zip.outputStream.on('error', reject);
    zip.outputStream.on('end', () => resolve(Buffer.concat(chunks)));
  });
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function zipFileName(uniqueName: string, version: string, managed: boolean): string {
  return `${uniqueName}_${version.replace(/\./g, '_')}_${managed ? 'managed' : 'unmanaged'}.zip`;
}
