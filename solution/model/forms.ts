/**
 * What the solution adds to the Contact and Lead main forms (spec §3): one new tab with the two
 * panels, the form library and its handlers. Nothing existing on the forms is changed.
 */
import type { FormAdditionDef, FormPanelDef } from './types.js';
import { FORM_SCRIPT, PANEL_CAMPAIGN_RESPONSES, PANEL_OPTIN_HISTORY } from './webresources.js';

/** Microsoft's ids of the out-of-box main forms (the same in every org). */
export const CONTACT_MAIN_FORM_ID = '{1fed44d1-ae68-4a41-bd2b-f13acac4acfa}';
export const LEAD_MAIN_FORM_ID = '{e3b6ddb7-8df0-4410-ac7b-fd32e5053d38}';

/** Exported by crs_/form/onload.js (esbuild IIFE, global name Crs.Form; webresources/src/form/onload.ts). */
export const FORM_ONLOAD_FUNCTION = 'Crs.Form.onLoad';
export const FORM_TAB_STATE_CHANGE_FUNCTION = 'Crs.Form.onTabStateChange';

const panels: readonly FormPanelDef[] = [
  {
    key: 'campaignresponses', sectionName: 'crs_section_campaignresponses',
    label: 'Campaign responses', labelDe: 'Kampagnenreaktionen',
    webResource: PANEL_CAMPAIGN_RESPONSES, controlId: 'WebResource_crs_campaignresponses', rowSpan: 12,
  },
  {
    key: 'optinhistory', sectionName: 'crs_section_optinhistory',
    label: 'Opt-in history', labelDe: 'Opt-in-Verlauf',
    webResource: PANEL_OPTIN_HISTORY, controlId: 'WebResource_crs_optinhistory', rowSpan: 12,
  },
];

function addition(table: string, formId: string, formName: string): FormAdditionDef {
  return {
    table, formId, formName, formIntroducedVersion: '5.0.0.0',
    tabName: 'crs_tab_campaignresponsesync', tabLabel: 'Campaign Response Sync', tabLabelDe: 'Campaign Response Sync',
    panels, library: FORM_SCRIPT,
    onLoadFunction: FORM_ONLOAD_FUNCTION,
    // The panels' frames may be re-created when the tab is expanded again; this handler hands
    // them the form context again (getContentWindow doc: also run it on TabStateChange).
    tabStateChangeFunction: FORM_TAB_STATE_CHANGE_FUNCTION,
  };
}

export const formAdditions: readonly FormAdditionDef[] = [
  addition('contact', CONTACT_MAIN_FORM_ID, 'Contact'),
  addition('lead', LEAD_MAIN_FORM_ID, 'Lead'),
];
