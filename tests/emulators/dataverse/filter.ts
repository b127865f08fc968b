/**
 * The OData $filter dialect Dataverse clients use: eq ne gt ge lt le, and or not, parentheses,
 * contains/startswith/endswith (with SQL wildcards), null, unquoted GUID and date-time literals,
 * lookups as `_x_value`, single-valued navigation paths (`nav/column`),
 * Microsoft.Dynamics.CRM.In / NotIn / Null / NotNull, and the lambda operators `any`/`all` over a
 * collection-valued navigation property of the queried table (`nav/any(p:p/col eq 1)`, `nav/any()`,
 * `nav/all(p:…)`). Operands are type-checked like Dataverse does (a quoted GUID against a Guid
 * column is a 400, not a silent mismatch).
 */
import { badRequest, CODES } from './errors.js';
import type { EdmType } from './schema.js';

export type Literal = { kind: 'literal'; edm: EdmType | 'null' | 'Edm.Decimal'; value: string | number | boolean | null };
export type Node =
  | Literal
  | { kind: 'member'; path: string[] }
  | { kind: 'cmp'; op: 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le'; left: Node; right: Node }
  | { kind: 'and' | 'or'; left: Node; right: Node }
  | { kind: 'not'; operand: Node }
  | { kind: 'call'; name: string; args: Node[] }
  | { kind: 'crm'; name: string; params: Record<string, Literal | Literal[]> }
  /** `nav/any(v:body)`, `nav/all(v:body)`, `nav/any()`; member paths in `body` are relative to the child row (the `v/` prefix removed). */
  | { kind: 'lambda'; op: 'any' | 'all'; nav: string; variable: string; body: Node | null };

type Tok = { t: 'str' | 'word' | 'num' | 'guid' | 'date' | 'punct'; v: string; pos: number };

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}/;
const DATE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2}))?/;

function tokenize(src: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const ch = src[i]!;
    if (/\s/.test(ch)) { i++; continue; }
    if (ch === "'") {
      let v = '';
      let j = i + 1;
      for (;;) {
        if (j >= src.length) throw badRequest(`Syntax error: unterminated string literal at position ${i} in '${src}'.`);
        if (src[j] === "'") {
          if (src[j + 1] === "'") { v += "'"; j += 2; continue; }
          break;
        }
        v += src[j];
        j++;
      }
      toks.push({ t: 'str', v, pos: i });
      i = j + 1;
      continue;
    }
    if (ch === '"') { // PropertyValues=["a","b"] in Microsoft.Dynamics.CRM.In
      const end = src.indexOf('"', i + 1);
      if (end < 0) throw badRequest(`Syntax error: unterminated string literal at position ${i} in '${src}'.`);
      toks.push({ t: 'str', v: src.slice(i + 1, end), pos: i });
      i = end + 1;
      continue;
    }
    if ('(),[]=:'.includes(ch)) { toks.push({ t: 'punct', v: ch, pos: i }); i++; continue; }
    const rest = src.slice(i);
    const g = GUID.exec(rest);
    if (g) { toks.push({ t: 'guid', v: g[0].toLowerCase(), pos: i }); i += g[0].length; continue; }
    const d = DATE.exec(rest);
    if (d) { toks.push({ t: 'date', v: d[0], pos: i }); i += d[0].length; continue; }
    const n = /^-?\d+(\.\d+)?/.exec(rest);
    if (n) { toks.push({ t: 'num', v: n[0], pos: i }); i += n[0].length; continue; }
    const w = /^[A-Za-z_][A-Za-z0-9_.]*(\/[A-Za-z_][A-Za-z0-9_]*)*/.exec(rest);
    if (w) { toks.push({ t: 'word', v: w[0], pos: i }); i += w[0].length; continue; }
    throw badRequest(`Syntax error at position ${i} in '${src}'.`);
  }
  return toks;
}

const CMP = new Set(['eq', 'ne', 'gt', 'ge', 'lt', 'le']);
const FUNCS = new Set(['contains', 'startswith', 'endswith']);

export function parseFilter(src: string): Node {
  const toks = tokenize(src);
  let p = 0;
  const peek = (): Tok | undefined => toks[p];
  const expect = (v: string): void => {
    const t = toks[p];
    if (!t || t.v !== v) throw badRequest(`Syntax error: '${v}' expected at position ${t?.pos ?? src.length} in '${src}'.`);
    p++;
  };
  const isWord = (v: string): boolean => peek()?.t === 'word' && peek()!.v === v;
  // Range variable of the lambda being parsed (the emulator supports one level, no outer properties inside).
  let rangeVariable: string | null = null;

  function lambda(word: Tok): Node {
    const slash = word.v.lastIndexOf('/');
    const op = word.v.slice(slash + 1) as 'any' | 'all';
    const navPath = word.v.slice(0, slash);
    if (rangeVariable !== null) throw badRequest(`Nested lambda operators ('${word.v}' inside '${rangeVariable}:…') are not supported by the emulator.`);
    if (navPath.includes('/')) throw badRequest(`The lambda operator '${op}' on the path '${navPath}' is not supported by the emulator: only a collection-valued navigation property of the queried table.`);
    expect('(');
    if (peek()?.v === ')') {
      p++;
      if (op === 'all') throw badRequest(`Syntax error: the lambda operator 'all' needs a lambda expression ('${navPath}/all(x:…)') in '${src}'.`);
      return { kind: 'lambda', op, nav: navPath, variable: '', body: null };
    }
    const v = toks[p];
    if (!v || v.t !== 'word' || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(v.v) || toks[p + 1]?.v !== ':') {
      throw badRequest(`Syntax error: a range variable and ':' expected at position ${v?.pos ?? src.length} in '${src}'.`);
    }
    p += 2;
    rangeVariable = v.v;
    const body = orExpr();
    rangeVariable = null;
    expect(')');
    return { kind: 'lambda', op, nav: navPath, variable: v.v, body };
  }

  function memberPath(t: Tok): string[] {
    const path = t.v.split('/');
    if (rangeVariable === null) return path;
    // Inside a lambda body: properties of the child row, written as `<variable>/<property>`.
    if (path[0] !== rangeVariable) {
      throw badRequest(`The property '${t.v}' inside the lambda expression over '${rangeVariable}' is not supported by the emulator: only '${rangeVariable}/<property>' paths.`);
    }
    if (path.length === 1) throw badRequest(`The range variable '${rangeVariable}' cannot be used on its own; compare one of its properties ('${rangeVariable}/<property>').`);
    return path.slice(1);
  }

  function literalOf(t: Tok): Literal {
    switch (t.t) {
      case 'str': return { kind: 'literal', edm: 'Edm.String', value: t.v };
      case 'guid': return { kind: 'literal', edm: 'Edm.Guid', value: t.v };
      case 'date': return { kind: 'literal', edm: 'Edm.DateTimeOffset', value: t.v };
      case 'num': return t.v.includes('.')
        ? { kind: 'literal', edm: 'Edm.Decimal', value: Number(t.v) }
        : { kind: 'literal', edm: Math.abs(Number(t.v)) > 2147483647 ? 'Edm.Int64' : 'Edm.Int32', value: Number(t.v) };
      default: throw badRequest(`Syntax error at position ${t.pos} in '${src}'.`);
    }
  }

  function crmCall(name: string): Node {
    if (rangeVariable !== null) throw badRequest(`${name} inside a lambda expression is not supported by the emulator.`);
    expect('(');
    const params: Record<string, Literal | Literal[]> = {};
    while (peek() && peek()!.v !== ')') {
      const key = toks[p++]!;
      expect('=');
      if (peek()?.v === '[') {
        p++;
        const arr: Literal[] = [];
        while (peek() && peek()!.v !== ']') {
          arr.push(literalOf(toks[p++]!));
          if (peek()?.v === ',') p++;
        }
        expect(']');
        params[key.v] = arr;
      } else {
        params[key.v] = literalOf(toks[p++]!);
      }
      if (peek()?.v === ',') p++;
    }
    expect(')');
    return { kind: 'crm', name: name.slice('Microsoft.Dynamics.CRM.'.length), params };
  }

  function primary(): Node {
    const t = peek();
    if (!t) throw badRequest(`Syntax error: expression expected at end of '${src}'.`);
    if (t.v === '(') { p++; const e = orExpr(); expect(')'); return e; }
    if (t.t === 'word') {
      p++;
      if (t.v === 'null') return { kind: 'literal', edm: 'null', value: null };
      if (t.v === 'true' || t.v === 'false') return { kind: 'literal', edm: 'Edm.Boolean', value: t.v === 'true' };
      if (t.v.startsWith('Microsoft.Dynamics.CRM.')) return crmCall(t.v);
      if (/\/(any|all)$/.test(t.v) && peek()?.v === '(') return lambda(t);
      if (peek()?.v === '(') {
        if (!FUNCS.has(t.v)) throw badRequest(`An unknown function with name '${t.v}' was found. This may also be a function import or a key lookup on a navigation property, which is not allowed.`);
        p++;
        const args: Node[] = [orExpr()];
        while (peek()?.v === ',') { p++; args.push(orExpr()); }
        expect(')');
        return { kind: 'call', name: t.v, args };
      }
      return { kind: 'member', path: memberPath(t) };
    }
    p++;
    return literalOf(t);
  }
  function cmpExpr(): Node {
    const left = primary();
    const t = peek();
    if (t?.t === 'word' && CMP.has(t.v)) {
      p++;
      return { kind: 'cmp', op: t.v as 'eq', left, right: primary() };
    }
    return left;
  }
  function notExpr(): Node {
    if (isWord('not')) { p++; return { kind: 'not', operand: notExpr() }; }
    return cmpExpr();
  }
  function andExpr(): Node {
    let left = notExpr();
    while (isWord('and')) { p++; left = { kind: 'and', left, right: notExpr() }; }
    return left;
  }
  function orExpr(): Node {
    let left = andExpr();
    while (isWord('or')) { p++; left = { kind: 'or', left, right: andExpr() }; }
    return left;
  }
  const node = orExpr();
  if (p < toks.length) throw badRequest(`Syntax error at position ${toks[p]!.pos} in '${src}'.`);
  return node;
}

/** Resolves a member path to its value and type for one row; throws 400 for an unknown property. */
export type Resolver = (path: string[]) => { value: unknown; edm: EdmType };
/** Type-only resolution (for checking before evaluating rows). */
export type TypeResolver = (path: string[]) => EdmType;
/**
 * For lambda operators: the type resolver of a collection-valued navigation property's child
 * table (throws 400 when `nav` is not one), and the child rows of the current row.
 */
export type CollectionTypeResolver = (nav: string) => TypeResolver;
export type CollectionResolver = (nav: string) => Resolver[];

const NUMERIC = new Set(['Edm.Int32', 'Edm.Int64', 'Edm.Decimal']);

function compatible(a: string, b: string): boolean {
  if (a === 'null' || b === 'null' || a === b) return true;
  return NUMERIC.has(a) && NUMERIC.has(b);
}

const OP_NAMES: Record<string, string> = { eq: 'Equal', ne: 'NotEqual', gt: 'GreaterThan', ge: 'GreaterThanOrEqual', lt: 'LessThan', le: 'LessThanOrEqual' };

function typeOf(n: Node, types: TypeResolver): string {
  if (n.kind === 'literal') return n.edm;
  if (n.kind === 'member') return types(n.path);
  return 'Edm.Boolean';
}

/** Checks operand types once per query (Dataverse rejects e.g. a quoted string against a Guid column). */
export function checkFilter(n: Node, types: TypeResolver, collectionTypes?: CollectionTypeResolver): void {
  switch (n.kind) {
    case 'and': case 'or': checkFilter(n.left, types, collectionTypes); checkFilter(n.right, types, collectionTypes); return;
    case 'not': checkFilter(n.operand, types, collectionTypes); return;
    case 'lambda': {
      if (!collectionTypes) throw badRequest(`The lambda operator '${n.nav}/${n.op}' is not supported by the emulator in this query.`);
      const childTypes = collectionTypes(n.nav);
      if (n.body) {
        checkFilter(n.body, childTypes);
        const t = typeOf(n.body, childTypes);
        if (t !== 'Edm.Boolean') throw badRequest(`The lambda expression of '${n.nav}/${n.op}' must be a Boolean expression; found '${t}'.`);
      }
      return;
    }
    case 'member': types(n.path); return;
    case 'literal': return;
    case 'cmp': {
      for (const operand of [n.left, n.right]) if (operand.kind !== 'member' && operand.kind !== 'literal') checkFilter(operand, types, collectionTypes);
      const a = typeOf(n.left, types);
      const b = typeOf(n.right, types);
      if (!compatible(a, b)) {
        throw badRequest(`A binary operator with incompatible types was detected. Found operand types '${a}' and '${b}' for operator kind '${OP_NAMES[n.op]}'.`);
      }
      return;
    }
    case 'call': {
      if (n.args.length !== 2) throw badRequest(`No function signature for the function with name '${n.name}' matches the specified arguments.`);
      const [a, b] = n.args.map((x) => typeOf(x, types));
      if (a !== 'Edm.String' || b !== 'Edm.String') {
        throw badRequest(`No function signature for the function with name '${n.name}' matches the specified arguments. The function signatures considered are: ${n.name}(Edm.String Nullable=true, Edm.String Nullable=true).`);
      }
      return;
    }
    case 'crm': {
      const prop = n.params.PropertyName;
      if (!prop || Array.isArray(prop) || typeof prop.value !== 'string') throw badRequest(`Microsoft.Dynamics.CRM.${n.name}: PropertyName is required.`, CODES.invalidArgument);
      types([prop.value]);
      if (!['In', 'NotIn', 'Null', 'NotNull', 'Between', 'NotBetween'].includes(n.name)) {
        throw badRequest(`The query function Microsoft.Dynamics.CRM.${n.name} is not supported by this emulator.`);
      }
      return;
    }
  }
}

/** SQL LIKE with %, _ and [] wildcards, case-insensitive (Dataverse passes them through to SQL). */
function likeRegex(pattern: string, mode: 'contains' | 'startswith' | 'endswith'): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '%') re += '.*';
    else if (c === '_') re += '.';
    else if (c === '[') {
      const end = pattern.indexOf(']', i);
      if (end > i) { re += `[${pattern.slice(i + 1, end).replace(/\\/g, '\\\\')}]`; i = end; } else re += '\\[';
    } else re += c.replace(/[.*+?^${}()|\\\]]/g, '\\$&');
  }
  const body = mode === 'contains' ? `.*${re}.*` : mode === 'startswith' ? `${re}.*` : `.*${re}`;
  return new RegExp(`^${body}$`, 'is');
}

function norm(v: unknown, edm: string): unknown {
  if (v === null || v === undefined) return null;
  if (edm === 'Edm.String' && typeof v === 'string') return v.toLowerCase();
  if (edm === 'Edm.Guid' && typeof v === 'string') return v.toLowerCase();
  if (edm === 'Edm.DateTimeOffset' && typeof v === 'string') {
    // A date without time compares as midnight UTC.
    return Date.parse(/T/.test(v) ? v : `${v}T00:00:00Z`);
  }
  return v;
}

function value(n: Node, r: Resolver, c?: CollectionResolver): { v: unknown; edm: string } {
  if (n.kind === 'literal') return { v: n.value, edm: n.edm };
  if (n.kind === 'member') { const x = r(n.path); return { v: x.value, edm: x.edm }; }
  return { v: evaluate(n, r, c), edm: 'Edm.Boolean' };
}

function compare(op: string, a: unknown, b: unknown): boolean {
  if (op === 'eq') return a === b;
  if (op === 'ne') return a !== b;
  // Ordering comparisons with null are false (SQL semantics).
  if (a === null || b === null) return false;
  const x = a as number | string;
  const y = b as number | string;
  switch (op) {
    case 'gt': return x > y;
    case 'ge': return x >= y;
    case 'lt': return x < y;
    default: return x <= y;
  }
}

/** `c` gives the child rows for lambda operators (checkFilter has rejected lambdas when there is none). */
export function evaluate(n: Node, r: Resolver, c?: CollectionResolver): boolean {
  switch (n.kind) {
    case 'and': return evaluate(n.left, r, c) && evaluate(n.right, r, c);
    case 'or': return evaluate(n.left, r, c) || evaluate(n.right, r, c);
    case 'not': return !evaluate(n.operand, r, c);
    case 'literal': return n.value === true;
    case 'member': return r(n.path).value === true;
    case 'lambda': {
      if (!c) throw badRequest(`The lambda operator '${n.nav}/${n.op}' is not supported by the emulator in this query.`);
      const children = c(n.nav);
      const body = n.body;
      if (!body) return children.length > 0;
      // `all` over no rows is true (OData); the body sees only the child row.
      return n.op === 'any' ? children.some((child) => evaluate(body, child)) : children.every((child) => evaluate(body, child));
    }
    case 'cmp': {
      const a = value(n.left, r, c);
      const b = value(n.right, r, c);
      const edm = a.edm === 'null' ? b.edm : a.edm;
      return compare(n.op, norm(a.v, edm), norm(b.v, edm));
    }
    case 'call': {
      const s = value(n.args[0]!, r, c).v;
      const pat = value(n.args[1]!, r, c).v;
      if (typeof s !== 'string' || typeof pat !== 'string') return false;
      return likeRegex(pat, n.name as 'contains').test(s);
    }
    case 'crm': {
      const prop = (n.params.PropertyName as Literal).value as string;
      const x = r([prop]);
      const v = norm(x.value, x.edm);
      const list = (n.params.PropertyValues ?? []) as Literal[];
      const vals = (Array.isArray(list) ? list : [list]).map((l) => norm(x.edm === 'Edm.Int32' || x.edm === 'Edm.Int64' ? Number(l.value) : l.value, x.edm));
      switch (n.name) {
        case 'In': return vals.includes(v);
        case 'NotIn': return !vals.includes(v);
        case 'Null': return v === null;
        case 'NotNull': return v !== null;
        case 'Between': return v !== null && (v as number) >= (vals[0] as number) && (v as number) <= (vals[1] as number);
        case 'NotBetween': return v === null || (v as number) < (vals[0] as number) || (v as number) > (vals[1] as number);
        default: return false;
      }
    }
  }
}
