/**
 * `crs solution build` and `crs solution ids`: the thin I/O shell around the pure packager.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { solutionModel } from '../model/solution.js';
import type { SolutionModel } from '../model/types.js';
import { completeIdMap, missingIdKeys, requiredIdKeys, type IdMap } from './ids.js';
import { buildSolution, sha256, zipEntries, zipFileName, type WebResourceFiles } from './package.js';
import { dataverseVersion, scopeModel } from './scope.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const IDS_PATH = path.join(REPO_ROOT, 'solution', 'ids.json');

export interface SolutionBuildRequest {
  outDir: string;
  /** Take the bundles from here as they are; default: build them into dist/webresources first. */
  webResourcesDir?: string;
  withoutLead: boolean;
  managed: boolean;
  unmanaged: boolean;
  /** Defaults to package.json's version. */
  packageVersion?: string;
  model?: SolutionModel;
  ids?: IdMap;
  log?: (line: string) => void;
}

export interface BuiltZip { path: string; size: number; sha256: string }

export async function readIdMap(file = IDS_PATH): Promise<IdMap> {
  return JSON.parse(await readFile(file, 'utf8')) as IdMap;
}

async function readPackageVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version?: string };
  if (!pkg.version) throw new Error('package.json has no version');
  return pkg.version;
}

async function readWebResources(model: SolutionModel, dir: string): Promise<WebResourceFiles> {
  const files = new Map<string, Uint8Array>();
  for (const w of model.webResources) {
    const file = path.join(dir, ...w.name.split('/'));
    if (!existsSync(file)) throw new Error(`web resource ${w.name} not found at ${file}; run \`npm run build\` (webresources/) first`);
    files.set(w.name, new Uint8Array(await readFile(file)));
  }
  return files;
}

export async function buildSolutionZips(req: SolutionBuildRequest): Promise<BuiltZip[]> {
  const log = req.log ?? ((line: string) => console.log(line));
  const model = req.model ?? solutionModel;
  const ids = req.ids ?? (await readIdMap());
  const missing = missingIdKeys(ids, requiredIdKeys(model));
  if (missing.length > 0) throw new Error(`solution/ids.json lacks ${missing.length} id(s) (e.g. "${missing[0]}"); run \`npx crs solution ids\``);
  const version = dataverseVersion(req.packageVersion ?? (await readPackageVersion()));

  let dir = req.webResourcesDir;
  if (!dir) {
    // Always rebuild the bundles from webresources/ (esbuild is deterministic and fast), so a
    // stale dist/webresources can never end up in a release zip.
    dir = path.join(REPO_ROOT, 'dist', 'webresources');
    try {
      const { buildWebResources } = (await import('../../webresources/build.js')) as { buildWebResources: (outDir: string) => Promise<unknown[]> };
      const built = await buildWebResources(dir);
      log(`web resources: ${built.length} files built into ${path.relative(process.cwd(), dir) || dir}`);
    } catch (err) {
      throw new Error(`web resource build failed (${err instanceof Error ? err.message : String(err)}); fix \`npm run build\` first`);
    }
  }
  const files = await readWebResources(scopeModel(model, { withoutLead: req.withoutLead }), dir);

  await mkdir(req.outDir, { recursive: true });
  const built: BuiltZip[] = [];
  const kinds = [req.managed ? true : undefined, req.unmanaged ? false : undefined].filter((k): k is boolean => k !== undefined);
  for (const managed of kinds) {
    const entries = buildSolution(model, files, ids, { managed, withoutLead: req.withoutLead, version });
    const zip = await zipEntries(entries);
    const file = path.join(req.outDir, zipFileName(model.uniqueName, version, managed));
    await writeFile(file, zip);
    const z = { path: file, size: zip.length, sha256: sha256(zip) };
    log(`${path.relative(process.cwd(), z.path) || z.path}  ${z.size} bytes  sha256 ${z.sha256}`);
    built.push(z);
  }
  return built;
}

/** Adds ids for keys the model needs and the map lacks; never changes an existing id. */
export async function updateIdMap(file = IDS_PATH, model: SolutionModel = solutionModel): Promise<number> {
  const existing: IdMap = existsSync(file) ? await readIdMap(file) : {};
  const keys = requiredIdKeys(model);
  const added = missingIdKeys(existing, keys).length;
  await writeFile(file, `${JSON.stringify(completeIdMap(existing, keys), null, 2)}\n`);
  return added;
}

function fail(err: unknown): never {
  console.error(`crs solution: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}

export function registerSolutionCommands(program: Command): void {
  const solution = program.command('solution').description('the Dataverse solution (managed and unmanaged zips)');
  solution
    .command('build')
    .description('write dist/CampaignResponseSync_<version>_managed.zip and _unmanaged.zip')
    .option('--without-lead', 'leave every Lead part out (environments without the Lead table)', false)
    .option('--out <dir>', 'output directory', path.join(REPO_ROOT, 'dist'))
    .option('--managed-only', 'only the managed zip', false)
    .option('--unmanaged-only', 'only the unmanaged zip', false)
    .option('--webresources <dir>', 'take the web resource files from this directory as they are (default: build them into dist/webresources)')
    .action(async (opts: { withoutLead: boolean; out: string; managedOnly: boolean; unmanagedOnly: boolean; webresources?: string }) => {
      if (opts.managedOnly && opts.unmanagedOnly) fail('--managed-only and --unmanaged-only exclude each other');
      try {
        await buildSolutionZips({
          outDir: path.resolve(opts.out), webResourcesDir: opts.webresources ? path.resolve(opts.webresources) : undefined,
          withoutLead: opts.withoutLead, managed: !opts.unmanagedOnly, unmanaged: !opts.managedOnly,
        });
      } catch (err) {
        fail(err);
      }
    });
  solution
    .command('ids')
    .description('add ids for new solution components to solution/ids.json (existing ids never change)')
    .action(async () => {
      try {
        const added = await updateIdMap();
        console.log(`solution/ids.json: ${added} id(s) added`);
      } catch (err) {
        fail(err);
      }
    });
}
