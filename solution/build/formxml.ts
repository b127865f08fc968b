/**
 * FormXml: the diff that adds our tab to the Contact/Lead main forms, and the full main form of
 * each custom table. Diffs carry `solutionaction="Added"` the way Microsoft's managed exports do
 * (learn.microsoft.com/power-platform/alm/form-alm: that attribute is what marks a diff FormXml).
 */
import type { ColumnDef, FormAdditionDef, SolutionModel, TableDef } from '../model/types.js';
import { braced, formColumns, idKeys, idOf, type IdMap } from './ids.js';
import { labels, LCID_DE, LCID_EN, newDocument, renderExportStyle, type XMLBuilder } from './xml.js';

export const WEB_RESOURCE_CONTROL_CLASSID = '{9FDF5F91-88B1-47f4-AD53-C11EFC01A01D}';

/** Control classids of the classic field controls, by column type. */
const FIELD_CONTROL_CLASSID: Partial<Record<ColumnDef['type'], string>> = {
  text: '{4273EDBD-AC1D-40d3-9FB2-095C621B552D}',
  memo: '{E0DECE4B-6FC8-4a8f-A065-082708572369}',
  choice: '{3EF39988-22BB-4f0b-BBBE-64B5A3748AEE}',
  lookup: '{270BD3DB-D9AF-4782-9025-509E298DEC0A}',
  datetime: '{5B773807-9FB2-42db-97C3-7A91EFF8ADFF}',
  boolean: '{67FAC785-CD58-4f9f-ABB3-4B7DDC6ED5ED}',
  integer: '{C6D124CA-7EDA-4a60-AEA9-7FB8D318B68F}',
};

function handler(parent: XMLBuilder, fn: string, library: string, id: string): void {
  parent.ele('Handler', {
    functionName: fn, libraryName: library, handlerUniqueId: braced(id),
    enabled: 'true', parameters: '', passExecutionContext: 'true',
  });
}

/** Appends the `<form>` diff of one form addition to `parent`. */
export function appendFormAdditionDiff(parent: XMLBuilder, add: FormAdditionDef, ids: IdMap): XMLBuilder {
  const t = add.table;
  const form = parent.ele('form');
  const tab = form.ele('tabs').ele('tab', {
    name: add.tabName, id: braced(idOf(ids, idKeys.formTab(t))), IsUserDefined: '0', locklevel: '0',
    showlabel: 'true', expanded: 'true', solutionaction: 'Added',
  });
  labels(tab, 'labels', 'label', add.tabLabel, add.tabLabelDe);
  const sections = tab.ele('columns').ele('column', { width: '100%' }).ele('sections');
  for (const p of add.panels) {
    const section = sections.ele('section', {
      name: p.sectionName, showlabel: 'true', showbar: 'false', locklevel: '0',
      id: braced(idOf(ids, idKeys.formSection(t, p.key))), IsUserDefined: '0', layout: 'varwidth',
      columns: '1', labelwidth: '115', celllabelalignment: 'Left', celllabelposition: 'Left',
    });
    labels(section, 'labels', 'label', p.label, p.labelDe);
    const rows = section.ele('rows');
    const cell = rows.ele('row').ele('cell', {
      id: braced(idOf(ids, idKeys.formCell(t, p.key))), showlabel: 'false', colspan: '1', rowspan: String(p.rowSpan), auto: 'false',
    });
    labels(cell, 'labels', 'label', p.label, p.labelDe);
    const params = cell.ele('control', { id: p.controlId, classid: WEB_RESOURCE_CONTROL_CLASSID }).ele('parameters');
    // PassParameters = "pass record object-type code and unique identifier as parameters".
    params.ele('Url').txt(p.webResource);
    params.ele('PassParameters').txt('true');
    params.ele('Security').txt('false');
    params.ele('Scrolling').txt('auto');
    params.ele('Border').txt('false');
    // A cell spanning n rows is followed by n-1 empty rows, as the form designer writes it.
    for (let i = 1; i < p.rowSpan; i++) rows.ele('row');
  }
  const tabEvent = tab.ele('events').ele('event', { name: 'tabstatechange', application: 'false', active: 'false' });
  handler(tabEvent.ele('Handlers'), add.tabStateChangeFunction, add.library, idOf(ids, idKeys.formTabHandler(t)));

  const onload = form.ele('events').ele('event', { name: 'onload', application: 'false', active: 'false', solutionaction: 'Added' });
  handler(onload.ele('Handlers'), add.onLoadFunction, add.library, idOf(ids, idKeys.formOnLoadHandler(t)));
  form.ele('formLibraries', { solutionaction: 'Added' })
    .ele('Library', { name: add.library, libraryUniqueId: braced(idOf(ids, idKeys.formLibrary(t))) });
  return form;
}

/** Appends the full `<form>` of a custom table's main form: one tab, one section, one field per row. */
export function appendTableMainForm(parent: XMLBuilder, table: TableDef, ids: IdMap): XMLBuilder {
  const t = table.logicalName;
  const form = parent.ele('form');
  const tab = form.ele('tabs').ele('tab', {
    name: 'general', verticallayout: 'true', id: braced(idOf(ids, idKeys.tableFormTab(t))), IsUserDefined: '1', expanded: 'true', showlabel: 'true',
  });
  labels(tab, 'labels', 'label', 'General', 'Allgemein');
  const section = tab.ele('columns').ele('column', { width: '100%' }).ele('sections').ele('section', {
    name: 'general_section', showlabel: 'false', showbar: 'false', IsUserDefined: '0', id: braced(idOf(ids, idKeys.tableFormSection(t))),
    columns: '1', labelwidth: '115', celllabelalignment: 'Left', celllabelposition: 'Left',
  });
  labels(section, 'labels', 'label', 'General', 'Allgemein');
  const rows = section.ele('rows');
  for (const c of formColumns(table)) {
    const classid = FIELD_CONTROL_CLASSID[c.type];
    if (!classid) throw new Error(`${t}.${c.logicalName}: no form control for column type ${c.type}`);
    const cell = rows.ele('row').ele('cell', { id: braced(idOf(ids, idKeys.tableFormCell(t, c.logicalName))) });
    const l = cell.ele('labels');
    l.ele('label', { description: c.displayName, languagecode: String(LCID_EN) });
    l.ele('label', { description: c.displayNameDe, languagecode: String(LCID_DE) });
    cell.ele('control', { id: c.logicalName, classid, datafieldname: c.logicalName });
  }
  return form;
}

export interface FormFragment {
  /** e.g. contact:{1fed44d1-…} or crs_newsletter:main */
  name: string;
  /** The `<form>` element as its own document (root `form`, as FormXml.xsd expects). */
  xml: string;
  /** A diff (carries solutionaction) rather than a full form. */
  diff: boolean;
}

/** Every FormXml the solution contains, each as a standalone document (for schema checks). */
export function formFragments(model: SolutionModel, ids: IdMap): FormFragment[] {
  const out: FormFragment[] = [];
  for (const f of model.formAdditions) {
    const doc = newDocument();
    appendFormAdditionDiff(doc, f, ids);
    out.push({ name: `${f.table}:${f.formId}`, xml: renderExportStyle(doc), diff: true });
  }
  for (const t of model.customTables) {
    const doc = newDocument();
    appendTableMainForm(doc, t, ids);
    out.push({ name: `${t.logicalName}:main`, xml: renderExportStyle(doc), diff: false });
  }
  return out;
}
