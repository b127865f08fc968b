/** Build options and the model as a given build sees it (e.g. without every Lead part). */
import type { SolutionModel } from '../model/types.js';

export interface BuildOptions {
  managed: boolean;
  /** Leave out every Lead part: the Lead form tab, crs_advertisingconsent.crs_leadid and its relationship, role grants on lead. */
  withoutLead: boolean;
  /** Four-part Dataverse version, e.g. 1.0.0.0. */
  version: string;
}

export const LEAD = 'lead';

export function scopeModel(model: SolutionModel, options: Pick<BuildOptions, 'withoutLead'>): SolutionModel {
  if (!options.withoutLead) return model;
  return {
    ...model,
    customTables: model.customTables.map((t) => ({
      ...t,
      columns: t.columns.filter((c) => !(c.targets ?? []).includes(LEAD)),
    })),
    platformTables: model.platformTables.filter((t) => t.logicalName !== LEAD),
    roles: model.roles.map((r) => ({ ...r, grants: r.grants.filter((g) => g.table !== LEAD) })),
    formAdditions: model.formAdditions.filter((f) => f.table !== LEAD),
  };
}

/** Dataverse wants major.minor.build.revision; package.json has semver major.minor.patch. */
export function dataverseVersion(packageVersion: string): string {
  const m = /^(\d+)\.(\d+)\.(\d+)(?:\.(\d+))?$/.exec(packageVersion.trim());
  if (!m) throw new Error(`package.json version "${packageVersion}" is not major.minor.patch (Dataverse needs plain numbers, no pre-release tag)`);
  return [m[1], m[2], m[3], m[4] ?? '0'].map((p) => String(Number(p))).join('.');
}
