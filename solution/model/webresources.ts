/**
 * Web resources the solution ships (spec §3). The names are what Dataverse shows and also the
 * paths below dist/webresources/ where `npm run build` writes the bundles.
 */
import type { WebResourceDef, WebResourceTypeCode } from './types.js';

export const WEBRESOURCE_TYPE = { html: 1, css: 2, js: 3 } as const satisfies Record<string, WebResourceTypeCode>;

export const PANEL_CAMPAIGN_RESPONSES = 'crs_/panels/campaignresponses.html';
export const PANEL_OPTIN_HISTORY = 'crs_/panels/optinhistory.html';
export const FORM_SCRIPT = 'crs_/form/onload.js';

function panel(base: string, title: string, what: string): WebResourceDef[] {
  return [
    { name: `crs_/panels/${base}.html`, displayName: `${title} panel`, description: `Page of the ${what} panel.`, type: WEBRESOURCE_TYPE.html },
    { name: `crs_/panels/${base}.js`, displayName: `${title} panel script`, description: `Script of the ${what} panel.`, type: WEBRESOURCE_TYPE.js },
    { name: `crs_/panels/${base}.css`, displayName: `${title} panel styles`, description: `Styles of the ${what} panel.`, type: WEBRESOURCE_TYPE.css },
  ];
}

export const webResources: readonly WebResourceDef[] = [
  ...panel('campaignresponses', 'Campaign responses', 'campaign responses'),
  ...panel('optinhistory', 'Opt-in history', 'opt-in history'),
  { name: FORM_SCRIPT, displayName: 'Form script', description: 'Contact/Lead form library: hands the form context to the panels (Crs.Form.onLoad).', type: WEBRESOURCE_TYPE.js },
];

/** Type code from a web resource file name (.html/.htm, .css, .js). */
export function webResourceTypeOf(name: string): WebResourceTypeCode {
  const ext = name.slice(name.lastIndexOf('.') + 1).toLowerCase();
  if (ext === 'html' || ext === 'htm') return WEBRESOURCE_TYPE.html;
  if (ext === 'css') return WEBRESOURCE_TYPE.css;
  if (ext === 'js') return WEBRESOURCE_TYPE.js;
  throw new Error(`web resource ${name}: unsupported extension .${ext}`);
}
