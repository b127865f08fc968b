import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { solutionModel } from '../../solution/model/index.js';
import { customizationsXml, lookupRelationships } from '../../solution/build/customizations.js';
import { formFragments } from '../../solution/build/formxml.js';
import { contentTypesXml, rootComponents, solutionXml } from '../../solution/build/manifest.js';
import { scopeModel } from '../../solution/build/scope.js';
import { SAMPLE_DIR, xmllint } from './solution-helpers.js';

const ids = JSON.parse(readFileSync(path.resolve(import.meta.dirname, '../../solution/ids.json'), 'utf8')) as Record<string, string>;
const full = solutionModel;
const noLead = scopeModel(solutionModel, { withoutLead: true });
const version = '1.0.0.0';

/** Published 9.0.0.2090 schemas do not model managed form diffs; these are the markers a diff needs. */
const stripDiffMarkers = (xml: string) => xml.replace(/ solutionaction="(Added|Modified|Removed)"/g, '');
const DIFF_MARKER_ERROR = /Element '(tab|event|formLibraries)', attribute 'solutionaction': The attribute 'solutionaction' is not allowed\./;

const variants = [
  { label: 'managed', model: full, managed: true },
  { label: 'unmanaged', model: full, managed: false },
  { label: 'managed without Lead', model: noLead, managed: true },
];

describe.each(variants)('customizations.xml ($label)', ({ model, managed }) => {
  const xml = customizationsXml(model, ids, { managed });

  it('is well-formed', () => {
    expect(xmllint(xml)).toEqual({ status: 0, errors: [] });
  });

  it('validates against CustomizationsSolution.xsd with zero errors once the form-diff markers are taken out', () => {
    expect(xmllint(stripDiffMarkers(xml), 'CustomizationsSolution.xsd')).toEqual({ status: 0, errors: [] });
  });

  it('as shipped, its only schema findings are the three diff markers per form addition (tab, onload event, form library)', () => {
    const r = xmllint(xml, 'CustomizationsSolution.xsd');
    const unexpected = r.errors.filter((e) => !DIFF_MARKER_ERROR.test(e));
    expect(unexpected).toEqual([]);
    expect(r.errors).toHaveLength(3 * model.formAdditions.length);
  });
});

describe('FormXml fragments', () => {
  const fragments = formFragments(full, ids);

  it('cover both form additions and a main form per custom table', () => {
    expect(fragments.filter((f) => f.diff).map((f) => f.name.split(':')[0])).toEqual(['contact', 'lead']);
    expect(fragments.filter((f) => !f.diff)).toHaveLength(full.customTables.length);
  });

  it.each(fragments.filter((f) => !f.diff).map((f) => [f.name, f] as const))('%s validates against FormXml.xsd', (_name, f) => {
    expect(xmllint(f.xml, 'FormXml.xsd')).toEqual({ status: 0, errors: [] });
  });

  it.each(fragments.filter((f) => f.diff).map((f) => [f.name, f] as const))('%s validates against FormXml.xsd apart from its diff markers', (_name, f) => {
    expect(xmllint(stripDiffMarkers(f.xml), 'FormXml.xsd')).toEqual({ status: 0, errors: [] });
    const raw = xmllint(f.xml, 'FormXml.xsd');
    expect(raw.errors.filter((e) => !DIFF_MARKER_ERROR.test(e))).toEqual([]);
    expect(raw.errors).toHaveLength(3);
  });

  it('the diff adds a tab with two web resource controls passing record id and type, the library and both handlers', () => {
    const diff = fragments.find((f) => f.name.startsWith('contact:'))!.xml;
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(diff);
    const tab = doc.form.tabs.tab;
    expect(tab.solutionaction).toBe('Added');
    const sections = tab.columns.column.sections.section;
    const controls = sections.map((s: { rows: { row: Array<{ cell?: { control: unknown } }> } }) => s.rows.row[0]!.cell!.control);
    expect(controls.map((c: { parameters: { Url: string } }) => c.parameters.Url)).toEqual(['crs_/panels/campaignresponses.html', 'crs_/panels/optinhistory.html']);
    for (const c of controls) {
      expect(c.classid).toBe('{9FDF5F91-88B1-47f4-AD53-C11EFC01A01D}');
      expect(c.parameters.PassParameters).toBe(true);
    }
    expect(tab.events.event.name).toBe('tabstatechange');
    expect(tab.events.event.Handlers.Handler).toMatchObject({ functionName: 'Crs.Form.onTabStateChange', libraryName: 'crs_/form/onload.js', passExecutionContext: 'true' });
    expect(doc.form.events.event).toMatchObject({ name: 'onload', solutionaction: 'Added' });
    expect(doc.form.events.event.Handlers.Handler).toMatchObject({ functionName: 'Crs.Form.onLoad', libraryName: 'crs_/form/onload.js', passExecutionContext: 'true' });
    expect(doc.form.formLibraries.Library.name).toBe('crs_/form/onload.js');
  });
});

/** Element paths of a document in order, attributes as sets: the "shape" to compare with the sample. */
function shape(xml: string) {
  const parser = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', preserveOrder: true });
  type Node = Record<string, unknown> & { ':@'?: Record<string, string> };
  const nodes = parser.parse(xml) as Node[];
  const tag = (n: Node) => Object.keys(n).find((k) => k !== ':@')!;
  const kids = (n: Node) => ((n[tag(n)] as Node[]) ?? []).filter((k) => tag(k) !== '#text');
  const root = nodes.find((n) => tag(n) === 'ImportExportXml')!;
  const manifest = kids(root).find((n) => tag(n) === 'SolutionManifest')!;
  const publisher = kids(manifest).find((n) => tag(n) === 'Publisher')!;
  const address = kids(kids(publisher).find((n) => tag(n) === 'Addresses')!)[0]!;
  const roots = kids(kids(manifest).find((n) => tag(n) === 'RootComponents')!);
  return {
    rootAttributes: Object.keys(root[':@'] ?? {}).sort(),
    manifest: kids(manifest).map(tag),
    publisher: kids(publisher).map(tag),
    address: kids(address).map(tag),
    rootComponentAttributes: [...new Set(roots.flatMap((r) => Object.keys(r[':@'] ?? {})))].sort(),
  };
}

describe('solution.xml', () => {
  const sample = shape(readFileSync(path.join(SAMPLE_DIR, 'solution.xml'), 'utf8'));

  it.each([true, false])('(managed=%s) is well-formed and has the structure of the Microsoft sample', (managed) => {
    const xml = solutionXml(full, ids, { managed, version });
    expect(xmllint(xml)).toEqual({ status: 0, errors: [] });
    const ours = shape(xml);
    expect(ours.rootAttributes).toEqual(sample.rootAttributes);
    expect(ours.manifest).toEqual(sample.manifest);
    expect(ours.publisher).toEqual(sample.publisher);
    expect(ours.address).toEqual(sample.address);
    for (const a of ours.rootComponentAttributes) expect(sample.rootComponentAttributes).toContain(a);
    expect(xml).toContain(`<Managed>${managed ? 1 : 0}</Managed>`);
  });

  it('names the publisher, prefix, option value prefix and version', () => {
    const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '' }).parse(solutionXml(full, ids, { managed: true, version: '3.4.5.0' }));
    const m = doc.ImportExportXml.SolutionManifest;
    expect(m.UniqueName).toBe('CampaignResponseSync');
    expect(m.Version).toBe('3.4.5.0');
    expect(m.Publisher.UniqueName).toBe('campaignresponsesync');
    expect(m.Publisher.CustomizationPrefix).toBe('crs');
    expect(m.Publisher.CustomizationOptionValuePrefix).toBe(58300);
  });

  it('root components: custom tables whole (type 1, behaviour 0), contact/lead/campaignresponse only our parts (behaviour 2), roles (20), web resources (61)', () => {
    const roots = rootComponents(full, ids);
    const byName = (n: string) => roots.find((r) => r.schemaName === n);
    for (const t of full.customTables) expect(byName(t.logicalName)).toEqual({ type: 1, schemaName: t.logicalName, behavior: 0 });
    for (const t of ['contact', 'lead', 'campaignresponse']) expect(byName(t)).toEqual({ type: 1, schemaName: t, behavior: 2 });
    expect(byName('campaign')).toBeUndefined();
    expect(roots.filter((r) => r.type === 20)).toHaveLength(2);
    expect(roots.filter((r) => r.type === 61).map((r) => r.schemaName).sort()).toEqual(full.webResources.map((w) => w.name).sort());
    expect(roots.map((r) => r.type).every((t) => [1, 20, 61].includes(t))).toBe(true);
  });
});

describe('customizations.xml content', () => {
  const xml = customizationsXml(full, ids, { managed: true });
  const doc = new XMLParser({ ignoreAttributes: false, attributeNamePrefix: '', isArray: (name) => ['Entity', 'attribute', 'EntityRelationship', 'Role', 'RolePrivilege', 'WebResource', 'option', 'EntityKey', 'AttributeName'].includes(name) }).parse(xml);
  const entities = doc.ImportExportXml.Entities.Entity as Array<{ Name: { '#text': string }; EntityInfo?: { entity: { attributes: { attribute: Array<Record<string, unknown>> }; EntitySetName?: string; EntityKeys?: { EntityKey: Array<{ Name: string; EntityKeyAttributes: { AttributeName: string[] } }> } } } }>;
  const entity = (schema: string) => entities.find((e) => e.Name['#text'] === schema);

  it('has every custom table with its entity set name, primary name and every model column', () => {
    for (const t of full.customTables) {
      const e = entity(t.schemaName)!;
      expect(e.EntityInfo!.entity.EntitySetName).toBe(t.entitySetName);
      const attrs = e.EntityInfo!.entity.attributes.attribute;
      expect(attrs.map((a) => a.LogicalName).sort()).toEqual(t.columns.map((c) => c.logicalName).sort());
      const primaryName = attrs.find((a) => a.LogicalName === 'crs_name')!;
      expect(String(primaryName.DisplayMask)).toContain('PrimaryName');
    }
  });

  it('writes lengths and choices exactly as the model says (option value prefix 58300)', () => {
    const attrs = entity('crs_OptInHistory')!.EntityInfo!.entity.attributes.attribute;
    const reason = attrs.find((a) => a.LogicalName === 'crs_reason')!;
    expect(reason).toMatchObject({ Type: 'nvarchar', MaxLength: 400 });
    const source = attrs.find((a) => a.LogicalName === 'crs_source') as { optionset: { options: { option: Array<{ value: string }> } } };
    expect(source.optionset.options.option.map((o) => Number(o.value))).toEqual([583000000, 583000001, 583000002, 583000003, 583000004, 583000005, 583000006]);
  });

  it('declares the alternate keys', () => {
    const keys = (schema: string) => entity(schema)!.EntityInfo!.entity.EntityKeys!.EntityKey;
    expect(keys('crs_CampaignClient').map((k) => k.EntityKeyAttributes.AttributeName)).toEqual([['crs_clientid']]);
    expect(keys('crs_CampaignMailing').map((k) => k.EntityKeyAttributes.AttributeName)).toEqual([['crs_campaignclientid', 'crs_mailingid']]);
  });

  it('adds only our six columns to campaignresponse', () => {
    const attrs = entity('CampaignResponse')!.EntityInfo!.entity.attributes.attribute.map((a) => a.LogicalName);
    expect(attrs.sort()).toEqual(['crs_clientid', 'crs_eventcount', 'crs_lastoccurredon', 'crs_linkurl', 'crs_mailingid', 'crs_responsekey']);
  });

  it('has one relationship per lookup, navigable as the spec binds it (crs_campaignclientid@odata.bind)', () => {
    const rels = doc.ImportExportXml.EntityRelationships.EntityRelationship as Array<{ Name: string; ReferencingAttributeName: string; EntityRelationshipRoles: { EntityRelationshipRole: Array<{ NavigationPropertyName: string }> } }>;
    expect(rels.map((r) => r.Name)).toEqual(lookupRelationships(full).map((r) => r.name));
    expect(rels).toHaveLength(8);
    const r = rels.find((x) => x.Name === 'crs_campaignclient_crs_newsletter')!;
    expect(r.ReferencingAttributeName).toBe('crs_campaignclientid');
    expect(r.EntityRelationshipRoles.EntityRelationshipRole[0]!.NavigationPropertyName).toBe('crs_campaignclientid');
  });

  it('gives the roles their privileges', () => {
    const rolesXml = doc.ImportExportXml.Roles.Role as Array<{ name: string; RolePrivileges: { RolePrivilege: Array<{ name: string; level: string }> } }>;
    const service = rolesXml.find((r) => r.name === 'Campaign Response Sync Service')!;
    const names = service.RolePrivileges.RolePrivilege.map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining(['prvCreatecrs_OptInHistory', 'prvWriteActivity', 'prvReadContact', 'prvAppendToLead', 'prvReadCampaign']));
    expect(names).not.toContain('prvDeleteActivity');
    expect(service.RolePrivileges.RolePrivilege.find((p) => p.name === 'prvWriteActivity')?.level).toBe('Basic');
    expect(service.RolePrivileges.RolePrivilege.find((p) => p.name === 'prvReadcrs_Newsletter')?.level).toBe('Global');
  });

  it('lists each web resource with its type and zip part; managed builds make them non-customizable', () => {
    const wr = doc.ImportExportXml.WebResources.WebResource as Array<{ Name: string; WebResourceType: number; FileName: string; IsCustomizable: number }>;
    expect(wr.map((w) => [w.Name, w.WebResourceType])).toEqual(
      [...full.webResources].sort((a, b) => (a.name < b.name ? -1 : 1)).map((w) => [w.name, w.type]),
    );
    for (const w of wr) {
      expect(w.FileName).toMatch(/^\/WebResources\/crs_[a-z]+[0-9A-F-]{36}$/);
      expect(w.IsCustomizable).toBe(0);
    }
    expect(customizationsXml(full, ids, { managed: false })).toContain('<IsCustomizable>1</IsCustomizable>\r\n      <CanBeDeleted>1</CanBeDeleted>\r\n      <IsHidden>0</IsHidden>');
  });

  it('without Lead has no Lead entity, lead lookup or lead privilege', () => {
    const x = customizationsXml(noLead, ids, { managed: true });
    expect(x).not.toMatch(/>Lead</);
    expect(x).not.toContain('crs_leadid');
    expect(x).not.toContain('Lead"');
    expect(x).not.toContain(full.formAdditions[1]!.formId);
  });
});

describe('[Content_Types].xml', () => {
  it('is well-formed, starts like the sample (BOM + declaration) and overrides each web resource part', () => {
    const xml = contentTypesXml(['WebResources/b', 'WebResources/a']);
    expect(xml.startsWith('\uFEFF<?xml version="1.0" encoding="utf-8"?><Types ')).toBe(true);
    expect(xmllint(xml)).toEqual({ status: 0, errors: [] });
    expect(xml).toContain('<Default Extension="xml" ContentType="application/octet-stream" />');
    expect(xml.indexOf('PartName="/WebResources/a"')).toBeLessThan(xml.indexOf('PartName="/WebResources/b"'));
  });
});
