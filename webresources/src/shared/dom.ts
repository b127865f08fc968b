/**
 * A tiny DOM builder: the only way the panels create markup. Data only ever becomes text nodes or
 * attribute values set through setAttribute; event-handler attributes are refused, and links are
 * built only for http(s) URLs. No innerHTML anywhere, so nothing from Dataverse is parsed as HTML.
 */

export type Child = Node | string | number | null | undefined | false;
export type Attrs = Record<string, string | number | boolean | null | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: (Child | readonly Child[])[]
): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (attrs) {
    for (const [name, value] of Object.entries(attrs)) {
      if (/^on/i.test(name) || name === 'style' || name === 'srcdoc') throw new Error(`attribute ${name} is not allowed`);
      if (name === 'href' || name === 'src') throw new Error(`use link() for ${name}`);
      if (value === null || value === undefined || value === false) continue;
      element.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(element, children);
  return element;
}

export function append(target: Node, children: readonly (Child | readonly Child[])[]): void {
  for (const child of children) {
    if (Array.isArray(child)) append(target, child);
    else if (child === null || child === undefined || child === false) continue;
    else if (typeof child === 'string' || typeof child === 'number') target.appendChild(document.createTextNode(String(child)));
    else target.appendChild(child as Node);
  }
}

/** The URL normalised when it is absolute http(s); otherwise undefined (javascript:, data:, relative…). */
export function safeHttpUrl(raw: string | null | undefined): string | undefined {
  if (!raw) return undefined;
  let url: URL;
  try {
    url = new URL(raw.trim());
  } catch {
    return undefined;
  }
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.href : undefined;
}

/** An external link opening in a new tab, or plain text when the URL is not http(s). */
export function link(rawUrl: string | null | undefined, text?: string, attrs?: Attrs): HTMLElement {
  const href = safeHttpUrl(rawUrl);
  const label = text ?? rawUrl ?? '';
  if (!href) return h('span', { ...attrs, class: joinClass('crs-inert-url', attrs?.class) }, label);
  const a = h('a', { ...attrs, target: '_blank', rel: 'noopener noreferrer' }, label);
  a.href = href;
  return a;
}

function joinClass(a: string, b: Attrs[string]): string {
  return typeof b === 'string' && b ? `${a} ${b}` : a;
}
