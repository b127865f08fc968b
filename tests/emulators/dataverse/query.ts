/** Parsing of the query options and the resource path of a Web API URL (pure functions). */
import { badRequest, CODES } from './errors.js';
import { parseFilter, type Node } from './filter.js';

export interface ExpandItem {
  nav: string;
  options: QueryOptions;
}

export interface QueryOptions {
  select: string[] | null;
  filter: Node | null;
  orderby: { column: string; desc: boolean }[];
  top: number | null;
  expand: ExpandItem[];
  count: boolean;
  skiptoken: string | null;
}

/** Splits on `sep` at depth 0 (outside parentheses and quotes). */
export function splitTop(s: string, sep: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let quoted = false;
  let cur = '';
  for (const ch of s) {
    if (ch === "'") quoted = !quoted;
    if (!quoted && ch === '(') depth++;
    if (!quoted && ch === ')') depth--;
    if (!quoted && depth === 0 && ch === sep) { out.push(cur); cur = ''; continue; }
    cur += ch;
  }
  if (cur.length > 0 || out.length > 0) out.push(cur);
  return out;
}

function parseTop(v: string): number {
  if (!/^\d+$/.test(v)) throw badRequest(`Invalid value '${v}' for $top query option found. The $top query option requires a non-negative integer value.`);
  return Number(v);
}

function parseOrderby(v: string): { column: string; desc: boolean }[] {
  return splitTop(v, ',').map((part) => {
    const [column, dir, ...rest] = part.trim().split(/\s+/);
    if (!column || rest.length > 0 || (dir !== undefined && dir !== 'asc' && dir !== 'desc')) throw badRequest(`Syntax error in $orderby '${v}'.`);
    return { column, desc: dir === 'desc' };
  });
}

function parseExpand(v: string): ExpandItem[] {
  return splitTop(v, ',').map((item) => {
    const s = item.trim();
    const open = s.indexOf('(');
    if (open < 0) return { nav: s, options: emptyOptions() };
    if (!s.endsWith(')')) throw badRequest(`Syntax error in $expand '${v}'.`);
    const inner = s.slice(open + 1, -1);
    const pairs: [string, string][] = splitTop(inner, ';').filter((x) => x.trim()).map((x) => {
      const eq = x.indexOf('=');
      if (eq < 0) throw badRequest(`Syntax error in $expand '${v}'.`);
      return [x.slice(0, eq).trim(), x.slice(eq + 1)];
    });
    return { nav: s.slice(0, open).trim(), options: parseOptions(pairs, true) };
  });
}

export function emptyOptions(): QueryOptions {
  return { select: null, filter: null, orderby: [], top: null, expand: [], count: false, skiptoken: null };
}

/** Parses system query options from (already decoded) name/value pairs. */
export function parseOptions(pairs: Iterable<[string, string]>, nested = false): QueryOptions {
  const o = emptyOptions();
  for (const [k, v] of pairs) {
    switch (k) {
      case '$select': o.select = v.split(',').map((s) => s.trim()).filter(Boolean); break;
      case '$filter': o.filter = parseFilter(v); break;
      case '$orderby': o.orderby = parseOrderby(v); break;
      case '$top': o.top = parseTop(v); break;
      case '$expand': o.expand = parseExpand(v); break;
      case '$count':
        if (v !== 'true' && v !== 'false') throw badRequest(`'${v}' is not a valid count option.`);
        o.count = v === 'true';
        break;
      case '$skiptoken': o.skiptoken = v; break;
      case '$skip':
        throw badRequest('The query parameter $skip is not supported');
      case '$apply': case '$search': case '$format':
        throw badRequest(`The query option ${k} is not supported by the emulator.`);
      default:
        if (k.startsWith('$')) throw badRequest(`The query parameter ${k} is not supported`);
        if (nested) throw badRequest(`The query option ${k} is not allowed inside $expand.`);
      // Non-$ parameters (e.g. @p1 aliases) are ignored.
    }
  }
  return o;
}

export type KeyValue = string | number;
export type ResourceKey = { kind: 'id'; id: string } | { kind: 'alt'; values: Record<string, KeyValue> };

export interface ResourcePath {
  segment: string;
  key: ResourceKey | null;
  /** Text of the key as written (for OData-EntityId on key-addressed upserts). */
  keyText: string | null;
  rest: string[];
}

const GUID_RE = /^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?$/;

export function parseGuid(s: string): string | null {
  const m = GUID_RE.exec(s.trim());
  return m ? m[1]!.toLowerCase() : null;
}

function parseKeyValue(raw: string, segment: string): KeyValue {
  const s = raw.trim();
  if (s.startsWith("'")) {
    if (!s.endsWith("'") || s.length < 2) throw badRequest(`Bad Request - Error in query syntax.`);
    return s.slice(1, -1).replace(/''/g, "'");
  }
  const g = parseGuid(s);
  if (g) return g;
  if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
  throw badRequest(`The key value '${s}' in the request URI for '${segment}' is not valid.`, CODES.odata);
}

/** Parses `set`, `set(<guid>)`, `set(col='v',col2=1)` followed by `/more/segments`. `path` is decoded. */
export function parseResourcePath(path: string): ResourcePath {
  const open = path.indexOf('(');
  const slash = path.indexOf('/');
  if (open < 0 || (slash >= 0 && slash < open)) {
    const parts = path.split('/');
    return { segment: parts[0]!, key: null, keyText: null, rest: parts.slice(1).filter(Boolean) };
  }
  const segment = path.slice(0, open);
  // Find the matching ')' outside quotes.
  let quoted = false;
  let close = -1;
  for (let i = open + 1; i < path.length; i++) {
    const ch = path[i];
    if (ch === "'") quoted = !quoted;
    else if (ch === ')' && !quoted) { close = i; break; }
  }
  if (close < 0) throw badRequest(`Bad Request - Error in query syntax.`);
  const keyText = path.slice(open + 1, close);
  const rest = path.slice(close + 1).split('/').filter(Boolean);
  const parts = splitTop(keyText, ',');
  let key: ResourceKey;
  if (parts.length === 1 && !/^[A-Za-z_][A-Za-z0-9_]*\s*=/.test(parts[0]!)) {
    const id = parseGuid(parts[0]!);
    if (!id) throw badRequest(`Unrecognized 'Edm.Guid' literal '${parts[0]}' in the request URI for '${segment}'.`);
    key = { kind: 'id', id };
  } else {
    const values: Record<string, KeyValue> = {};
    for (const p of parts) {
      const eq = p.indexOf('=');
      if (eq < 0) throw badRequest(`Bad Request - Error in query syntax.`);
      values[p.slice(0, eq).trim()] = parseKeyValue(p.slice(eq + 1), segment);
    }
    key = { kind: 'alt', values };
  }
  return { segment, key, keyText, rest };
}

/** Parses a Prefer header into a map (`return=representation`, `odata.maxpagesize=50`, …). */
export function parsePrefer(header: string | undefined): Map<string, string> {
  const m = new Map<string, string>();
  if (!header) return m;
  for (const part of splitTop(header.replace(/"([^"]*)"/g, (_, x: string) => `'${x}'`), ',')) {
    const s = part.trim();
    if (!s) continue;
    const eq = s.indexOf('=');
    if (eq < 0) m.set(s.toLowerCase(), '');
    else m.set(s.slice(0, eq).trim().toLowerCase(), s.slice(eq + 1).trim().replace(/^'|'$/g, ''));
  }
  return m;
}
