/// <reference types="xrm" />
/**
 * crs_/form/onload.js — the form library the Contact and Lead forms register. Crs.Form.onLoad
 * hands Xrm and the form context to our panels (web resource controls named WebResource_crs_…)
 * through getContentWindow(), and again whenever a tab is expanded, because the form may re-create
 * a panel's frame. The panels' setClientApiContext is idempotent.
 */

/** Web resource controls whose name starts with this prefix get the context. */
export const PANEL_CONTROL_PREFIX = 'WebResource_crs_';

type PanelWindow = Window & { setClientApiContext?: (xrm: Xrm.XrmStatic, formContext: Xrm.FormContext) => void };

function globalXrm(): Xrm.XrmStatic | undefined {
  return typeof Xrm === 'undefined' ? undefined : Xrm;
}

/** Hands the context to every panel on the form; returns how many panels received it. */
export async function injectPanels(formContext: Xrm.FormContext, xrm: Xrm.XrmStatic | undefined = globalXrm()): Promise<number> {
  if (!xrm) return 0;
  const controls = formContext.ui.controls.get((c) => c.getName().startsWith(PANEL_CONTROL_PREFIX));
  const results = await Promise.all(
    controls.map(async (control) => {
      const framed = control as Xrm.Controls.FramedControl;
      if (typeof framed.getContentWindow !== 'function') return false;
      try {
        const win = (await framed.getContentWindow()) as PanelWindow;
        if (typeof win.setClientApiContext !== 'function') return false;
        win.setClientApiContext(xrm, formContext);
        return true;
      } catch {
        return false; // frame not loaded or hidden: the panel falls back by itself
      }
    }),
  );
  return results.filter(Boolean).length;
}

const registered = new WeakSet<object>();

export function onLoad(executionContext: Xrm.Events.EventContext): void {
  const formContext = executionContext.getFormContext();
  void injectPanels(formContext);
  // The same form context comes back on every onload (e.g. after save): register tab handlers once.
  if (registered.has(formContext)) return;
  registered.add(formContext);
  formContext.ui.tabs.forEach((tab) => tab.addTabStateChange(() => void injectPanels(formContext)));
}

/** For a FormXml tabstatechange handler, if the form registers one instead of relying on onLoad. */
export function onTabStateChange(executionContext: Xrm.Events.EventContext): void {
  void injectPanels(executionContext.getFormContext());
}
