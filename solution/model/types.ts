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
