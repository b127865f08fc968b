/**
 * The emulator's view of the Dataverse schema. Tables and columns come from solution/model (never
 * redefined here); this module only adds what every Dataverse table has and the model does not
 * describe: system columns (createdon, modifiedon, versionnumber, statecode, statuscode), the
 * read-only activityparty table, and the Web API naming rules (navigation properties).
 */
import { allTables, type AlternateKeyDef, type ChoiceOption, type ColumnDef, type TableDef } from '../../../solution/model/index.js';

export type EdmType = 'Edm.String' | 'Edm.Guid' | 'Edm.Int32' | 'Edm.Int64' | 'Edm.Boolean' | 'Edm.DateTimeOffset';

export interface EmuColumn {
  name: string;
  type: ColumnDef['type'] | 'bigint';
  edm: EdmType;
  maxLength?: number;
  /** choice/state/status: value → label. */
  options?: Map<number, string>;
  /** status: value → the state it belongs to. */
  statusState?: Map<number, number>;
  /** lookup: allowed target tables. */
  targets?: readonly string[];
  /** lookup: target logical name → single-valued navigation property name. */
  navByTarget?: Map<string, string>;
  defaultValue?: unknown;
  validForCreate: boolean;
  validForUpdate: boolean;
  required: boolean;
}

export interface SingleNav { nav: string; column: EmuColumn; target: string }
export interface CollectionNav { nav: string; childTable: string; childColumn: string }

export interface EmuTable {
  logicalName: string;
  entitySet: string;
  primaryId: string;
  primaryName: string;
  columns: Map<string, EmuColumn>;
  alternateKeys: { name: string; columns: readonly string[] }[];
  singleNavs: Map<string, SingleNav>;
  collectionNavs: Map<string, CollectionNav>;
  /** Only GET is allowed through the Web API (activityparty). */
  readOnly: boolean;
  isActivity: boolean;
  /** statecode value → default statuscode. */
  defaultStatusByState: Map<number, number>;
  /** campaignresponse: only these participation type masks are accepted for its parties (strict mode). */
  allowedPartyMasks?: ReadonlySet<number>;
}

export interface Schema {
  tables: Map<string, EmuTable>;
  bySet: Map<string, EmuTable>;
}

function edmOf(type: EmuColumn['type']): EdmType {
  switch (type) {
    case 'text': case 'memo': return 'Edm.String';
    case 'primarykey': case 'lookup': case 'customer': return 'Edm.Guid';
    case 'choice': case 'state': case 'status': case 'integer': return 'Edm.Int32';
    case 'bigint': return 'Edm.Int64';
    case 'boolean': return 'Edm.Boolean';
    case 'datetime': return 'Edm.DateTimeOffset';
  }
}

/**
 * State/status pairs of the platform tables (reference dataverse-side.md §1.1, §1.2; contact and
 * lead values are the well-known out-of-box ones). Custom tables get Active/Inactive.
 */
const STATE_MODELS: Record<string, { states: [number, string, number][]; statuses: [number, string, number][] }> = {
  campaignresponse: {
    states: [[0, 'Open', 1], [1, 'Closed', 2], [2, 'Canceled', 3]],
    statuses: [[1, 'Open', 0], [2, 'Closed', 1], [3, 'Canceled', 2]],
  },
  campaign: {
    states: [[0, 'Active', 0], [1, 'Inactive', 6]],
    statuses: [[0, 'Proposed', 0], [1, 'Ready To Launch', 0], [2, 'Launched', 0], [3, 'Completed', 0], [4, 'Canceled', 0], [5, 'Suspended', 0], [6, 'Inactive', 1]],
  },
  lead: {
    states: [[0, 'Open', 1], [1, 'Qualified', 3], [2, 'Disqualified', 4]],
    statuses: [[1, 'New', 0], [2, 'Contacted', 0], [3, 'Qualified', 1], [4, 'Lost', 2], [5, 'Cannot Contact', 2], [6, 'No Longer Interested', 2], [7, 'Canceled', 2]],
  },
  default: {
    states: [[0, 'Active', 1], [1, 'Inactive', 2]],
    statuses: [[1, 'Active', 0], [2, 'Inactive', 1]],
  },
};

function col(name: string, type: EmuColumn['type'], extra: Partial<EmuColumn> = {}): EmuColumn {
  return { name, type, edm: edmOf(type), validForCreate: true, validForUpdate: true, required: false, ...extra };
}

/** Web API navigation property name of a lookup for one target (Dataverse naming conventions). */
function navName(table: string, column: string, target: string, multiTarget: boolean): string {
  if (column === 'regardingobjectid') return `regardingobjectid_${target}_${table}`;
  if (column === 'partyid') return `partyid_${target}`;
  if (column === 'activityid' && table === 'activityparty') return `activityid_${target}`;
  // Custom lookups: the navigation property is the lookup's name (spec §3); polymorphic ones add the target.
  return multiTarget ? `${column}_${target}` : column;
}

function fromModelColumn(table: TableDef, c: ColumnDef): EmuColumn {
  const ec = col(c.logicalName, c.type, {
    required: c.required ?? false,
    validForUpdate: c.validForUpdate ?? true,
  });
  if (c.maxLength !== undefined) ec.maxLength = c.maxLength;
  if (c.options) ec.options = new Map(c.options.map((o) => [o.value, o.label]));
  if (c.defaultValue !== undefined) ec.defaultValue = c.defaultValue;
  if (c.targets) {
    ec.targets = c.targets;
    ec.navByTarget = new Map(c.targets.map((t) => [t, navName(table.logicalName, c.logicalName, t, c.targets!.length > 1)]));
  }
  if (c.type === 'primarykey') ec.validForUpdate = false;
  return ec;
}

interface TableInput {
  logicalName: string; entitySetName: string; primaryIdAttribute: string; primaryNameAttribute: string;
  columns: EmuColumn[]; alternateKeys: { logicalName: string; columns: readonly string[] }[];
  relationships: { column: string; name: string }[]; readOnly?: boolean; isActivity?: boolean;
}

/** activityparty: not part of the solution model (nothing is shipped on it), read-only in the Web API. */
function activityPartyInput(): TableInput {
  const masks: [number, string][] = [
    [1, 'Sender'], [2, 'To Recipient'], [3, 'CC Recipient'], [4, 'BCC Recipient'], [5, 'Required attendee'],
    [6, 'Optional attendee'], [7, 'Organizer'], [8, 'Regarding'], [9, 'Owner'], [10, 'Resource'], [11, 'Customer'],
    [12, 'Chat Participant'], [13, 'Related'],
  ];
  return {
    logicalName: 'activityparty', entitySetName: 'activityparties', primaryIdAttribute: 'activitypartyid', primaryNameAttribute: 'partyidname',
    columns: [
      col('activitypartyid', 'primarykey', { validForUpdate: false }),
      col('activityid', 'lookup', { targets: ['campaignresponse'], navByTarget: new Map([['campaignresponse', 'activityid_campaignresponse']]) }),
      col('partyid', 'lookup', { targets: ['contact', 'lead'], navByTarget: new Map([['contact', 'partyid_contact'], ['lead', 'partyid_lead']]) }),
      col('participationtypemask', 'choice', { options: new Map(masks), required: true }),
      col('addressused', 'text', { maxLength: 320 }),
    ],
    alternateKeys: [],
    relationships: [{ column: 'activityid', name: 'campaignresponse_activity_parties' }],
    readOnly: true,
  };
}

function systemColumns(logicalName: string, isActivity: boolean): EmuColumn[] {
  const model = STATE_MODELS[logicalName] ?? STATE_MODELS.default!;
  const stateCol = col('statecode', 'state', {
    options: new Map(model.states.map(([v, l]) => [v, l])),
    // campaignresponse.statecode is IsValidForCreate = False (reference §1.1); custom tables likewise start Active.
    validForCreate: false,
  });
  const statusCol = col('statuscode', 'status', {
    options: new Map(model.statuses.map(([v, l]) => [v, l])),
    statusState: new Map(model.statuses.map(([v, , s]) => [v, s])),
  });
  const cols = [
    col('createdon', 'datetime', { validForCreate: false, validForUpdate: false }),
    col('modifiedon', 'datetime', { validForCreate: false, validForUpdate: false }),
    col('versionnumber', 'bigint', { validForCreate: false, validForUpdate: false }),
    stateCol, statusCol,
  ];
  if (isActivity) cols.push(col('activitytypecode', 'text', { validForCreate: false, validForUpdate: false, maxLength: 64 }));
  return cols;
}

/**
 * Per-environment customisation (reference item 7): a customer's org may have more columns,
 * choice values, alternate keys or tables than the solution model. Tests declare them here.
 */
export interface SchemaCustomization {
  tables?: readonly TableDef[];
  columns?: readonly { table: string; column: ColumnDef }[];
  choiceOptions?: readonly { table: string; column: string; options: readonly ChoiceOption[] }[];
  alternateKeys?: readonly { table: string; key: AlternateKeyDef }[];
  /** Tables this org lacks (spec §3: some environments have no Lead table); lookups to them go too. */
  withoutTables?: readonly string[];
}

function customized(custom: SchemaCustomization): TableDef[] {
  const tables: TableDef[] = [...allTables, ...(custom.tables ?? [])].map((t) => ({ ...t, columns: [...t.columns], alternateKeys: [...t.alternateKeys] }));
  const find = (name: string): TableDef => {
    const t = tables.find((x) => x.logicalName === name);
    if (!t) throw new Error(`customization: unknown table '${name}'`);
    return t;
  };
  for (const { table, column } of custom.columns ?? []) (find(table).columns as ColumnDef[]).push(column);
  for (const { table, column, options } of custom.choiceOptions ?? []) {
    const cols = find(table).columns as ColumnDef[];
    const i = cols.findIndex((c) => c.logicalName === column);
    if (i < 0) throw new Error(`customization: unknown column '${table}.${column}'`);
    cols[i] = { ...cols[i]!, options: [...(cols[i]!.options ?? []), ...options] };
  }
  for (const { table, key } of custom.alternateKeys ?? []) (find(table).alternateKeys as AlternateKeyDef[]).push(key);
  const gone = new Set(custom.withoutTables ?? []);
  return tables.filter((t) => !gone.has(t.logicalName)).map((t) => ({
    ...t,
    columns: t.columns
      .map((c) => (c.targets ? { ...c, targets: c.targets.filter((x) => !gone.has(x)) } : c))
      .filter((c) => !c.targets || c.targets.length > 0),
  }));
}

export function buildSchema(custom: SchemaCustomization = {}): Schema {
  const inputs: TableInput[] = [];
  for (const t of customized(custom)) {
    const isActivity = 'isActivity' in t && t.isActivity === true;
    const modelCols = t.columns.map((c) => fromModelColumn(t, c));
    const names = new Set(modelCols.map((c) => c.name));
    inputs.push({
      logicalName: t.logicalName, entitySetName: t.entitySetName, primaryIdAttribute: t.primaryIdAttribute, primaryNameAttribute: t.primaryNameAttribute,
      columns: [...modelCols, ...systemColumns(t.logicalName, isActivity).filter((c) => !names.has(c.name))],
      alternateKeys: t.alternateKeys.map((k) => ({ logicalName: k.logicalName, columns: k.columns })),
      relationships: t.columns.filter((c) => c.relationshipName).map((c) => ({ column: c.logicalName, name: c.relationshipName! })),
      isActivity,
    });
  }
  const ap = activityPartyInput();
  const gone = new Set(custom.withoutTables ?? []);
  for (const c of ap.columns) {
    if (!c.targets) continue;
    c.targets = c.targets.filter((x) => !gone.has(x));
    for (const x of gone) c.navByTarget?.delete(x);
  }
  ap.columns.push(...systemColumns('activityparty', false).filter((c) => c.name === 'versionnumber'));
  inputs.push(ap);

  const tables = new Map<string, EmuTable>();
  for (const i of inputs) {
    const model = STATE_MODELS[i.logicalName] ?? STATE_MODELS.default!;
    const t: EmuTable = {
      logicalName: i.logicalName, entitySet: i.entitySetName, primaryId: i.primaryIdAttribute, primaryName: i.primaryNameAttribute,
      columns: new Map(i.columns.map((c) => [c.name, c])),
      alternateKeys: i.alternateKeys.map((k) => ({ name: k.logicalName, columns: k.columns })),
      singleNavs: new Map(), collectionNavs: new Map(),
      readOnly: i.readOnly ?? false, isActivity: i.isActivity ?? false,
      defaultStatusByState: new Map(model.states.map(([v, , d]) => [v, d])),
    };
    if (t.logicalName === 'campaignresponse') t.allowedPartyMasks = new Set([11]);
    for (const c of t.columns.values()) {
      for (const [target, nav] of c.navByTarget ?? []) t.singleNavs.set(nav, { nav, column: c, target });
    }
    tables.set(t.logicalName, t);
  }
  // Collection-valued navigation properties on the referenced side (named after the relationship).
  for (const i of inputs) {
    for (const r of i.relationships) {
      const c = tables.get(i.logicalName)!.columns.get(r.column)!;
      for (const target of c.targets ?? []) {
        tables.get(target)?.collectionNavs.set(r.name, { nav: r.name, childTable: i.logicalName, childColumn: r.column });
      }
    }
  }
  return { tables, bySet: new Map([...tables.values()].map((t) => [t.entitySet, t])) };
}
