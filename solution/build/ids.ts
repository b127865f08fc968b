/**
 * The committed id map (solution/ids.json): every GUID the solution XML needs, keyed by a
 * readable name. Ids are generated once (UUID v5 of the key, so regenerating gives the same
 * value) and then never change: Dataverse identifies forms, views, roles and web resources by id,
 * and a changed id in an upgrade would mean a second copy instead of an update.
 */
import { v5 as uuidv5 } from 'uuid';
import type { SolutionModel, TableDef } from '../model/types.js';

/** Namespace of our UUID v5 ids (fixed forever). */
export const ID_NAMESPACE = '5c1e8a9e-2f0b-5d7a-9c3e-58300c0a11ce';

export type IdMap = Readonly<Record<string, string>>;

export const SAVED_QUERY_KINDS = ['public', 'advancedfind', 'associated', 'quickfind', 'lookup'] as const;
export type SavedQueryKind = (typeof SAVED_QUERY_KINDS)[number];

export const idKeys = {
  webResource: (name: string) => `webresource:${name}`,
  role: (key: string) => `role:${key}`,
  formTab: (table: string) => `formaddition:${table}:tab`,
  formSection: (table: string, panel: string) => `formaddition:${table}:section:${panel}`,
  formCell: (table: string, panel: string) => `formaddition:${table}:cell:${panel}`,
  formLibrary: (table: string) => `formaddition:${table}:library`,
  formOnLoadHandler: (table: string) => `formaddition:${table}:handler:onload`,
  formTabHandler: (table: string) => `formaddition:${table}:handler:tabstatechange`,
  tableForm: (table: string) => `table:${table}:form:main`,
  tableFormTab: (table: string) => `table:${table}:form:main:tab`,
  tableFormSection: (table: string) => `table:${table}:form:main:section`,
  tableFormCell: (table: string, column: string) => `table:${table}:form:main:cell:${column}`,
  tableView: (table: string, kind: SavedQueryKind) => `table:${table}:view:${kind}`,
};

/** Columns shown on a custom table's main form: everything but the primary key. */
export function formColumns(table: TableDef) {
  return table.columns.filter((c) => c.type !== 'primarykey');
}

/** Every id key the XML of the full model (Lead included) needs, sorted. */
export function requiredIdKeys(model: SolutionModel): string[] {
  const keys: string[] = [];
  for (const w of model.webResources) keys.push(idKeys.webResource(w.name));
  for (const r of model.roles) keys.push(idKeys.role(r.key));
  for (const f of model.formAdditions) {
    keys.push(idKeys.formTab(f.table), idKeys.formLibrary(f.table), idKeys.formOnLoadHandler(f.table), idKeys.formTabHandler(f.table));
    for (const p of f.panels) keys.push(idKeys.formSection(f.table, p.key), idKeys.formCell(f.table, p.key));
  }
  for (const t of model.customTables) {
    keys.push(idKeys.tableForm(t.logicalName), idKeys.tableFormTab(t.logicalName), idKeys.tableFormSection(t.logicalName));
    for (const c of formColumns(t)) keys.push(idKeys.tableFormCell(t.logicalName, c.logicalName));
    for (const k of SAVED_QUERY_KINDS) keys.push(idKeys.tableView(t.logicalName, k));
  }
  return [...new Set(keys)].sort();
}

export function generateId(key: string): string {
  return uuidv5(key, ID_NAMESPACE);
}

/** The map with ids for missing keys added; existing entries are never changed. Sorted by key. */
export function completeIdMap(existing: IdMap, keys: readonly string[]): Record<string, string> {
  const out: Record<string, string> = { ...existing };
  for (const k of keys) out[k] ??= generateId(k);
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function missingIdKeys(map: IdMap, keys: readonly string[]): string[] {
  return keys.filter((k) => !Object.hasOwn(map, k));
}

/** Looks an id up; a missing key is a build error that names the fix. */
export function idOf(map: IdMap, key: string): string {
  const id = Object.hasOwn(map, key) ? map[key] : undefined;
  if (!id) throw new Error(`solution/ids.json has no id for "${key}"; run \`npx crs solution ids\` to add it`);
  return id;
}

/** {guid} in lower case, the way exports write ids in XML. */
export function braced(id: string): string {
  return `{${id.toLowerCase()}}`;
}
