/**
 * customizations.xml: entities (custom tables in full, platform tables with only our parts),
 * roles, relationships and web resources, children in the order of CustomizationsSolution.xsd.
 * Element names and flag sets follow Microsoft's exports (the reference sample), limited to what
 * the published 9.0.0.2090 schema knows.
 */
import type { ColumnDef, PlatformTableDef, RoleDef, SolutionModel, TableDef, WebResourceDef } from '../model/types.js';
import { appendFormAdditionDiff, appendTableMainForm } from './formxml.js';
import { braced, idKeys, idOf, SAVED_QUERY_KINDS, type IdMap, type SavedQueryKind } from './ids.js';
import type { BuildOptions } from './scope.js';
import { bit, labels, leaves, LCID_DE, LCID_EN, newDocument, renderExportStyle, XSI_NS, type XMLBuilder } from './xml.js';

const INTRODUCED = '1.0.0.0';

// ---- names -----------------------------------------------------------------------------------

function allTables(model: SolutionModel): TableDef[] {
  return [...model.customTables, ...model.platformTables];
}

function tableOf(model: SolutionModel, logicalName: string): TableDef {
  const t = allTables(model).find((x) => x.logicalName === logicalName);
  if (!t) throw new Error(`model has no table ${logicalName}`);
  return t;
}

function isActivity(t: TableDef): boolean {
  return (t as PlatformTableDef).isActivity === true;
}

/** prv<Verb><EntitySchemaName>; all activity tables share the Activity privileges. */
export function privilegeName(table: TableDef, verb: string): string {
  return `prv${verb}${isActivity(table) ? 'Activity' : table.schemaName}`;
}

/** Zip entry of a web resource's content: name without punctuation + upper-case id (export convention). */
export function webResourceFileName(w: WebResourceDef, ids: IdMap): string {
  return `WebResources/${w.name.replace(/[^A-Za-z0-9_]/g, '')}${idOf(ids, idKeys.webResource(w.name)).toUpperCase()}`;
}

// ---- attributes --------------------------------------------------------------------------------

function optionSet(parent: XMLBuilder, name: string, type: 'picklist' | 'bit', c: ColumnDef, options: ReadonlyArray<{ value: number; en: string; de: string }>): void {
  const os = parent.ele('optionset', { Name: name });
  leaves(os, [['OptionSetType', type], ['IntroducedVersion', INTRODUCED], ['IsCustomizable', '1']]);
  labels(os, 'displaynames', 'displayname', c.displayName, c.displayNameDe);
  labels(os, 'Descriptions', 'Description', c.description);
  const opts = os.ele('options');
  for (const o of options) {
    const opt = opts.ele('option', { value: String(o.value) });
    labels(opt, 'labels', 'label', o.en, o.de);
  }
}

function appendAttribute(parent: XMLBuilder, table: TableDef, c: ColumnDef, customizable: boolean): void {
  const isPk = c.type === 'primarykey';
  const isPrimaryName = c.logicalName === table.primaryNameAttribute;
  const typeName: Record<string, string> = {
    primarykey: 'primarykey', text: 'nvarchar', memo: 'ntext', choice: 'picklist', lookup: 'lookup',
    datetime: 'datetime', boolean: 'bit', integer: 'int',
  };
  const type = typeName[c.type];
  if (!type) throw new Error(`${table.logicalName}.${c.logicalName}: column type ${c.type} cannot be shipped`);
  const a = parent.ele('attribute', { PhysicalName: c.logicalName });
  leaves(a, [
    ['Type', type],
    ['Name', c.logicalName],
    ['LogicalName', c.logicalName],
    ['RequiredLevel', isPk ? 'systemrequired' : c.required ? 'required' : 'none'],
    ['DisplayMask', isPk ? 'ValidForAdvancedFind|RequiredForGrid'
      : isPrimaryName ? 'PrimaryName|ValidForAdvancedFind|ValidForForm|ValidForGrid|RequiredForForm'
        : 'ValidForAdvancedFind|ValidForForm|ValidForGrid'],
    ['ImeMode', 'auto'],
    ['ValidForUpdateApi', bit(!isPk && c.validForUpdate !== false)],
    ['ValidForReadApi', '1'],
    ['ValidForCreateApi', '1'],
    ['IsCustomField', bit(!isPk)],
    ['IsAuditEnabled', bit(!isPk)],
    ['IsSecured', '0'],
    ['IntroducedVersion', INTRODUCED],
    ['IsCustomizable', bit(customizable)],
    ['IsRenameable', '1'],
    ['CanModifySearchSettings', '1'],
    ['CanModifyRequirementLevelSettings', bit(!isPk)],
    ['CanModifyAdditionalSettings', '1'],
    ['SourceType', '0'],
    ['IsGlobalFilterEnabled', '0'],
    ['IsSortableEnabled', '0'],
    ['CanModifyGlobalFilterSettings', '1'],
    ['CanModifyIsSortableSettings', '1'],
    ['IsDataSourceSecret', '0'],
  ]);
  switch (c.type) {
    case 'text':
      leaves(a, [['Format', 'text'], ['MaxLength', c.maxLength ?? 100], ['Length', 2 * (c.maxLength ?? 100)]]);
      break;
    case 'memo':
      leaves(a, [['Format', 'textarea'], ['MaxLength', c.maxLength ?? 2000], ['Length', 2 * (c.maxLength ?? 2000)]]);
      break;
    case 'integer':
      leaves(a, [['Format', 'none'], ['MinValue', -2147483648], ['MaxValue', 2147483647]]);
      break;
    case 'datetime':
      // Behavior 1 = user local: stored as a UTC instant, shown in the user's time zone.
      leaves(a, [['Format', 'datetime'], ['CanChangeDateTimeBehavior', '1'], ['Behavior', '1']]);
      break;
    case 'choice':
      leaves(a, [['AppDefaultValue', typeof c.defaultValue === 'number' ? c.defaultValue : -1]]);
      optionSet(a, `${table.logicalName}_${c.logicalName}`, 'picklist', c, (c.options ?? []).map((o) => ({ value: o.value, en: o.label, de: o.labelDe })));
      break;
    case 'boolean':
      leaves(a, [['AppDefaultValue', c.defaultValue === true ? 1 : 0]]);
      optionSet(a, `${table.logicalName}_${c.logicalName}`, 'bit', c, [{ value: 1, en: 'Yes', de: 'Ja' }, { value: 0, en: 'No', de: 'Nein' }]);
      break;
    case 'lookup':
      leaves(a, [['LookupStyle', 'single']]);
      a.ele('LookupTypes');
      break;
    default:
      break;
  }
  labels(a, 'displaynames', 'displayname', c.displayName, c.displayNameDe);
  labels(a, 'Descriptions', 'Description', c.description);
}

// ---- entities ----------------------------------------------------------------------------------

function ribbonDiff(parent: XMLBuilder): void {
  const r = parent.ele('RibbonDiffXml');
  r.ele('CustomActions');
  r.ele('Templates').ele('RibbonTemplates', { Id: 'Mscrm.Templates' });
  r.ele('CommandDefinitions');
  const rules = r.ele('RuleDefinitions');
  rules.ele('TabDisplayRules');
  rules.ele('DisplayRules');
  rules.ele('EnableRules');
  r.ele('LocLabels');
}

const VIEW: Record<SavedQueryKind, { querytype: number; quickfind: boolean; name: (t: TableDef) => string }> = {
  public: { querytype: 0, quickfind: false, name: (t) => `Active ${t.pluralDisplayName}` },
  advancedfind: { querytype: 1, quickfind: false, name: (t) => `${t.displayName} Advanced Find View` },
  associated: { querytype: 2, quickfind: false, name: (t) => `${t.displayName} Associated View` },
  quickfind: { querytype: 4, quickfind: true, name: (t) => `Quick Find Active ${t.pluralDisplayName}` },
  lookup: { querytype: 64, quickfind: false, name: (t) => `${t.displayName} Lookup View` },
};

function appendSavedQueries(parent: XMLBuilder, table: TableDef, ids: IdMap, customizable: boolean): void {
  const list = parent.ele('SavedQueries').ele('savedqueries');
  const shown = table.columns.filter((c) => c.type !== 'primarykey' && c.type !== 'memo').slice(0, 5).map((c) => c.logicalName);
  for (const kind of SAVED_QUERY_KINDS) {
    const v = VIEW[kind];
    const q = list.ele('savedquery');
    leaves(q, [
      ['IsCustomizable', bit(customizable)], ['CanBeDeleted', '0'], ['isquickfindquery', bit(v.quickfind)],
      ['isprivate', '0'], ['isdefault', '1'], ['savedqueryid', braced(idOf(ids, idKeys.tableView(table.logicalName, kind)))],
    ]);
    const row = q.ele('layoutxml').ele('grid', { name: 'resultset', jump: table.primaryNameAttribute, select: '1', icon: '1', preview: '1' })
      .ele('row', { name: 'result', id: table.primaryIdAttribute });
    for (const col of shown) row.ele('cell', { name: col, width: col === table.primaryNameAttribute ? '300' : '150' });
    q.ele('querytype').txt(String(v.querytype));
    const entity = q.ele('fetchxml').ele('fetch', { version: '1.0', mapping: 'logical' }).ele('entity', { name: table.logicalName });
    for (const col of [table.primaryIdAttribute, ...shown]) entity.ele('attribute', { name: col });
    entity.ele('order', { attribute: table.primaryNameAttribute, descending: 'false' });
    const filter = entity.ele('filter', { type: 'and' });
    filter.ele('condition', { attribute: 'statecode', operator: 'eq', value: '0' });
    if (v.quickfind) {
      entity.ele('filter', { type: 'or', isquickfindfields: '1' })
        .ele('condition', { attribute: table.primaryNameAttribute, operator: 'like', value: '{0}' });
    }
    q.ele('IntroducedVersion').txt(INTRODUCED);
    labels(q, 'LocalizedNames', 'LocalizedName', v.name(table));
  }
}

function appendCustomEntity(parent: XMLBuilder, t: TableDef, ids: IdMap, customizable: boolean): void {
  const e = parent.ele('Entity');
  e.ele('Name', { LocalizedName: t.displayName, OriginalName: t.displayName }).txt(t.schemaName);
  const info = e.ele('EntityInfo').ele('entity', { Name: t.schemaName });
  labels(info, 'LocalizedNames', 'LocalizedName', t.displayName, t.displayNameDe);
  labels(info, 'LocalizedCollectionNames', 'LocalizedCollectionName', t.pluralDisplayName, t.pluralDisplayNameDe);
  labels(info, 'Descriptions', 'Description', t.description);
  const attrs = info.ele('attributes');
  for (const c of [...t.columns].sort((a, b) => (a.logicalName < b.logicalName ? -1 : 1))) appendAttribute(attrs, t, c, customizable);
  leaves(info, [
    ['EntitySetName', t.entitySetName],
    ['IsDuplicateCheckSupported', '0'], ['IsBusinessProcessEnabled', '0'], ['IsRequiredOffline', '0'],
    ['IsInteractionCentricEnabled', '0'], ['IsCollaboration', '0'], ['AutoRouteToOwnerQueue', '0'],
    ['IsConnectionsEnabled', '0'], ['EntityColor', ''], ['IsDocumentManagementEnabled', '0'],
    ['AutoCreateAccessTeams', '0'], ['IsOneNoteIntegrationEnabled', '0'], ['IsKnowledgeManagementEnabled', '0'],
    ['IsSLAEnabled', '0'], ['IsDocumentRecommendationsEnabled', '0'], ['IsBPFEntity', '0'],
    ['OwnershipTypeMask', t.ownership === 'OrganizationOwned' ? 'OrgOwned' : 'UserOwned'],
    ['IsAuditEnabled', '1'], ['IsActivity', '0'], ['ActivityTypeMask', ''], ['IsActivityParty', '0'],
    ['IsReplicated', '0'], ['IsReplicationUserFiltered', '0'], ['IsMailMergeEnabled', '0'],
    ['IsVisibleInMobile', '0'], ['IsVisibleInMobileClient', '1'], ['IsReadOnlyInMobileClient', '0'],
    ['IsOfflineInMobileClient', '0'], ['DaysSinceRecordLastModified', '0'], ['MobileOfflineFilters', ''],
    ['IsMapiGridEnabled', '1'], ['IsReadingPaneEnabled', '1'], ['IsQuickCreateEnabled', '0'],
    ['SyncToExternalSearchIndex', '0'], ['IntroducedVersion', INTRODUCED],
    ['IsCustomizable', bit(customizable)], ['IsRenameable', '1'], ['IsMappable', '1'],
    ['CanModifyAuditSettings', '1'], ['CanModifyMobileVisibility', '1'], ['CanModifyMobileClientVisibility', '1'],
    ['CanModifyMobileClientReadOnly', '1'], ['CanModifyMobileClientOffline', '1'], ['CanModifyConnectionSettings', '1'],
    ['CanModifyDuplicateDetectionSettings', '1'], ['CanModifyMailMergeSettings', '1'], ['CanModifyQueueSettings', '1'],
    ['CanCreateAttributes', '1'], ['CanCreateForms', '1'], ['CanCreateCharts', '1'], ['CanCreateViews', '1'],
    ['CanModifyAdditionalSettings', '1'], ['CanEnableSyncToExternalSearchIndex', '1'], ['EnforceStateTransitions', '0'],
    ['CanChangeHierarchicalRelationship', '1'], ['EntityHelpUrlEnabled', '0'], ['ChangeTrackingEnabled', '1'],
    ['CanChangeTrackingBeEnabled', '1'], ['IsEnabledForExternalChannels', '0'],
  ]);
  if (t.alternateKeys.length > 0) {
    const keys = info.ele('EntityKeys');
    for (const k of t.alternateKeys) {
      const key = keys.ele('EntityKey');
      leaves(key, [['Name', k.logicalName], ['LogicalName', k.logicalName], ['IntroducedVersion', INTRODUCED], ['IsCustomizable', bit(customizable)]]);
      labels(key, 'displaynames', 'displayname', k.displayName);
      const ka = key.ele('EntityKeyAttributes');
      for (const col of k.columns) ka.ele('AttributeName').txt(col);
    }
  }
  const systemform = e.ele('FormXml').ele('forms', { type: 'main' }).ele('systemform');
  leaves(systemform, [['formid', braced(idOf(ids, idKeys.tableForm(t.logicalName)))], ['IntroducedVersion', INTRODUCED], ['FormPresentation', '1'], ['FormActivationState', '1']]);
  appendTableMainForm(systemform, t, ids);
  leaves(systemform, [['IsCustomizable', bit(customizable)], ['CanBeDeleted', '1']]);
  labels(systemform, 'LocalizedNames', 'LocalizedName', 'Information', 'Information');
  appendSavedQueries(e, t, ids, customizable);
  ribbonDiff(e);
}

/** A platform table carries only what we add: columns (behaviour 2 root) and/or the form diff. */
function appendPlatformEntity(parent: XMLBuilder, t: PlatformTableDef, model: SolutionModel, ids: IdMap, customizable: boolean): boolean {
  const forms = model.formAdditions.filter((f) => f.table === t.logicalName);
  if (t.addedColumns.length === 0 && forms.length === 0) return false;
  const e = parent.ele('Entity');
  e.ele('Name', { LocalizedName: t.displayName, OriginalName: t.displayName }).txt(t.schemaName);
  if (t.addedColumns.length > 0) {
    const attrs = e.ele('EntityInfo').ele('entity', { Name: t.schemaName }).ele('attributes');
    for (const c of [...t.addedColumns].sort((a, b) => (a.logicalName < b.logicalName ? -1 : 1))) appendAttribute(attrs, t, c, customizable);
  }
  if (forms.length > 0) {
    const list = e.ele('FormXml').ele('forms', { type: 'main' });
    for (const f of forms) {
      const sf = list.ele('systemform');
      leaves(sf, [['formid', f.formId], ['IntroducedVersion', f.formIntroducedVersion], ['FormPresentation', '1'], ['FormActivationState', '1']]);
      appendFormAdditionDiff(sf, f, ids);
      labels(sf, 'LocalizedNames', 'LocalizedName', f.formName);
    }
  }
  ribbonDiff(e);
  return true;
}

// ---- relationships, roles, web resources ------------------------------------------------------

/** Platform parents and the consent take their children with them; other parents refuse deletion while used. */
function cascadeDelete(targetTable: string, required: boolean): string {
  if (['contact', 'lead', 'campaign', 'crs_advertisingconsent'].includes(targetTable)) return 'Cascade';
  return required ? 'Restrict' : 'RemoveLink';
}

export interface LookupRelationship { name: string; referencing: TableDef; referenced: TableDef; column: ColumnDef }

export function lookupRelationships(model: SolutionModel): LookupRelationship[] {
  const out: LookupRelationship[] = [];
  for (const t of model.customTables) {
    for (const c of t.columns) {
      if (c.type !== 'lookup') continue;
      const target = c.targets?.[0];
      if (!target || !c.relationshipName) throw new Error(`${t.logicalName}.${c.logicalName}: a lookup needs a target and a relationship name`);
      out.push({ name: c.relationshipName, referencing: t, referenced: tableOf(model, target), column: c });
    }
  }
  return out.sort((a, b) => (a.name < b.name ? -1 : 1));
}

function appendRelationship(parent: XMLBuilder, r: LookupRelationship, customizable: boolean): void {
  const el = parent.ele('EntityRelationship', { Name: r.name });
  leaves(el, [
    ['EntityRelationshipType', 'OneToMany'], ['IsCustomizable', bit(customizable)], ['IntroducedVersion', INTRODUCED],
    ['IsHierarchical', '0'], ['ReferencingEntityName', r.referencing.schemaName], ['ReferencedEntityName', r.referenced.schemaName],
    ['CascadeAssign', 'NoCascade'], ['CascadeDelete', cascadeDelete(r.referenced.logicalName, r.column.required === true)],
    ['CascadeReparent', 'NoCascade'], ['CascadeShare', 'NoCascade'], ['CascadeUnshare', 'NoCascade'],
    ['CascadeRollupView', 'NoCascade'], ['IsValidForAdvancedFind', '1'], ['ReferencingAttributeName', r.column.logicalName],
  ]);
  labels(el.ele('RelationshipDescription'), 'Descriptions', 'Description', r.column.description);
  const roles = el.ele('EntityRelationshipRoles');
  // Navigation property names: the lookup column for the single-valued side (Web API
  // `crs_campaignclientid@odata.bind`), the relationship name for the collection side.
  leaves(roles.ele('EntityRelationshipRole'), [
    ['NavPaneDisplayOption', 'UseCollectionName'], ['NavPaneArea', 'Details'], ['NavPaneOrder', 10000],
    ['NavigationPropertyName', r.column.logicalName], ['RelationshipRoleType', 1],
  ]);
  leaves(roles.ele('EntityRelationshipRole'), [['NavigationPropertyName', r.name], ['RelationshipRoleType', 0]]);
}

function appendRole(parent: XMLBuilder, role: RoleDef, model: SolutionModel, ids: IdMap): void {
  const el = parent.ele('Role', { id: braced(idOf(ids, idKeys.role(role.key))), name: role.name });
  leaves(el, [['IsCustomizable', '1'], ['IntroducedVersion', INTRODUCED]]);
  const privs = el.ele('RolePrivileges');
  const seen = new Map<string, string>();
  for (const g of role.grants) {
    const table = tableOf(model, g.table);
    for (const verb of g.verbs) seen.set(privilegeName(table, verb), g.depth);
  }
  for (const [name, level] of [...seen].sort(([a], [b]) => (a < b ? -1 : 1))) privs.ele('RolePrivilege', { name, level });
}

function appendWebResource(parent: XMLBuilder, w: WebResourceDef, ids: IdMap, managed: boolean): void {
  const el = parent.ele('WebResource');
  leaves(el, [
    ['WebResourceId', braced(idOf(ids, idKeys.webResource(w.name)))], ['Name', w.name], ['DisplayName', w.displayName],
    ['Description', w.description], ['LanguageCode', LCID_EN], ['WebResourceType', w.type], ['IntroducedVersion', INTRODUCED],
    ['IsEnabledForMobileClient', '1'], ['IsAvailableForMobileOffline', '0'],
    ['DependencyXml', '<Dependencies><Dependency componentType="WebResource" /></Dependencies>'],
    // Managed: HTML/JS panels are not customizable (the in-app editor rewrites HTML).
    ['IsCustomizable', bit(!managed)], ['CanBeDeleted', '1'], ['IsHidden', '0'],
    ['FileName', `/${webResourceFileName(w, ids)}`],
  ]);
}

// ---- the document ------------------------------------------------------------------------------

export function customizationsXml(model: SolutionModel, ids: IdMap, options: Pick<BuildOptions, 'managed'>): string {
  const root = newDocument().ele('ImportExportXml', { 'xmlns:xsi': XSI_NS });
  const entities = root.ele('Entities');
  for (const t of [...model.customTables].sort((a, b) => (a.schemaName < b.schemaName ? -1 : 1))) appendCustomEntity(entities, t, ids, true);
  for (const t of [...model.platformTables].sort((a, b) => (a.schemaName < b.schemaName ? -1 : 1))) appendPlatformEntity(entities, t, model, ids, true);
  const roles = root.ele('Roles');
  for (const r of model.roles) appendRole(roles, r, model, ids);
  root.ele('Workflows');
  root.ele('FieldSecurityProfiles');
  root.ele('Templates');
  root.ele('EntityMaps');
  const rels = root.ele('EntityRelationships');
  for (const r of lookupRelationships(model)) appendRelationship(rels, r, true);
  root.ele('OrganizationSettings');
  root.ele('optionsets');
  const wr = root.ele('WebResources');
  for (const w of [...model.webResources].sort((a, b) => (a.name < b.name ? -1 : 1))) appendWebResource(wr, w, ids, options.managed);
  root.ele('CustomControls');
  root.ele('EntityDataProviders');
  const langs = root.ele('Languages');
  langs.ele('Language').txt(String(LCID_EN));
  langs.ele('Language').txt(String(LCID_DE));
  return renderExportStyle(root);
}
