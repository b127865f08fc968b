/** solution.xml (the SolutionManifest) and [Content_Types].xml, shaped like Microsoft's exports. */
import type { SolutionModel } from '../model/types.js';
import { braced, idKeys, idOf, type IdMap } from './ids.js';
import type { BuildOptions } from './scope.js';
import { labels, leaves, newDocument, renderExportStyle, XSI_NS, type XMLBuilder } from './xml.js';
import { create } from 'xmlbuilder2';

/** Solution component type codes (solutioncomponent.componenttype). */
export const COMPONENT_TYPE = { Entity: 1, Role: 20, SystemForm: 60, WebResource: 61 } as const;
/** Root component behaviour: 0 include everything, 2 only the subcomponents we ship. */
export const BEHAVIOR = { IncludeAll: 0, IncludeMetadata: 1, SubcomponentsOnly: 2 } as const;

/** The version a recent cloud export writes (the reference sample says 9.2.21102.109). */
export const EXPORT_VERSION = '9.2.21102.109';

const ADDRESS_FIELDS = [
  'AddressTypeCode', 'City', 'County', 'Country', 'Fax', 'FreightTermsCode', 'ImportSequenceNumber', 'Latitude',
  'Line1', 'Line2', 'Line3', 'Longitude', 'Name', 'PostalCode', 'PostOfficeBox', 'PrimaryContactName',
  'ShippingMethodCode', 'StateOrProvince', 'Telephone1', 'Telephone2', 'Telephone3', 'TimeZoneRuleVersionNumber',
  'UPSZone', 'UTCOffset', 'UTCConversionTimeZoneCode',
];

function nil(parent: XMLBuilder, tag: string): void {
  parent.ele(tag, { 'xsi:nil': 'true' });
}

export interface RootComponent { type: number; schemaName?: string; id?: string; behavior?: number }

/**
 * Custom tables whole (0), platform tables with only our subcomponents (2). Forms inside a table
 * are not roots of their own: Microsoft's exports list them only under the table in customizations.xml.
 */
export function rootComponents(model: SolutionModel, ids: IdMap): RootComponent[] {
  const roots: RootComponent[] = [];
  for (const t of model.customTables) roots.push({ type: COMPONENT_TYPE.Entity, schemaName: t.logicalName, behavior: BEHAVIOR.IncludeAll });
  for (const t of model.platformTables) {
    const hasForm = model.formAdditions.some((f) => f.table === t.logicalName);
    if (t.addedColumns.length > 0 || hasForm) roots.push({ type: COMPONENT_TYPE.Entity, schemaName: t.logicalName, behavior: BEHAVIOR.SubcomponentsOnly });
  }
  for (const r of model.roles) roots.push({ type: COMPONENT_TYPE.Role, id: braced(idOf(ids, idKeys.role(r.key))), behavior: BEHAVIOR.IncludeAll });
  for (const w of model.webResources) roots.push({ type: COMPONENT_TYPE.WebResource, schemaName: w.name, behavior: BEHAVIOR.IncludeAll });
  const key = (r: RootComponent) => `${String(r.type).padStart(4, '0')}|${r.schemaName ?? ''}|${r.id ?? ''}`;
  return roots.sort((a, b) => (key(a) < key(b) ? -1 : 1));
}

export function solutionXml(model: SolutionModel, ids: IdMap, options: Pick<BuildOptions, 'managed' | 'version'>): string {
  const root = newDocument().ele('ImportExportXml', {
    version: EXPORT_VERSION, SolutionPackageVersion: '9.2', languagecode: '1033', generatedBy: 'CrmLive', 'xmlns:xsi': XSI_NS,
  });
  const m = root.ele('SolutionManifest');
  m.ele('UniqueName').txt(model.uniqueName);
  labels(m, 'LocalizedNames', 'LocalizedName', model.displayName);
  labels(m, 'Descriptions', 'Description', model.description);
  m.ele('Version').txt(options.version);
  m.ele('Managed').txt(options.managed ? '1' : '0');
  const p = m.ele('Publisher');
  p.ele('UniqueName').txt(model.publisher.uniqueName);
  labels(p, 'LocalizedNames', 'LocalizedName', model.publisher.displayName);
  p.ele('Descriptions');
  nil(p, 'EMailAddress');
  nil(p, 'SupportingWebsiteUrl');
  leaves(p, [['CustomizationPrefix', model.publisher.prefix], ['CustomizationOptionValuePrefix', model.publisher.optionValuePrefix]]);
  const addresses = p.ele('Addresses');
  for (const n of [1, 2]) {
    const a = addresses.ele('Address');
    a.ele('AddressNumber').txt(String(n));
    for (const f of ADDRESS_FIELDS) nil(a, f);
  }
  const rc = m.ele('RootComponents');
  for (const r of rootComponents(model, ids)) {
    const attrs: Record<string, string> = { type: String(r.type) };
    if (r.id) attrs.id = r.id;
    if (r.schemaName) attrs.schemaName = r.schemaName;
    if (r.behavior !== undefined) attrs.behavior = String(r.behavior);
    rc.ele('RootComponent', attrs);
  }
  m.ele('MissingDependencies');
  return renderExportStyle(root);
}

/** OPC content types: xml by default, one override per extension-less web resource part. */
export function contentTypesXml(webResourceParts: readonly string[]): string {
  const types = create().ele('Types', { xmlns: 'http://schemas.openxmlformats.org/package/2006/content-types' });
  types.ele('Default', { Extension: 'xml', ContentType: 'application/octet-stream' });
  for (const part of [...webResourceParts].sort()) types.ele('Override', { PartName: `/${part}`, ContentType: 'application/octet-stream' });
  // Exports write this part with a BOM and a declaration, on one line.
  return '\uFEFF<?xml version="1.0" encoding="utf-8"?>' + types.end({ headless: true, spaceBeforeSlash: true });
}
