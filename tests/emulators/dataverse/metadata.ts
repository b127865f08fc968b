/**
 * A CSDL `$metadata` document for the emulated tables: entity types with keys, structural
 * properties (lookups as `_x_value`), navigation properties, alternate keys, and the entity sets.
 * Real Dataverse serves the same shape for every table of the org (tens of MB).
 */
import { create } from 'xmlbuilder2';
import type { Schema } from './schema.js';
import { lookupKey } from './store.js';

export function metadataXml(schema: Schema): string {
  const doc = create({ version: '1.0', encoding: 'utf-8' })
    .ele('edmx:Edmx', { Version: '4.0', 'xmlns:edmx': 'http://docs.oasis-open.org/odata/ns/edmx' })
    .ele('edmx:DataServices')
    .ele('Schema', { Namespace: 'Microsoft.Dynamics.CRM', Alias: 'mscrm', xmlns: 'http://docs.oasis-open.org/odata/ns/edm' });
  for (const t of schema.tables.values()) {
    const et = doc.ele('EntityType', { Name: t.logicalName });
    et.ele('Key').ele('PropertyRef', { Name: t.primaryId });
    for (const c of t.columns.values()) {
      const isLookup = c.type === 'lookup' || c.type === 'customer';
      const attrs: Record<string, string> = { Name: isLookup ? lookupKey(c.name) : c.name, Type: c.edm };
      if (c.edm === 'Edm.String') attrs.Unicode = 'false';
      et.ele('Property', attrs);
    }
    for (const n of t.singleNavs.values()) {
      et.ele('NavigationProperty', { Name: n.nav, Type: `mscrm.${n.target}` })
        .ele('ReferentialConstraint', { Property: lookupKey(n.column.name), ReferencedProperty: schema.tables.get(n.target)!.primaryId });
    }
    for (const n of t.collectionNavs.values()) {
      et.ele('NavigationProperty', { Name: n.nav, Type: `Collection(mscrm.${n.childTable})` });
    }
    if (t.alternateKeys.length) {
      const coll = et.ele('Annotation', { Term: 'OData.Community.Keys.V1.AlternateKeys' }).ele('Collection');
      for (const k of t.alternateKeys) {
        const keyRecord = coll.ele('Record', { Type: 'OData.Community.Keys.V1.AlternateKey' })
          .ele('PropertyValue', { Property: 'Key' }).ele('Collection');
        for (const col of k.columns) {
          const c = t.columns.get(col)!;
          const name = c.type === 'lookup' ? lookupKey(col) : col;
          keyRecord.ele('Record', { Type: 'OData.Community.Keys.V1.PropertyRef' })
            .ele('PropertyValue', { Property: 'Alias', String: name }).up()
            .ele('PropertyValue', { Property: 'Name', PropertyPath: name });
        }
      }
    }
  }
  const container = doc.ele('EntityContainer', { Name: 'System' });
  for (const t of schema.tables.values()) {
    const set = container.ele('EntitySet', { Name: t.entitySet, EntityType: `Microsoft.Dynamics.CRM.${t.logicalName}` });
    for (const n of t.singleNavs.values()) {
      set.ele('NavigationPropertyBinding', { Path: n.nav, Target: schema.tables.get(n.target)!.entitySet });
    }
  }
  container.ele('FunctionImport', { Name: 'WhoAmI', Function: 'Microsoft.Dynamics.CRM.WhoAmI' });
  return doc.end({ prettyPrint: false });
}
