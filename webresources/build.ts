/**
 * Builds the web resources (spec §3): IIFE bundles (ES2020, minified) and CSS by esbuild, the HTML
 * shells filled in from one template (panels/panel.html: {{title}}, {{name}} of its .js and .css). Output names are the Dataverse web resource names under outDir:
 *   crs_/panels/campaignresponses.{html,js,css}, crs_/panels/optinhistory.{html,js,css},
 *   crs_/form/onload.js (global Crs.Form, whose onLoad the forms call).
 * `npm run build` writes dist/webresources; the solution packager calls buildWebResources().
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';

export interface BuiltWebResource {
  /** Web resource name as Dataverse shows it, e.g. crs_/panels/campaignresponses.js. */
  name: string;
  /** Absolute path of the written file. */
  path: string;
  bytes: number;
}

const SRC = path.join(path.dirname(fileURLToPath(import.meta.url)), 'src');

interface Entry {
  name: string;
  kind: 'script' | 'style' | 'page';
  source: string;
  globalName?: string;
  /** page: the document title. */
  title?: string;
}

export const WEB_RESOURCE_ENTRIES: readonly Entry[] = [
  { name: 'crs_/panels/campaignresponses.html', kind: 'page', source: 'panels/panel.html', title: 'Campaign responses' },
  { name: 'crs_/panels/campaignresponses.js', kind: 'script', source: 'responses/main.ts' },
  { name: 'crs_/panels/campaignresponses.css', kind: 'style', source: 'responses/panel.css' },
  { name: 'crs_/panels/optinhistory.html', kind: 'page', source: 'panels/panel.html', title: 'Opt-in history' },
  { name: 'crs_/panels/optinhistory.js', kind: 'script', source: 'optin/main.ts' },
  { name: 'crs_/panels/optinhistory.css', kind: 'style', source: 'optin/panel.css' },
  { name: 'crs_/form/onload.js', kind: 'script', source: 'form/onload.ts', globalName: 'Crs.Form' },
];

async function contentOf(entry: Entry): Promise<Uint8Array> {
  const source = path.join(SRC, entry.source);
  if (entry.kind === 'page') {
    // The shell's bundle and styles share its base name (campaignresponses.html → campaignresponses.js/.css).
    const template = await readFile(source, 'utf8');
    const page = template.replaceAll('{{title}}', entry.title ?? '').replaceAll('{{name}}', path.basename(entry.name, '.html'));
    return new TextEncoder().encode(page);
  }
  const result = await esbuild.build({
    entryPoints: [source],
    bundle: true,
    write: false,
    minify: true,
    legalComments: 'none',
    logLevel: 'silent',
    outfile: path.basename(entry.name), // only names the output; nothing is written by esbuild
    ...(entry.kind === 'script'
      ? { format: 'iife' as const, target: 'es2020', platform: 'browser' as const, ...(entry.globalName ? { globalName: entry.globalName } : {}) }
      : { loader: { '.css': 'css' as const }, target: 'chrome100' }),
  });
  const file = result.outputFiles.find((f) => f.path.endsWith(path.extname(entry.name)));
  if (!file) throw new Error(`esbuild produced no output for ${entry.name}`);
  return file.contents;
}

export async function buildWebResources(outDir: string): Promise<BuiltWebResource[]> {
  const built: BuiltWebResource[] = [];
  for (const entry of WEB_RESOURCE_ENTRIES) {
    const contents = await contentOf(entry);
    const target = path.resolve(outDir, ...entry.name.split('/'));
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, contents);
    built.push({ name: entry.name, path: target, bytes: contents.byteLength });
  }
  return built;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const outDir = process.argv[2] ?? 'dist/webresources';
  buildWebResources(outDir).then(
    (files) => {
      for (const f of files) console.log(`${String(f.bytes).padStart(7)} B  ${f.name}`);
      console.log(`${files.length} web resources in ${outDir}`);
    },
    (err: unknown) => {
      console.error(`web resource build failed: ${err instanceof Error ? err.message : String(err)}`);
      process.exitCode = 1;
    },
  );
}
