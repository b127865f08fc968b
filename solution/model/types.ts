/**
 * Types of the one schema model that describes everything we ship to Dataverse.
 * The packager, the service and the Dataverse emulator all read this model.
 */

export type ColumnType =
  | 'primarykey' // uniqueidentifier primary key of a table
  | 'text' // single line of text
  | 'memo' // multiple lines of text
  | 'choice' // picklist (local option set)
  | 'lookup' // many-to-one reference
  | 'customer' // polymorphic lookup to contact or account (platform only)
  | 'datetime'
  | 'boolean'
  | 'integer'
  | 'state' // statecode (platform only)
  | 'status'; // statuscode (platform only)

export interface ChoiceOption {
  value: number;
  label: string;
  /** German label (Dataverse LCID 1031). */
  labelDe: string;
}

export interface ColumnDef {
  logicalName: string;
  type: ColumnType;
  displayName: string;
  displayNameDe: string;
  description: string;
  /** text/memo: maximum length in characters. */
  maxLength?: number;
  /** choice: the options. */
  options?: readonly ChoiceOption[];
  /** choice/boolean: default value. */
  defaultValue?: number | boolean;
  /** lookup: logical name of the target table(s). */
  targets?: readonly string[];
  /** lookup: the relationship schema name (e.g. crs_contact_crs_advertisingconsent). */
  relationshipName?: string;
  /** Application-required (ApplicationRequired) in Dataverse. */
  required?: boolean;
  /** Can be set on update (false for e.g. regardingobjectid of campaignresponse). */
  validForUpdate?: boolean;
}

export interface AlternateKeyDef {
  logicalName: string;
  displayName: string;
  columns: readonly string[];
}

export interface TableDef {
  logicalName: string;
  schemaName: string;
  entitySetName: string;
  displayName: string;
  displayNameDe: string;
  pluralDisplayName: string;
  pluralDisplayNameDe: string;
  description: string;
  primaryIdAttribute: string;
  primaryNameAttribute: string;
  ownership: 'UserOwned' | 'OrganizationOwned';
  columns: readonly ColumnDef[];
  alternateKeys: readonly AlternateKeyDef[];
}

/** A platform (out-of-box) table: we add columns to it or only read/write it. */
export interface PlatformTableDef extends TableDef {
  /** Columns the solution adds (shipped); the rest of `columns` exist in every org. */
  addedColumns: readonly ColumnDef[];
  /** Object type code, fixed for platform tables. */
  objectTypeCode: number;
  isActivity?: boolean;
}

// ---- what else the solution ships (roles, web resources, form additions) -----------------------

/** Dataverse privilege verbs (the middle part of prv<Verb><Entity>). */
export type PrivilegeVerb = 'Create' | 'Read' | 'Write' | 'Delete' | 'Append' | 'AppendTo' | 'Assign' | 'Share';
/** Privilege depth as customizations.xml spells it: user, business unit, parent:child BU, organization. */
export type PrivilegeDepth = 'Basic' | 'Local' | 'Deep' | 'Global';

export interface RoleGrant {
  /** Logical name of the table (custom or platform). */
  table: string;
  verbs: readonly PrivilegeVerb[];
  depth: PrivilegeDepth;
}

export interface RoleDef {
  /** Stable key for the id map (never shown). */
  key: string;
  name: string;
  description: string;
  grants: readonly RoleGrant[];
}

/** Web resource type codes (webresourcetype column): 1 HTML, 2 CSS, 3 JScript. */
export type WebResourceTypeCode = 1 | 2 | 3;

export interface WebResourceDef {
  /** Name as Dataverse shows it, e.g. crs_/panels/optinhistory.html; also the path under dist/webresources/. */
  name: string;
  displayName: string;
  description: string;
  type: WebResourceTypeCode;
}

/** One panel section of the added form tab: a web resource control in a one-cell section. */
export interface FormPanelDef {
  key: string;
  sectionName: string;
  label: string;
  labelDe: string;
  /** Name of the HTML web resource shown. */
  webResource: string;
  /** Control id; Dataverse requires the WebResource_ prefix. */
  controlId: string;
  rowSpan: number;
}

/** What the solution adds to one platform main form: a new tab, a form library and handlers. */
export interface FormAdditionDef {
  /** Logical name of the platform table (contact or lead). */
  table: string;
  formId: string;
  formName: string;
  /** IntroducedVersion the platform form carries (exports repeat it in diffs). */
  formIntroducedVersion: string;
  tabName: string;
  tabLabel: string;
  tabLabelDe: string;
  panels: readonly FormPanelDef[];
  library: string;
  onLoadFunction: string;
  tabStateChangeFunction: string;
}

export interface PublisherDef {
  uniqueName: string;
  displayName: string;
  prefix: string;
  optionValuePrefix: number;
}

/** Everything the packager turns into a solution zip. */
export interface SolutionModel {
  uniqueName: string;
  displayName: string;
  description: string;
  publisher: PublisherDef;
  customTables: readonly TableDef[];
  platformTables: readonly PlatformTableDef[];
  roles: readonly RoleDef[];
  webResources: readonly WebResourceDef[];
  formAdditions: readonly FormAdditionDef[];
}
