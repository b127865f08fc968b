import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { v5 as uuidv5 } from 'uuid';
import {
  campaignClient, campaignResponse, contact, customTables, formAdditions, lead, roles, solutionModel, webResources,
  webResourceTypeOf, CONTACT_MAIN_FORM_ID, LEAD_MAIN_FORM_ID,
} from '../../solution/model/index.js';
import { completeIdMap, generateId, ID_NAMESPACE, idOf, missingIdKeys, requiredIdKeys } from '../../solution/build/ids.js';
import { privilegeName, webResourceFileName } from '../../solution/build/customizations.js';
import { dataverseVersion, scopeModel } from '../../solution/build/scope.js';

const idsFile = path.resolve(import.meta.dirname, '../../solution/ids.json');
const ids = JSON.parse(readFileSync(idsFile, 'utf8')) as Record<string, string>;

describe('committed id map (solution/ids.json)', () => {
  it('holds every id the XML of the full model needs', () => {
    expect(missingIdKeys(ids, requiredIdKeys(solutionModel))).toEqual([]);
  });

  it('has no two components sharing an id, and every value is a GUID', () => {
    const values = Object.values(ids);
    expect(new Set(values).size).toBe(values.length);
    for (const v of values) expect(v).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  });

  it('was generated as UUID v5 of the key (so regenerating cannot move an id)', () => {
    for (const [key, value] of Object.entries(ids)) expect(value).toBe(uuidv5(key, ID_NAMESPACE));
  });

  it('completing the map adds missing keys and never changes an existing id', () => {
    const pinned = { 'webresource:crs_/form/onload.js': '00000000-0000-4000-8000-000000000001' };
    const done = completeIdMap(pinned, ['webresource:crs_/form/onload.js', 'role:new']);
    expect(done['webresource:crs_/form/onload.js']).toBe('00000000-0000-4000-8000-000000000001');
    expect(done['role:new']).toBe(generateId('role:new'));
    expect(Object.keys(done)).toEqual(['role:new', 'webresource:crs_/form/onload.js']);
  });

  it('a missing id is an error that names the key and the fix', () => {
    expect(() => idOf({}, 'role:x')).toThrow(/no id for "role:x".*npx crs solution ids/);
  });
});

describe('web resources (spec §3 names)', () => {
  it('ships the two panels (html, js, css) and the form script, nothing else', () => {
    expect(webResources.map((w) => w.name).sort()).toEqual([
      'crs_/form/onload.js',
      'crs_/panels/campaignresponses.css', 'crs_/panels/campaignresponses.html', 'crs_/panels/campaignresponses.js',
      'crs_/panels/optinhistory.css', 'crs_/panels/optinhistory.html', 'crs_/panels/optinhistory.js',
    ]);
  });

  it.each([
    ['crs_/panels/optinhistory.html', 1],
    ['crs_/panels/optinhistory.css', 2],
    ['crs_/form/onload.js', 3],
  ] as const)('%s has type code %i', (name, code) => {
    expect(webResources.find((w) => w.name === name)?.type).toBe(code);
    expect(webResourceTypeOf(name)).toBe(code);
  });

  it('rejects a file type the model does not ship', () => {
    expect(() => webResourceTypeOf('crs_/x.png')).toThrow(/unsupported extension \.png/);
  });

  it('names zip parts like Microsoft exports: punctuation removed, upper-case id appended', () => {
    const w = webResources.find((x) => x.name === 'crs_/panels/campaignresponses.html');
    expect(w).toBeDefined();
    const id = ids['webresource:crs_/panels/campaignresponses.html']?.toUpperCase();
    expect(webResourceFileName(w!, ids)).toBe(`WebResources/crs_panelscampaignresponseshtml${id}`);
  });
});

describe('security roles', () => {
  const reader = roles.find((r) => r.name === 'Campaign Response Sync Reader');
  const service = roles.find((r) => r.name === 'Campaign Response Sync Service');

  it('are the reader and the service role', () => {
    expect(roles.map((r) => r.name)).toEqual(['Campaign Response Sync Reader', 'Campaign Response Sync Service']);
  });

  it('reader reads every custom table and campaign responses, and changes nothing', () => {
    const tables = reader!.grants.map((g) => g.table).sort();
    expect(tables).toEqual([...customTables.map((t) => t.logicalName), 'campaignresponse'].sort());
    for (const g of reader!.grants) expect(g.verbs).toEqual(['Read']);
  });

  it('service can create/read/write/append/appendto the custom tables and responses, and only read+link persons and campaigns', () => {
    const full = ['Create', 'Read', 'Write', 'Append', 'AppendTo'];
    for (const t of [...customTables.map((x) => x.logicalName), 'campaignresponse']) {
      expect(service!.grants.find((g) => g.table === t)?.verbs).toEqual(full);
    }
    for (const t of ['contact', 'lead', 'campaign']) expect(service!.grants.find((g) => g.table === t)?.verbs).toEqual(['Read', 'AppendTo']);
    expect(service!.grants.flatMap((g) => g.verbs)).not.toContain('Delete');
  });

  it('uses organization depth except for the service on activities (it owns the responses it creates)', () => {
    for (const r of roles) {
      for (const g of r.grants) expect(g.depth).toBe(r === service && g.table === 'campaignresponse' ? 'Basic' : 'Global');
    }
  });

  it.each([
    [campaignClient, 'Read', 'prvReadcrs_CampaignClient'],
    [campaignResponse, 'Create', 'prvCreateActivity'],
    [contact, 'AppendTo', 'prvAppendToContact'],
    [lead, 'Read', 'prvReadLead'],
  ] as const)('privilege of %s.%s is %s', (table, verb, name) => {
    expect(privilegeName(table, verb)).toBe(name);
  });
});

describe('form additions', () => {
  it('add one tab with both panels to the Contact and Lead main forms', () => {
    expect(formAdditions.map((f) => [f.table, f.formId])).toEqual([['contact', CONTACT_MAIN_FORM_ID], ['lead', LEAD_MAIN_FORM_ID]]);
    for (const f of formAdditions) {
      expect(f.panels.map((p) => p.webResource)).toEqual(['crs_/panels/campaignresponses.html', 'crs_/panels/optinhistory.html']);
      for (const p of f.panels) expect(p.controlId).toMatch(/^WebResource_/);
      expect(f.library).toBe('crs_/form/onload.js');
      expect(f.onLoadFunction).toBe('Crs.Form.onLoad');
      expect(f.tabStateChangeFunction).toBe('Crs.Form.onTabStateChange');
    }
  });
});

describe('without Lead', () => {
  const scoped = scopeModel(solutionModel, { withoutLead: true });

  it('drops the Lead form, the lead lookup, the lead table and lead grants', () => {
    expect(scoped.formAdditions.map((f) => f.table)).toEqual(['contact']);
    expect(scoped.platformTables.map((t) => t.logicalName)).not.toContain('lead');
    const consent = scoped.customTables.find((t) => t.logicalName === 'crs_advertisingconsent');
    expect(consent?.columns.map((c) => c.logicalName)).not.toContain('crs_leadid');
    expect(consent?.columns.map((c) => c.logicalName)).toContain('crs_contactid');
    for (const r of scoped.roles) expect(r.grants.map((g) => g.table)).not.toContain('lead');
  });

  it('leaves the shared model untouched', () => {
    expect(solutionModel.customTables.find((t) => t.logicalName === 'crs_advertisingconsent')?.columns.map((c) => c.logicalName)).toContain('crs_leadid');
    expect(scopeModel(solutionModel, { withoutLead: false })).toBe(solutionModel);
  });
});

describe('dataverseVersion', () => {
  it.each([
    ['1.0.0', '1.0.0.0'],
    ['2.13.7', '2.13.7.0'],
    ['1.2.3.4', '1.2.3.4'],
    ['01.002.3', '1.2.3.0'],
  ])('%s → %s', (input, out) => {
    expect(dataverseVersion(input)).toBe(out);
  });

  it.each(['1.0', '1.0.0-beta.1', 'v1.0.0', ''])('rejects %j with a clear line', (input) => {
    expect(() => dataverseVersion(input)).toThrow(/not major\.minor\.patch/);
  });
});
