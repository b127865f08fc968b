/**
 * The FetchXML subset the product sends (`GET <set>?fetchXml=…`): `<fetch aggregate distinct>`,
 * one `<entity name>` with `<attribute name alias groupby aggregate="count|countcolumn|sum">`,
 * `<filter type="and|or">` with `<condition attribute operator="eq" value>` (nested filters too),
 * and `<link-entity name from to link-type="inner">` holding only filters. Parsing is pure and
 * checks only the shape; engine.ts checks names against the schema and runs the query. Anything
 * outside the subset is a 400 naming the element or attribute, never silently ignored.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { badRequest } from './errors.js';

export type FetchAggregate = 'count' | 'countcolumn' | 'sum';

export interface FetchAttribute {
  name: string;
  alias: string | null;
  groupby: boolean;
  aggregate: FetchAggregate | null;
}

export interface FetchCondition {
  attribute: string;
  operator: 'eq';
  value: string;
}

export interface FetchFilter {
  type: 'and' | 'or';
  conditions: FetchCondition[];
  filters: FetchFilter[];
}

export interface FetchLink {
  name: string;
  /** Column of the linked table. */
  from: string;
  /** Column of the outer (queried) table. */
  to: string;
  filters: FetchFilter[];
}

export interface FetchQuery {
  entity: string;
  aggregate: boolean;
  distinct: boolean;
  attributes: FetchAttribute[];
  filters: FetchFilter[];
  links: FetchLink[];
}

interface Element {
  name: string;
  attrs: Record<string, string>;
  children: Element[];
}

const parser = new XMLParser({
  preserveOrder: true, ignoreAttributes: false, attributeNamePrefix: '', parseAttributeValue: false, parseTagValue: false, trimValues: true,
});

function toElements(nodes: unknown[]): Element[] {
  const out: Element[] = [];
  for (const node of nodes as Record<string, unknown>[]) {
    const name = Object.keys(node).find((k) => k !== ':@');
    if (name === undefined || name === '?xml') continue;
    if (name === '#text') {
      const text = String(node[name]);
      if (text.trim()) throw badRequest(`Invalid FetchXML: unexpected text '${text.trim()}'.`);
      continue;
    }
    out.push({ name, attrs: (node[':@'] ?? {}) as Record<string, string>, children: toElements(node[name] as unknown[]) });
  }
  return out;
}

function unsupported(what: string): never {
  throw badRequest(`FetchXML: ${what} is not supported by the emulator.`);
}

/** Rejects attributes outside `allowed` (a typo or an unsupported feature must not be ignored). */
function onlyAttributes(e: Element, allowed: readonly string[]): void {
  for (const a of Object.keys(e.attrs)) if (!allowed.includes(a)) unsupported(`the attribute '${a}' on <${e.name}>`);
}

function required(e: Element, attr: string): string {
  const v = e.attrs[attr];
  if (v === undefined || v === '') throw badRequest(`Invalid FetchXML: <${e.name}> needs the attribute '${attr}'.`);
  return v;
}

function bool(e: Element, attr: string): boolean {
  const v = e.attrs[attr];
  if (v === undefined) return false;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw badRequest(`Invalid FetchXML: '${v}' is not a valid value for '${attr}' on <${e.name}> (true or false).`);
}

function children(e: Element, allowed: readonly string[]): Element[] {
  for (const c of e.children) if (!allowed.includes(c.name)) unsupported(`the element <${c.name}> inside <${e.name}>`);
  return e.children;
}

function parseFilter(e: Element): FetchFilter {
  onlyAttributes(e, ['type']);
  const type = e.attrs.type ?? 'and';
  if (type !== 'and' && type !== 'or') throw badRequest(`Invalid FetchXML: '${type}' is not a valid filter type (and, or).`);
  const f: FetchFilter = { type, conditions: [], filters: [] };
  for (const c of children(e, ['condition', 'filter'])) {
    if (c.name === 'filter') { f.filters.push(parseFilter(c)); continue; }
    onlyAttributes(c, ['attribute', 'operator', 'value']);
    children(c, []);
    const attribute = required(c, 'attribute');
    const operator = required(c, 'operator');
    if (operator !== 'eq') unsupported(`the condition operator '${operator}'`);
    const value = c.attrs.value;
    if (value === undefined) throw badRequest(`Invalid FetchXML: the condition on '${attribute}' with operator 'eq' needs a value.`);
    f.conditions.push({ attribute, operator, value });
  }
  return f;
}

function parseAttribute(e: Element): FetchAttribute {
  onlyAttributes(e, ['name', 'alias', 'groupby', 'aggregate']);
  children(e, []);
  const aggregate = e.attrs.aggregate ?? null;
  if (aggregate !== null && aggregate !== 'count' && aggregate !== 'countcolumn' && aggregate !== 'sum') unsupported(`the aggregate function '${aggregate}'`);
  return { name: required(e, 'name'), alias: e.attrs.alias ?? null, groupby: bool(e, 'groupby'), aggregate };
}

function parseLink(e: Element): FetchLink {
  onlyAttributes(e, ['name', 'from', 'to', 'link-type']);
  const linkType = e.attrs['link-type'] ?? 'inner';
  if (linkType !== 'inner') unsupported(`the link-type '${linkType}'`);
  return {
    name: required(e, 'name'), from: required(e, 'from'), to: required(e, 'to'),
    filters: children(e, ['filter']).map(parseFilter),
  };
}

/** Parses the XML and checks it is inside the supported subset (names are not checked here). */
export function parseFetchXml(xml: string): FetchQuery {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw badRequest(`Invalid FetchXML: ${valid.err.msg} (line ${valid.err.line}).`);
  const roots = toElements(parser.parse(xml) as unknown[]);
  const fetch = roots[0];
  if (roots.length !== 1 || fetch?.name !== 'fetch') throw badRequest('Invalid FetchXML: the root element must be <fetch>.');
  // mapping/version/output-format are emitted by Advanced Find and change nothing.
  onlyAttributes(fetch, ['aggregate', 'distinct', 'mapping', 'version', 'output-format']);
  const entities = children(fetch, ['entity']);
  const entity = entities[0];
  if (entities.length !== 1 || !entity) throw badRequest('Invalid FetchXML: <fetch> needs exactly one <entity>.');
  onlyAttributes(entity, ['name']);
  const q: FetchQuery = {
    entity: required(entity, 'name'), aggregate: bool(fetch, 'aggregate'), distinct: bool(fetch, 'distinct'),
    attributes: [], filters: [], links: [],
  };
  for (const c of children(entity, ['attribute', 'filter', 'link-entity'])) {
    if (c.name === 'attribute') q.attributes.push(parseAttribute(c));
    else if (c.name === 'filter') q.filters.push(parseFilter(c));
    else q.links.push(parseLink(c));
  }
  if (q.aggregate && q.distinct) unsupported(`distinct="true" together with aggregate="true"`);
  for (const a of q.attributes) {
    if (q.aggregate) {
      if (!a.alias) throw badRequest(`Invalid FetchXML: in an aggregate query every <attribute> needs an alias ('${a.name}' has none).`);
      if (a.groupby === (a.aggregate !== null)) {
        throw badRequest(`Invalid FetchXML: in an aggregate query the attribute '${a.name}' must be either groupby="true" or have an aggregate, not ${a.groupby ? 'both' : 'neither'}.`);
      }
    } else if (a.groupby || a.aggregate !== null) {
      throw badRequest(`Invalid FetchXML: groupby or aggregate on '${a.name}' needs aggregate="true" on <fetch>.`);
    } else if (a.alias) unsupported(`an alias on a non-aggregate attribute ('${a.name}')`);
  }
  const aliases = q.attributes.map((a) => a.alias).filter((a): a is string => a !== null);
  const dup = aliases.find((a, i) => aliases.indexOf(a) !== i);
  if (dup) throw badRequest(`Invalid FetchXML: the alias '${dup}' is used twice.`);
  if (q.aggregate && q.attributes.length === 0) throw badRequest('Invalid FetchXML: an aggregate query needs at least one aggregate attribute.');
  return q;
}
