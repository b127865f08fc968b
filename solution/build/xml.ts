/** Small helpers over xmlbuilder2 so every XML file is written the same way. */
import { create } from 'xmlbuilder2';
import type { XMLBuilder } from 'xmlbuilder2/lib/interfaces.js';

export type { XMLBuilder };

export const XSI_NS = 'http://www.w3.org/2001/XMLSchema-instance';
export const LCID_EN = 1033;
export const LCID_DE = 1031;

export function newDocument(): XMLBuilder {
  return create({ version: '1.0', encoding: 'utf-8' });
}

/** Microsoft's export style for solution.xml / customizations.xml: no declaration, 2-space indent, CRLF, `<a />`. */
export function renderExportStyle(root: XMLBuilder): string {
  return root.end({ headless: true, prettyPrint: true, indent: '  ', newline: '\r\n', spaceBeforeSlash: true });
}

/** A fragment (one element and its children) in the same style, e.g. a FormXml `<form>`. */
export function renderFragment(node: XMLBuilder): string {
  return node.toString({ prettyPrint: true, indent: '  ', newline: '\r\n', spaceBeforeSlash: true });
}

export const bit = (v: boolean): string => (v ? '1' : '0');

/** Appends `<tag><text/></tag>` for each [tag, text] pair, in order. */
export function leaves(parent: XMLBuilder, pairs: ReadonlyArray<readonly [string, string | number]>): void {
  for (const [tag, value] of pairs) parent.ele(tag).txt(String(value));
}

/** `<wrapper><item description=".." languagecode=".."/>…</wrapper>` for English and German labels. */
export function labels(parent: XMLBuilder, wrapper: string, item: string, en: string, de?: string): XMLBuilder {
  const w = parent.ele(wrapper);
  w.ele(item, { description: en, languagecode: String(LCID_EN) });
  if (de !== undefined) w.ele(item, { description: de, languagecode: String(LCID_DE) });
  return w;
}
