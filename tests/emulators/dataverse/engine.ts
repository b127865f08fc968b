/**
 * The Web API semantics: routing below /api/data/v9.x/, create / update / upsert / delete with
 * Dataverse's status codes and conditional headers, @odata.bind, deep insert of activity parties,
 * alternate keys, ETags, queries with paging, bulk actions. Synchronous and in-memory: the HTTP
 * shell (server.ts) adds auth, throttling, latency and faults; batch.ts reuses `handle` per part.
 */
import { randomUUID } from 'node:crypto';
import { DvError, CODES, badRequest, duplicateRecord, notFound, notFoundByKey } from './errors.js';
import { checkFilter, evaluate, type CollectionResolver, type Node, type Resolver, type TypeResolver } from './filter.js';
import { parseFetchXml, type FetchFilter, type FetchQuery } from './fetchxml.js';
import { metadataXml } from './metadata.js';
import { emptyOptions, parseGuid, parseOptions, parsePrefer, parseResourcePath, type QueryOptions, type ResourceKey, type ResourcePath } from './query.js';
import type { EdmType, EmuColumn, EmuTable, Schema } from './schema.js';
import { Store, lookupKey, type Row } from './store.js';

export interface CoreRequest {
  method: string;
  /** Path below the API root, percent-encoded as sent (e.g. `contacts(emailaddress1='a%40b.c')`). */
  path: string;
  /** Raw query string without '?'. */
  query: string;
  headers: Record<string, string | undefined>;
  body: string;
  /** $batch change set: Content-ID → entity URL path (e.g. `contacts(<guid>)`). */
  contentIds?: Map<string, string>;
}

export interface CoreResponse {
  status: number;
  headers: Record<string, string>;
  /** JSON value, or a string sent as is (e.g. the $metadata XML). */
  body?: unknown;
  /** Write operations performed (for execution-time accounting). */
  writes: number;
  /** Entity path of a created/updated row (for Content-ID references in change sets). */
  entityPath?: string;
}

export interface EngineOptions {
  /** e.g. https://127.0.0.1:1234 (no trailing slash). */
  baseUrl: string;
  apiVersion?: string;
  /** Reject activity-party masks not listed for the activity (default true). */
  strictPartyMasks?: boolean;
  /** Enforce ApplicationRequired columns on create (default false: Dataverse only enforces SystemRequired). */
  enforceApplicationRequired?: boolean;
  /** Duplicate detection rules applied when `MSCRM.SuppressDuplicateDetection: false` is sent. */
  duplicateRules?: { table: string; column: string }[];
  /**
   * Alternate-key values containing / < > * % & : \ ? + cannot be used in a URL against real
   * Dataverse (define-alternate-keys-entity); reject them like it does (default true).
   */
  keyCharacterBreakage?: boolean;
  userId?: string;
  businessUnitId?: string;
  organizationId?: string;
}

const MAX_PAGE = 5000;
const COUNT_CAP = 5000;

function nowIso(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function jsonHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return { 'Content-Type': 'application/json; odata.metadata=minimal', 'OData-Version': '4.0', ...extra };
}

/** Matches `odata.include-annotations` patterns (comma list, `*` wildcards, `-` exclusions ignored). */
function annotationMatcher(pref: string | undefined): ((name: string) => boolean) | null {
  if (pref === undefined) return null;
  const pats = pref.split(',').map((s) => s.trim()).filter((s) => s && !s.startsWith('-'));
  if (pats.length === 0) return null;
  const res = pats.map((p) => new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`));
  return (name) => res.some((r) => r.test(name));
}

function formatDate(iso: string): string {
  const d = new Date(iso);
  const h = d.getUTCHours();
  const mm = String(d.getUTCMinutes()).padStart(2, '0');
  return `${d.getUTCMonth() + 1}/${d.getUTCDate()}/${d.getUTCFullYear()} ${h % 12 === 0 ? 12 : h % 12}:${mm} ${h < 12 ? 'AM' : 'PM'}`;
}

/**
 * Index plan of a filter: `column eq literal` terms whose matches are a superset of the filter's
 * (an `and` needs one indexable side, an `or` both). The full filter is still applied afterwards.
 */
function indexableEquality(n: Node, edmOf: (name: string) => string): { column: string; value: unknown }[] | null {
  if (n.kind === 'and') return indexableEquality(n.left, edmOf) ?? indexableEquality(n.right, edmOf);
  if (n.kind === 'or') {
    const l = indexableEquality(n.left, edmOf);
    const r = l && indexableEquality(n.right, edmOf);
    return l && r ? [...l, ...r] : null;
  }
  if (n.kind !== 'cmp' || n.op !== 'eq') return null;
  const [m, l] = n.left.kind === 'member' ? [n.left, n.right] : [n.right, n.left];
  if (m.kind !== 'member' || l.kind !== 'literal' || m.path.length !== 1 || l.value === null) return null;
  const edm = edmOf(m.path[0]!);
  if (!['Edm.String', 'Edm.Guid', 'Edm.Int32', 'Edm.Boolean'].includes(edm) || edm !== (l.edm === 'Edm.Int64' ? 'Edm.Int32' : l.edm)) return null;
  return [{ column: m.path[0]!, value: l.value }];
}

export class Engine {
  readonly store: Store;
  private readonly api: string;
  private metadata: string | undefined;

  constructor(readonly schema: Schema, private readonly opts: EngineOptions) {
    this.store = new Store(schema);
    this.api = `${opts.baseUrl}/api/data/${opts.apiVersion ?? 'v9.2'}/`;
  }

  // ---------------------------------------------------------------- entry point

  handle(req: CoreRequest): CoreResponse {
    try {
      return this.route(req);
    } catch (e) {
      if (e instanceof DvError) return { status: e.status, headers: jsonHeaders(e.headers), body: e.body(), writes: 0 };
      throw e;
    }
  }

  private route(req: CoreRequest): CoreResponse {
    let path: string;
    try {
      path = decodeURIComponent(req.path);
    } catch {
      throw badRequest('The request URI is not valid.');
    }
    if (path.startsWith('$') && req.contentIds) {
      // `$1` or `$1/prop` inside a change set.
      const m = /^\$(\d+)(.*)$/.exec(path);
      const target = m ? req.contentIds.get(m[1]!) : undefined;
      if (!m || !target) throw badRequest(`Content-ID Reference: '${path.split('/')[0]}' does not exist in the batch context.`);
      path = target + m[2]!;
    }
    const method = req.method.toUpperCase();
    const params = new URLSearchParams(req.query);
    if (path === 'WhoAmI' || path === 'WhoAmI()') {
      if (method !== 'GET') throw new DvError(405, CODES.notSupported, 'The requested method is not allowed.');
      return {
        status: 200, writes: 0,
        headers: jsonHeaders(),
        body: {
          '@odata.context': `${this.api}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse`,
          BusinessUnitId: this.opts.businessUnitId, UserId: this.opts.userId, OrganizationId: this.opts.organizationId,
        },
      };
    }
    if (path === '$metadata') {
      if (method !== 'GET') throw new DvError(405, CODES.notSupported, 'The requested method is not allowed.');
      this.metadata ??= metadataXml(this.schema);
      return { status: 200, writes: 0, headers: { 'Content-Type': 'application/xml', 'OData-Version': '4.0' }, body: this.metadata };
    }
    const rp = parseResourcePath(path);
    const t = this.schema.bySet.get(rp.segment);
    if (!t) throw new DvError(404, CODES.odata, `Resource not found for the segment '${rp.segment}'.`);
    const prefer = parsePrefer(req.headers['prefer']);

    if (!rp.key) {
      if (rp.rest.length === 1 && rp.rest[0]!.startsWith('Microsoft.Dynamics.CRM.') && method === 'POST') {
        return this.bulk(t, rp.rest[0]!.slice('Microsoft.Dynamics.CRM.'.length), req);
      }
      if (rp.rest.length > 0) throw new DvError(404, CODES.odata, `Resource not found for the segment '${rp.rest[0]}'.`);
      if (method === 'GET' && params.has('fetchXml')) return this.fetchXml(t, params, req);
      for (const named of ['savedQuery', 'userQuery']) {
        if (params.has(named)) throw badRequest(`The query parameter ${named} is not supported by the emulator.`);
      }
      if (method === 'GET') return this.query(t, params, prefer, req);
      if (method === 'POST') return this.create(t, req, params, prefer);
      throw new DvError(405, CODES.notSupported, `The requested method ${method} is not allowed on the entity set '${t.entitySet}'.`);
    }

    if (rp.rest.length > 0) return this.subResource(t, rp, method, req, params, prefer);
    switch (method) {
      case 'GET': return this.retrieve(t, rp, params, prefer, req);
      case 'PATCH': return this.upsert(t, rp, req, params, prefer);
      case 'DELETE': return this.remove(t, rp, req);
      default: throw new DvError(405, CODES.notSupported, `The requested method ${method} is not allowed on '${t.entitySet}'.`);
    }
  }

  // ---------------------------------------------------------------- keys and references

  private resolveKey(t: EmuTable, key: ResourceKey, inUrl = true): { id: string | null; keyValues: Record<string, unknown> } {
    if (key.kind === 'id') return { id: key.id, keyValues: {} };
    const names = Object.keys(key.values);
    if (names.length === 1 && names[0] === t.primaryId) {
      const id = parseGuid(String(key.values[t.primaryId]));
      if (!id) throw badRequest(`Unrecognized 'Edm.Guid' literal in the request URI for '${t.entitySet}'.`);
      return { id, keyValues: {} };
    }
    const ak = t.alternateKeys.find((k) => k.columns.length === names.length && k.columns.every((c) => names.includes(c) || names.includes(lookupKey(c))));
    if (!ak) {
      throw badRequest(`The key in the request URI is not valid for resource 'Microsoft.Dynamics.CRM.${t.logicalName}'. Ensure that the names and number of key properties match the declared or alternate key properties for the resource 'Microsoft.Dynamics.CRM.${t.logicalName}'.`);
    }
    if (inUrl && this.opts.keyCharacterBreakage !== false) {
      const bad = Object.values(key.values).find((v) => typeof v === 'string' && /[/<>*%&:\\?+]/.test(v));
      if (bad !== undefined) {
        throw badRequest(`A potentially dangerous Request.Path value was detected from the client: the key value '${String(bad)}' contains a character that alternate-key addressing does not support (/ < > * % & : \\ ? +).`);
      }
    }
    const keyValues: Record<string, unknown> = {};
    for (const c of ak.columns) {
      const col = t.columns.get(c)!;
      const raw = key.values[c] ?? key.values[lookupKey(c)];
      keyValues[c] = col.type === 'lookup' ? parseGuid(String(raw)) : col.edm === 'Edm.String' ? String(raw) : raw;
    }
    const row = this.store.findByKey(t, keyValues);
    return { id: row ? String(row.values[t.primaryId]) : null, keyValues };
  }

  /** Resolves an @odata.bind / @odata.id reference to (table, id). */
  private resolveRef(ref: string, req: CoreRequest): { table: EmuTable; id: string } {
    let p = ref.trim();
    if (p.startsWith('$') && req.contentIds) {
      const target = req.contentIds.get(p.slice(1));
      if (!target) throw badRequest(`Content-ID Reference: '${p}' does not exist in the batch context.`);
      p = target;
    }
    const apiIdx = p.indexOf('/api/data/');
    if (apiIdx >= 0) p = p.slice(apiIdx).replace(/^\/api\/data\/v9\.\d\//, '');
    p = p.replace(/^\//, '');
    let rp: ResourcePath;
    try {
      rp = parseResourcePath(decodeURIComponent(p));
    } catch {
      throw badRequest(`The URI '${ref}' is not valid for the @odata.bind annotation.`);
    }
    const table = this.schema.bySet.get(rp.segment);
    if (!table || !rp.key || rp.rest.length) throw badRequest(`The URI '${ref}' is not valid for the @odata.bind annotation.`);
    const { id } = this.resolveKey(table, rp.key);
    if (!id) throw notFoundByKey(table.logicalName);
    if (rp.key.kind === 'id' && !this.store.get(table, id)) throw notFound(table.logicalName, id);
    return { table, id };
  }

  private getOr404(t: EmuTable, rp: ResourcePath): { id: string; row: Row } {
    const { id } = this.resolveKey(t, rp.key!);
    if (!id) throw notFoundByKey(t.logicalName);
    const row = this.store.get(t, id);
    if (!row) throw notFound(t.logicalName, id);
    return { id, row };
  }

  private entityPath(t: EmuTable, id: string): string {
    return `${t.entitySet}(${id})`;
  }

  // ---------------------------------------------------------------- values

  private validateValue(t: EmuTable, c: EmuColumn, v: unknown): unknown {
    if (v === null) {
      if (c.type === 'state' || c.type === 'status' || c.type === 'primarykey') {
        throw badRequest(`Attribute '${c.name}' cannot be set to NULL`, CODES.invalidArgument);
      }
      return null;
    }
    const wrongType = (edm: string): DvError =>
      badRequest(`Cannot convert the literal '${typeof v === 'object' ? JSON.stringify(v) : String(v)}' to the expected type '${edm}'.`);
    switch (c.type) {
      case 'text': case 'memo': {
        if (typeof v !== 'string') throw wrongType('Edm.String');
        if (c.maxLength !== undefined && v.length > c.maxLength) {
          throw badRequest(`A validation error occurred. The length of the '${c.name}' attribute of the '${t.logicalName}' entity exceeded the maximum allowed length of '${c.maxLength}'.`, CODES.stringLength);
        }
        // Dataverse stores an empty string as null.
        return v === '' ? null : v;
      }
      case 'choice': case 'state': case 'status': {
        if (typeof v !== 'number' || !Number.isInteger(v)) throw wrongType('Edm.Int32');
        if (c.options && !c.options.has(v)) {
          throw badRequest(`A validation error occurred. The value ${v} of '${c.name}' on record of type '${t.logicalName}' is outside the valid range. Accepted Values: ${[...c.options.keys()].join(',')}`, CODES.choiceOutOfRange);
        }
        return v;
      }
      case 'integer': {
        if (typeof v !== 'number' || !Number.isInteger(v)) throw wrongType('Edm.Int32');
        if (v < -2147483648 || v > 2147483647) {
          throw badRequest(`A validation error occurred. The value of '${c.name}' on record of type '${t.logicalName}' is outside the valid range.`, CODES.invalidArgument);
        }
        return v;
      }
      case 'boolean':
        if (typeof v !== 'boolean') throw wrongType('Edm.Boolean');
        return v;
      case 'datetime': {
        if (typeof v !== 'string' || Number.isNaN(Date.parse(v)) || !/^\d{4}-\d{2}-\d{2}/.test(v)) throw wrongType('Edm.DateTimeOffset');
        // Dataverse keeps whole seconds and answers in UTC.
        return new Date(Math.floor(Date.parse(/T/.test(v) ? v : `${v}T00:00:00Z`) / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
      }
      case 'primarykey': {
        const g = typeof v === 'string' ? parseGuid(v) : null;
        if (!g) throw wrongType('Edm.Guid');
        return g;
      }
      default:
        throw badRequest(`The property '${c.name}' cannot be written.`, CODES.invalidArgument);
    }
  }

  /**
   * Applies a request body to a row being created or updated. Returns follow-up actions (deep
   * inserts of child rows) to run once the row itself is stored.
   */
  private applyBody(
    t: EmuTable, body: Record<string, unknown>, mode: 'create' | 'update', row: Row, req: CoreRequest,
    opts: { ignoreColumns?: Set<string> } = {},
  ): { children: { nav: string; items: Record<string, unknown>[] }[] } {
    const children: { nav: string; items: Record<string, unknown>[] }[] = [];
    for (const [key, v] of Object.entries(body)) {
      if (key === '__proto__' || key === 'constructor' || key === 'prototype') throw badRequest(`The property '${key}' does not exist on type 'Microsoft.Dynamics.CRM.${t.logicalName}'.`);
      if (key.startsWith('@odata.')) {
        if (key === '@odata.type' && typeof v === 'string' && v !== `Microsoft.Dynamics.CRM.${t.logicalName}` && v !== `#Microsoft.Dynamics.CRM.${t.logicalName}`) {
          throw badRequest(`A type named '${v}' could not be resolved by the model. When a model is available, each type name must resolve to a valid type.`);
        }
        continue;
      }
      if (key.endsWith('@odata.bind')) {
        const nav = key.slice(0, -'@odata.bind'.length);
        const sn = t.singleNavs.get(nav);
        if (!sn) {
          if (t.collectionNavs.has(nav)) throw badRequest(`Binding collection-valued navigation property '${nav}' is not supported by the emulator; use the child's lookup.`);
          throw badRequest(`An undeclared property '${nav}' which only has property annotations in the payload but no property value was found in the payload. In OData, only declared navigation properties and declared named streams can be represented as properties without values.`);
        }
        if (mode === 'update' && !sn.column.validForUpdate) {
          throw badRequest(`Field '${sn.column.name}' of '${t.logicalName}' is not valid for update.`, CODES.invalidArgument);
        }
        if (v === null) {
          row.values[lookupKey(sn.column.name)] = null;
          delete row.lookupTypes[sn.column.name];
          continue;
        }
        if (typeof v !== 'string') throw badRequest(`The value of '${key}' must be a URI string.`);
        const target = this.resolveRef(v, req);
        if (target.table.logicalName !== sn.target) {
          throw badRequest(`The entity set '${target.table.entitySet}' does not match the navigation property '${nav}' (expected ${sn.target}).`);
        }
        row.values[lookupKey(sn.column.name)] = target.id;
        row.lookupTypes[sn.column.name] = sn.target;
        continue;
      }
      if (key.includes('@')) continue; // instance annotations on properties are ignored
      const cn = t.collectionNavs.get(key);
      if (cn) {
        if (!Array.isArray(v)) throw badRequest(`The value of the collection-valued navigation property '${key}' must be an array.`);
        const child = this.schema.tables.get(cn.childTable)!;
        if (mode === 'update' && !child.readOnly) {
          throw badRequest(`Deep update of the collection-valued navigation property '${key}' is not supported.`);
        }
        children.push({ nav: key, items: v as Record<string, unknown>[] });
        continue;
      }
      const sn = t.singleNavs.get(key);
      if (sn) {
        if (mode === 'update' || v === null || typeof v !== 'object' || Array.isArray(v)) {
          throw badRequest(`Use '${key}@odata.bind' to set the navigation property '${key}'.`);
        }
        // Deep insert of the related (parent) row.
        const target = this.schema.tables.get(sn.target)!;
        const parentId = this.createRow(target, v as Record<string, unknown>, req, {});
        row.values[lookupKey(sn.column.name)] = parentId;
        row.lookupTypes[sn.column.name] = sn.target;
        continue;
      }
      if (opts.ignoreColumns?.has(key)) continue;
      const c = t.columns.get(key);
      if (!c) {
        const lk = /^_(.+)_value$/.exec(key);
        if (lk && t.columns.get(lk[1]!)?.type === 'lookup') {
          throw badRequest(`The property '${key}' is read-only; set the lookup with '<navigation property>@odata.bind'.`);
        }
        throw badRequest(`The property '${key}' does not exist on type 'Microsoft.Dynamics.CRM.${t.logicalName}'. Make sure to only use property names that are defined by the type or mark the type as open type.`);
      }
      if (c.type === 'lookup' || c.type === 'customer') {
        throw badRequest(`Use '${[...(c.navByTarget?.values() ?? [])].join("' or '")}@odata.bind' to set the lookup '${key}'.`);
      }
      if (mode === 'create' && !c.validForCreate) throw badRequest(`Field '${key}' of '${t.logicalName}' is not valid for create.`, CODES.invalidArgument);
      if (mode === 'update' && !c.validForUpdate) {
        if (c.type === 'primarykey' && typeof v === 'string' && parseGuid(v) === row.values[t.primaryId]) continue;
        throw badRequest(`Field '${key}' of '${t.logicalName}' is not valid for update.`, CODES.invalidArgument);
      }
      row.values[key] = this.validateValue(t, c, v);
    }
    return { children };
  }

  private applyStateRules(t: EmuTable, row: Row, before: Row | null, body: Record<string, unknown>): void {
    if (!t.columns.has('statecode')) return;
    const stateSet = 'statecode' in body;
    const statusSet = 'statuscode' in body;
    const state = row.values.statecode as number;
    if (stateSet && !statusSet) row.values.statuscode = t.defaultStatusByState.get(state);
    const statusCol = t.columns.get('statuscode')!;
    const status = row.values.statuscode as number;
    if (statusCol.statusState && statusCol.statusState.get(status) !== state) {
      throw badRequest(`${status} is not a valid status code for state code ${t.logicalName}State.${t.columns.get('statecode')!.options?.get(state)} on ${t.logicalName} with Id ${String(row.values[t.primaryId])}.`, CODES.statusForState);
    }
    // Closed and canceled activities are read-only (reference §1.1) unless the request reopens them.
    if (before && t.isActivity && (before.values.statecode as number) !== 0 && !stateSet) {
      throw badRequest(`This ${t.logicalName} is closed or canceled and cannot be edited.`, CODES.invalidArgument);
    }
  }

  private checkDuplicates(t: EmuTable, row: Row, req: CoreRequest): void {
    if ((req.headers['mscrm.suppressduplicatedetection'] ?? '').toLowerCase() !== 'false') return;
    const rules = this.opts.duplicateRules ?? [{ table: 'contact', column: 'emailaddress1' }, { table: 'lead', column: 'emailaddress1' }];
    for (const r of rules.filter((x) => x.table === t.logicalName)) {
      const v = row.values[r.column];
      if (typeof v !== 'string') continue;
      const id = row.values[t.primaryId];
      for (const other of this.store.table(t.logicalName).values()) {
        const ov = other.values[r.column];
        if (other.values[t.primaryId] !== id && typeof ov === 'string' && ov.toLowerCase() === v.toLowerCase()) {
          throw new DvError(500, CODES.duplicateDetection, 'A record was not created or updated because a duplicate of the current record already exists.');
        }
      }
    }
  }

  private newRow(t: EmuTable, id: string): Row {
    const values: Record<string, unknown> = {};
    for (const c of t.columns.values()) {
      if (c.type === 'lookup' || c.type === 'customer') values[lookupKey(c.name)] = null;
      else values[c.name] = c.defaultValue ?? null;
    }
    values[t.primaryId] = id;
    if (t.columns.has('statecode')) {
      values.statecode = 0;
      values.statuscode = t.defaultStatusByState.get(0);
    }
    if (t.isActivity) values.activitytypecode = t.logicalName;
    return { values, lookupTypes: {} };
  }

  /** Creates a row (and its deep-inserted children); returns its id. Caller wraps in store.atomic. */
  private createRow(t: EmuTable, body: Record<string, unknown>, req: CoreRequest, init: { id?: string; keyValues?: Record<string, unknown>; viaParent?: boolean }): string {
    if (t.readOnly && !init.viaParent) {
      throw new DvError(405, CODES.notSupported, `The 'Create' method does not support entities of type '${t.logicalName}'.`);
    }
    let id = init.id ?? null;
    const bodyId = body[t.primaryId];
    if (bodyId !== undefined && bodyId !== null) {
      const g = typeof bodyId === 'string' ? parseGuid(bodyId) : null;
      if (!g) throw badRequest(`Cannot convert the literal '${String(bodyId)}' to the expected type 'Edm.Guid'.`);
      if (id && g !== id) throw badRequest(`The primary key in the body does not match the one in the URL.`);
      id = g;
    }
    id ??= randomUUID();
    if (this.store.get(t, id)) throw duplicateRecord();
    const row = this.newRow(t, id);
    for (const [k, v] of Object.entries(init.keyValues ?? {})) {
      const c = t.columns.get(k)!;
      if (c.type === 'lookup') {
        // A key on a lookup must name an existing row, like any other reference.
        const target = this.schema.tables.get(c.targets![0]!)!;
        if (v === null || !this.store.get(target, String(v))) throw notFound(target.logicalName, String(v));
        row.values[lookupKey(k)] = v;
        row.lookupTypes[k] = target.logicalName;
      } else row.values[k] = this.validateValue(t, c, v);
    }
    const { children } = this.applyBody(t, body, 'create', row, req, { ignoreColumns: new Set(Object.keys(init.keyValues ?? {})) });
    this.applyStateRules(t, row, null, {});
    if (this.opts.enforceApplicationRequired) {
      for (const c of t.columns.values()) {
        const v = c.type === 'lookup' ? row.values[lookupKey(c.name)] : row.values[c.name];
        if (c.required && (v === null || v === undefined)) throw badRequest(`Attribute '${c.name}' of '${t.logicalName}' is required.`, CODES.invalidArgument);
      }
    }
    this.checkDuplicates(t, row, req);
    const now = nowIso();
    row.values.createdon = now;
    row.values.modifiedon = now;
    row.values.versionnumber = this.store.nextVersion();
    this.store.insert(t, id, row);
    this.insertChildren(t, id, children, req);
    return id;
  }

  private insertChildren(t: EmuTable, id: string, children: { nav: string; items: Record<string, unknown>[] }[], req: CoreRequest): void {
    for (const { nav, items } of children) {
      const cn = t.collectionNavs.get(nav)!;
      const child = this.schema.tables.get(cn.childTable)!;
      for (const item of items) {
        if (item === null || typeof item !== 'object' || Array.isArray(item)) throw badRequest(`Each item of '${nav}' must be an object.`);
        if (child.logicalName === 'activityparty') {
          const mask = item.participationtypemask;
          if (this.opts.strictPartyMasks !== false && t.allowedPartyMasks && typeof mask === 'number' && !t.allowedPartyMasks.has(mask)) {
            throw badRequest(`The participation type mask ${mask} is not valid for an activity party of '${t.logicalName}'.`, CODES.invalidArgument);
          }
        }
        const childBody = { ...item, [`${this.navToParent(child, cn.childColumn, t.logicalName)}@odata.bind`]: `/${this.entityPath(t, id)}` };
        this.createRow(child, childBody, req, { viaParent: true });
      }
    }
  }

  private navToParent(child: EmuTable, column: string, parent: string): string {
    return child.columns.get(column)!.navByTarget!.get(parent)!;
  }

  private updateRow(t: EmuTable, id: string, existing: Row, body: Record<string, unknown>, req: CoreRequest, ignoreColumns?: Set<string>): void {
    if (t.readOnly) throw new DvError(405, CODES.notSupported, `The 'Update' method does not support entities of type '${t.logicalName}'.`);
    const row: Row = { values: { ...existing.values }, lookupTypes: { ...existing.lookupTypes } };
    const { children } = this.applyBody(t, body, 'update', row, req, ignoreColumns ? { ignoreColumns } : {});
    this.applyStateRules(t, row, existing, body);
    this.checkDuplicates(t, row, req);
    row.values.modifiedon = nowIso();
    row.values.versionnumber = this.store.nextVersion();
    this.store.replace(t, id, row);
    // Sending an activity's party collection on update replaces its parties.
    for (const c of children) {
      const cn = t.collectionNavs.get(c.nav)!;
      const child = this.schema.tables.get(cn.childTable)!;
      for (const [cid, crow] of [...this.store.table(child.logicalName)]) {
        if (crow.values[lookupKey(cn.childColumn)] === id) this.store.delete(child, cid);
      }
    }
    this.insertChildren(t, id, children, req);
  }

  // ---------------------------------------------------------------- reads

  private selectList(t: EmuTable, select: string[] | null): string[] {
    const all = [...t.columns.values()].map((c) => (c.type === 'lookup' || c.type === 'customer' ? lookupKey(c.name) : c.name));
    if (!select) return all;
    for (const s of select) {
      if (!all.includes(s)) throw new DvError(400, '0x0', `Could not find a property named '${s}' on type 'Microsoft.Dynamics.CRM.${t.logicalName}'.`);
    }
    return select.includes(t.primaryId) ? select : [...select, t.primaryId];
  }

  private project(t: EmuTable, row: Row, o: QueryOptions, ann: ((n: string) => boolean) | null, req: CoreRequest): Record<string, unknown> {
    const out: Record<string, unknown> = { '@odata.etag': `W/"${String(row.values.versionnumber)}"` };
    for (const name of this.selectList(t, o.select)) {
      const v = row.values[name] ?? null;
      if (ann && v !== null) {
        const lk = /^_(.+)_value$/.exec(name);
        const c = lk ? t.columns.get(lk[1]!) : t.columns.get(name);
        if (c) this.annotate(out, name, c, v, row, ann);
      }
      out[name] = v;
    }
    for (const ex of o.expand) out[ex.nav] = this.expand(t, row, ex.nav, ex.options, ann, req);
    return out;
  }

  private annotate(out: Record<string, unknown>, name: string, c: EmuColumn, v: unknown, row: Row, ann: (n: string) => boolean): void {
    const fv = 'OData.Community.Display.V1.FormattedValue';
    let formatted: string | undefined;
    if (c.type === 'lookup' || c.type === 'customer') {
      const target = row.lookupTypes[c.name] ?? c.targets?.[0];
      const tt = target ? this.schema.tables.get(target) : undefined;
      if (tt) {
        const r = this.store.get(tt, String(v));
        if (r && r.values[tt.primaryName] != null) formatted = String(r.values[tt.primaryName]);
        if (ann('Microsoft.Dynamics.CRM.associatednavigationproperty')) out[`${name}@Microsoft.Dynamics.CRM.associatednavigationproperty`] = c.navByTarget?.get(tt.logicalName);
        if (ann('Microsoft.Dynamics.CRM.lookuplogicalname')) out[`${name}@Microsoft.Dynamics.CRM.lookuplogicalname`] = tt.logicalName;
      }
    } else if (c.options) formatted = c.options.get(v as number);
    else if (c.type === 'boolean') formatted = v ? 'Yes' : 'No';
    else if (c.type === 'datetime') formatted = formatDate(String(v));
    else if (c.type === 'integer' || c.type === 'bigint') formatted = Number(v).toLocaleString('en-US');
    if (formatted !== undefined && ann(fv)) out[`${name}@${fv}`] = formatted;
  }

  private expand(t: EmuTable, row: Row, nav: string, o: QueryOptions, ann: ((n: string) => boolean) | null, req: CoreRequest): unknown {
    const sn = t.singleNavs.get(nav);
    if (sn) {
      const id = row.values[lookupKey(sn.column.name)];
      if (id == null || (row.lookupTypes[sn.column.name] ?? sn.target) !== sn.target) return null;
      const tt = this.schema.tables.get(sn.target)!;
      const r = this.store.get(tt, String(id));
      return r ? this.project(tt, r, o, ann, req) : null;
    }
    const cn = t.collectionNavs.get(nav);
    if (!cn) throw new DvError(400, '0x0', `Could not find a property named '${nav}' on type 'Microsoft.Dynamics.CRM.${t.logicalName}'.`);
    const child = this.schema.tables.get(cn.childTable)!;
    const id = row.values[t.primaryId];
    const rows = this.select(child, o, (r) => r.values[lookupKey(cn.childColumn)] === id);
    return (o.top !== null ? rows.slice(0, o.top) : rows).map((r) => this.project(child, r, { ...o, expand: o.expand }, ann, req));
  }

  private edmOfPath(t: EmuTable, path: string[]): { table: EmuTable; column: EmuColumn; name: string; nav?: string } {
    if (path.length === 2) {
      const sn = t.singleNavs.get(path[0]!);
      if (!sn) throw new DvError(400, '0x0', `Could not find a property named '${path[0]}' on type 'Microsoft.Dynamics.CRM.${t.logicalName}'.`);
      const tt = this.schema.tables.get(sn.target)!;
      return { ...this.edmOfPath(tt, [path[1]!]), nav: path[0]! };
    }
    if (path.length !== 1) throw badRequest(`The navigation path '${path.join('/')}' is not supported.`);
    const name = path[0]!;
    const lk = /^_(.+)_value$/.exec(name);
    const c = lk ? t.columns.get(lk[1]!) : t.columns.get(name);
    if (!c || (lk && c.type !== 'lookup') || (!lk && c.type === 'lookup')) {
      throw new DvError(400, '0x0', `Could not find a property named '${name}' on type 'Microsoft.Dynamics.CRM.${t.logicalName}'.`);
    }
    return { table: t, column: c, name };
  }

  /** Value resolution of filter member paths on rows of `t` (columns, `_x_value`, `nav/column`), paths looked up once. */
  private rowResolvers(t: EmuTable): { types: TypeResolver; resolverOf: (r: Row) => Resolver } {
    const cache = new Map<string, { table: EmuTable; column: EmuColumn; name: string; nav?: string }>();
    const info = (path: string[]): { table: EmuTable; column: EmuColumn; name: string; nav?: string } => {
      const k = path.join('/');
      let v = cache.get(k);
      if (!v) { v = this.edmOfPath(t, path); cache.set(k, v); }
      return v;
    };
    return {
      types: (path) => info(path).column.edm as EdmType,
      resolverOf: (r) => (path) => {
        const i = info(path);
        let row: Row | undefined = r;
        if (i.nav) {
          const sn = t.singleNavs.get(i.nav)!;
          const id = r.values[lookupKey(sn.column.name)];
          row = id == null ? undefined : this.store.get(i.table, String(id));
        }
        return { value: row ? row.values[i.name] ?? null : null, edm: i.column.edm };
      },
    };
  }

  /** Lambda operators: the child table of a collection-valued navigation property of `t`, or a 400. */
  private lambdaChild(t: EmuTable, nav: string): { child: EmuTable; childColumn: string } {
    const cn = t.collectionNavs.get(nav);
    if (cn) return { child: this.schema.tables.get(cn.childTable)!, childColumn: cn.childColumn };
    if (t.singleNavs.has(nav)) throw badRequest(`The lambda operators any/all need a collection-valued navigation property; '${nav}' on 'Microsoft.Dynamics.CRM.${t.logicalName}' is single-valued.`);
    throw new DvError(400, '0x0', `Could not find a property named '${nav}' on type 'Microsoft.Dynamics.CRM.${t.logicalName}'.`);
  }

  private select(t: EmuTable, o: QueryOptions, pre?: (r: Row) => boolean): Row[] {
    let pred: ((r: Row) => boolean) | null = null;
    if (o.filter) {
      const f = o.filter;
      const own = this.rowResolvers(t);
      const children = new Map<string, { child: EmuTable; childColumn: string; resolvers: ReturnType<Engine['rowResolvers']> }>();
      const childOf = (nav: string) => {
        let c = children.get(nav);
        if (!c) {
          const link = this.lambdaChild(t, nav);
          c = { ...link, resolvers: this.rowResolvers(link.child) };
          children.set(nav, c);
        }
        return c;
      };
      checkFilter(f, own.types, (nav) => childOf(nav).resolvers.types);
      pred = (r) => {
        const collection: CollectionResolver = (nav) => {
          // The child rows whose lookup to the parent holds this row's id (an index lookup, not a scan).
          const c = childOf(nav);
          const rows = this.store.table(c.child.logicalName);
          return [...this.store.candidates(c.child, lookupKey(c.childColumn), r.values[t.primaryId])]
            .map((id) => rows.get(id))
            .filter((x): x is Row => x !== undefined)
            .map((x) => c.resolvers.resolverOf(x));
        };
        return evaluate(f, own.resolverOf(r), collection);
      };
    }
    const out: Row[] = [];
    // An equality on a plain column narrows the scan through an index (the result is the same).
    const eq = o.filter ? indexableEquality(o.filter, (name) => this.edmOfPath(t, [name]).column.edm) : null;
    const tableRows = this.store.table(t.logicalName);
    let scan: Iterable<Row> = tableRows.values();
    if (eq) {
      const ids = new Set<string>();
      for (const term of eq) for (const id of this.store.candidates(t, term.column, term.value)) ids.add(id);
      scan = [...ids].map((id) => tableRows.get(id)!).filter(Boolean);
    }
    for (const r of scan) {
      if (pre && !pre(r)) continue;
      if (pred && !pred(r)) continue;
      out.push(r);
    }
    const order = o.orderby.map((ob) => ({ ...ob, info: this.edmOfPath(t, [ob.column]) }));
    const cmp = (a: unknown, b: unknown): number => {
      // SQL Server sorts NULL first in ascending order; strings case-insensitively.
      if (a === b) return 0;
      if (a === null || a === undefined) return -1;
      if (b === null || b === undefined) return 1;
      const x = typeof a === 'string' ? a.toLowerCase() : (a as number);
      const y = typeof b === 'string' ? b.toLowerCase() : (b as number);
      return x < y ? -1 : x > y ? 1 : 0;
    };
    out.sort((a, b) => {
      for (const ob of order) {
        const c = cmp(a.values[ob.info.name], b.values[ob.info.name]);
        if (c !== 0) return ob.desc ? -c : c;
      }
      // Stable paging: the primary key breaks ties (Dataverse pages by it).
      return cmp(a.values[t.primaryId], b.values[t.primaryId]);
    });
    return out;
  }

  private query(t: EmuTable, params: URLSearchParams, prefer: Map<string, string>, req: CoreRequest): CoreResponse {
    const o = parseOptions(params.entries());
    const ann = annotationMatcher(prefer.get('odata.include-annotations'));
    // Validate $select and $expand even when nothing matches.
    this.selectList(t, o.select);
    const rows = this.select(t, o);
    const maxPage = prefer.has('odata.maxpagesize') ? Number(prefer.get('odata.maxpagesize')) : null;
    if (maxPage !== null && (!Number.isInteger(maxPage) || maxPage <= 0)) throw badRequest(`Invalid value for odata.maxpagesize.`);
    const applied: string[] = [];
    let pageSize = MAX_PAGE;
    let limited = rows;
    if (maxPage !== null) {
      pageSize = Math.min(maxPage, MAX_PAGE);
      applied.push(`odata.maxpagesize=${pageSize}`);
    } else if (o.top !== null) {
      limited = rows.slice(0, o.top);
    }
    let page = 1;
    if (o.skiptoken) {
      const m = /pagenumber="(\d+)"/.exec(o.skiptoken);
      if (!m) throw badRequest('The $skiptoken is not valid.');
      page = Number(m[1]);
    }
    const start = (page - 1) * pageSize;
    const slice = limited.slice(start, start + pageSize);
    const sel = o.select ? this.selectList(t, o.select) : null;
    const body: Record<string, unknown> = {
      '@odata.context': `${this.api}$metadata#${t.entitySet}${sel ? `(${sel.join(',')})` : ''}`,
    };
    if (o.count) {
      // OData: the count of all matching rows, independent of $top and paging; Dataverse caps it at 5000.
      body['@odata.count'] = Math.min(rows.length, COUNT_CAP);
      if (rows.length > COUNT_CAP) body['@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded'] = true;
    }
    body.value = slice.map((r) => this.project(t, r, o, ann, req));
    if (start + pageSize < limited.length) {
      const last = slice[slice.length - 1]!;
      const cookie = `<cookie pagenumber="${page + 1}" pagingcookie="${encodeURIComponent(`<cookie page="${page}"><${t.primaryId} last="{${String(last.values[t.primaryId]).toUpperCase()}}" /></cookie>`)}" istracking="False" />`;
      // Like Dataverse: the caller's query options as sent, plus an encoded paging cookie.
      const kept = req.query.split('&').filter((p) => p && !/^(\$|%24)skiptoken=/i.test(p));
      kept.push(`$skiptoken=${encodeURIComponent(cookie).replace(/%3D/g, '=')}`);
      body['@odata.nextLink'] = `${this.api}${t.entitySet}?${kept.join('&')}`;
    }
    if (ann) applied.push(`odata.include-annotations="${prefer.get('odata.include-annotations')}"`);
    return { status: 200, writes: 0, headers: jsonHeaders(applied.length ? { 'Preference-Applied': applied.join(',') } : {}), body };
  }

  // ---------------------------------------------------------------- FetchXML

  /** Column `name` of `t` (FetchXML names lookups by their logical name) and the stored key of its value. */
  private fetchColumn(t: EmuTable, name: string): { column: EmuColumn; stored: string } {
    const column = t.columns.get(name);
    if (!column) throw badRequest(`'${t.logicalName}' entity doesn't contain attribute with Name = '${name}' and NameMapping = 'Logical'.`);
    return { column, stored: column.type === 'lookup' || column.type === 'customer' ? lookupKey(name) : name };
  }

  /** A condition value in the column's comparable form (GUIDs and strings lower case, numbers, epoch ms). */
  private fetchValue(t: EmuTable, name: string, raw: string): unknown {
    const { column } = this.fetchColumn(t, name);
    const bad = (): DvError => badRequest(`FetchXML: the value '${raw}' of the condition on '${t.logicalName}.${name}' is not a valid ${column.edm}.`);
    switch (column.edm) {
      case 'Edm.Guid': { const g = parseGuid(raw); if (!g) throw bad(); return g; }
      case 'Edm.String': return raw.toLowerCase();
      case 'Edm.Int32': case 'Edm.Int64': { if (!/^-?\d+$/.test(raw.trim())) throw bad(); return Number(raw); }
      case 'Edm.Boolean': { if (!['0', '1', 'true', 'false'].includes(raw)) throw bad(); return raw === '1' || raw === 'true'; }
      case 'Edm.DateTimeOffset': { const ms = Date.parse(raw); if (Number.isNaN(ms)) throw bad(); return ms; }
    }
  }

  private comparable(v: unknown, edm: EdmType): unknown {
    if (v === null || v === undefined) return null;
    if (typeof v === 'string') return edm === 'Edm.DateTimeOffset' ? Date.parse(v) : v.toLowerCase();
    return v;
  }

  /** Compiles a FetchXML filter on `t` into a row predicate; names and values are checked now, not per row. */
  private fetchPredicate(t: EmuTable, f: FetchFilter): (r: Row) => boolean {
    const parts: ((r: Row) => boolean)[] = [
      ...f.conditions.map((c) => {
        const { column, stored } = this.fetchColumn(t, c.attribute);
        const want = this.fetchValue(t, c.attribute, c.value);
        return (r: Row) => this.comparable(r.values[stored], column.edm) === want;
      }),
      ...f.filters.map((sub) => this.fetchPredicate(t, sub)),
    ];
    return f.type === 'and' ? (r) => parts.every((p) => p(r)) : (r) => parts.some((p) => p(r));
  }

  /**
   * The rows of an inner-joined query: each root row once per combination of matching linked rows
   * (SQL join semantics, so an aggregate counts a response twice if two parties match).
   */
  private fetchRows(t: EmuTable, q: FetchQuery): Row[] {
    const rootFilters = q.filters.map((f) => this.fetchPredicate(t, f));
    const links = q.links.map((l) => {
      const lt = this.schema.tables.get(l.name);
      if (!lt) throw badRequest(`FetchXML: the link-entity '${l.name}' is not a table of this environment.`);
      const from = this.fetchColumn(lt, l.from);
      const to = this.fetchColumn(t, l.to);
      if (from.column.edm !== to.column.edm) {
        throw badRequest(`FetchXML: the link-entity '${l.name}' joins '${l.from}' (${from.column.edm}) to '${l.to}' (${to.column.edm}).`);
      }
      return { lt, from, to, filters: l.filters.map((f) => this.fetchPredicate(lt, f)) };
    });
    const out: Row[] = [];
    for (const r of this.store.table(t.logicalName).values()) {
      if (!rootFilters.every((p) => p(r))) continue;
      let times = 1;
      for (const l of links) {
        const key = r.values[l.to.stored];
        if (key === null || key === undefined) { times = 0; break; }
        const linked = this.store.table(l.lt.logicalName);
        times *= [...this.store.candidates(l.lt, l.from.stored, key)].filter((id) => {
          const lr = linked.get(id);
          return lr !== undefined && l.filters.every((p) => p(lr));
        }).length;
      }
      for (let i = 0; i < times; i++) out.push(r);
    }
    return out;
  }

  private fetchXml(t: EmuTable, params: URLSearchParams, req: CoreRequest): CoreResponse {
    for (const k of params.keys()) {
      if (k !== 'fetchXml') throw badRequest(`The query option ${k} cannot be combined with fetchXml.`);
    }
    const q = parseFetchXml(params.get('fetchXml')!);
    if (q.entity !== t.logicalName) {
      throw badRequest(`FetchXML: the entity '${q.entity}' does not match the entity set '${t.entitySet}' (${t.logicalName}).`);
    }
    const attrs = q.attributes.map((a) => ({ ...a, ...this.fetchColumn(t, a.name) }));
    for (const a of attrs) {
      if (a.aggregate === 'sum' && a.column.type !== 'integer' && a.column.type !== 'bigint') {
        throw badRequest(`FetchXML: the aggregate 'sum' needs a number column; '${a.name}' is ${a.column.type}.`);
      }
    }
    const rows = this.fetchRows(t, q);
    const context = `${this.api}$metadata#${t.entitySet}`;
    if (!q.aggregate) {
      const seen = new Set<unknown>();
      const unique = q.distinct ? rows.filter((r) => !seen.has(r.values[t.primaryId]) && seen.add(r.values[t.primaryId])) : rows;
      // The Web API answers a FetchXML page of up to 5000 rows; paging it (page/paging-cookie) is not emulated.
      if (unique.length > MAX_PAGE) throw badRequest(`FetchXML: ${unique.length} rows match; paging FetchXML results is not supported by the emulator.`);
      const o = { ...emptyOptions(), select: attrs.map((a) => a.stored) };
      return { status: 200, writes: 0, headers: jsonHeaders(), body: { '@odata.context': context, value: unique.map((r) => this.project(t, r, o, null, req)) } };
    }
    // Aggregate: one row per group (one row in all without groupby), values under their aliases.
    const groupBy = attrs.filter((a) => a.groupby);
    const groups = new Map<string, Row[]>();
    for (const r of rows) {
      const key = JSON.stringify(groupBy.map((g) => this.comparable(r.values[g.stored], g.column.edm)));
      const list = groups.get(key);
      if (list) list.push(r); else groups.set(key, [r]);
    }
    if (groupBy.length === 0 && groups.size === 0) groups.set('[]', []);
    const value = [...groups.values()].map((members) => {
      const out: Record<string, unknown> = {};
      for (const a of attrs) {
        const present = members.map((m) => m.values[a.stored]).filter((v) => v !== null && v !== undefined);
        if (a.groupby) out[a.alias!] = members[0]!.values[a.stored] ?? null;
        else if (a.aggregate === 'count') out[a.alias!] = members.length;
        else if (a.aggregate === 'countcolumn') out[a.alias!] = present.length;
        // SQL SUM over no values is NULL.
        else out[a.alias!] = present.length ? present.reduce((s: number, v) => s + Number(v), 0) : null;
      }
      return out;
    });
    return { status: 200, writes: 0, headers: jsonHeaders(), body: { '@odata.context': context, value } };
  }

  private retrieve(t: EmuTable, rp: ResourcePath, params: URLSearchParams, prefer: Map<string, string>, req: CoreRequest): CoreResponse {
    const o = parseOptions(params.entries());
    const { row } = this.getOr404(t, rp);
    const ann = annotationMatcher(prefer.get('odata.include-annotations'));
    const etag = `W/"${String(row.values.versionnumber)}"`;
    const inm = req.headers['if-none-match'];
    if (inm && inm !== 'null' && inm === etag && o.expand.length === 0 && !ann) {
      return { status: 304, writes: 0, headers: { 'OData-Version': '4.0', ETag: etag } };
    }
    const sel = o.select ? this.selectList(t, o.select) : null;
    const body = {
      '@odata.context': `${this.api}$metadata#${t.entitySet}${sel ? `(${sel.join(',')})` : ''}/$entity`,
      ...this.project(t, row, o, ann, req),
    };
    const headers = jsonHeaders({ ETag: etag });
    if (ann) headers['Preference-Applied'] = `odata.include-annotations="${prefer.get('odata.include-annotations')}"`;
    return { status: 200, writes: 0, headers, body };
  }

  // ---------------------------------------------------------------- writes

  private parseBody(req: CoreRequest): Record<string, unknown> {
    if (!req.body.trim()) throw badRequest('The request body is empty.');
    const type = req.headers['content-type'];
    if (!type || !/json/i.test(type)) {
      throw new DvError(415, CODES.odata, `The request entity's media type '${type ?? ''}' is not supported for this resource.`);
    }
    let v: unknown;
    try {
      v = JSON.parse(req.body);
    } catch (e) {
      throw badRequest(`Invalid JSON. ${(e as Error).message}`);
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) throw badRequest('The request body must be a JSON object.');
    return v as Record<string, unknown>;
  }

  private representation(t: EmuTable, id: string, params: URLSearchParams, prefer: Map<string, string>, req: CoreRequest, allowExpand: boolean): Record<string, unknown> {
    const o = parseOptions(params.entries());
    if (!allowExpand) o.expand = [];
    const row = this.store.get(t, id)!;
    const ann = annotationMatcher(prefer.get('odata.include-annotations'));
    const sel = o.select ? this.selectList(t, o.select) : null;
    return { '@odata.context': `${this.api}$metadata#${t.entitySet}${sel ? `(${sel.join(',')})` : ''}/$entity`, ...this.project(t, row, o, ann, req) };
  }

  private create(t: EmuTable, req: CoreRequest, params: URLSearchParams, prefer: Map<string, string>): CoreResponse {
    const body = this.parseBody(req);
    parseOptions(params.entries()); // validate $select/$expand before writing
    const id = this.store.atomic(() => this.createRow(t, body, req, {}));
    const path = this.entityPath(t, id);
    if (prefer.get('return') === 'representation') {
      return {
        status: 201, writes: 1, entityPath: path,
        headers: jsonHeaders({ 'Preference-Applied': 'return=representation', ETag: `W/"${String(this.store.get(t, id)!.values.versionnumber)}"` }),
        body: this.representation(t, id, params, prefer, req, true),
      };
    }
    return { status: 204, writes: 1, entityPath: path, headers: { 'OData-Version': '4.0', 'OData-EntityId': `${this.api}${path}` } };
  }

  private upsert(t: EmuTable, rp: ResourcePath, req: CoreRequest, params: URLSearchParams, prefer: Map<string, string>): CoreResponse {
    const body = this.parseBody(req);
    parseOptions(params.entries());
    const { id: foundId, keyValues } = this.resolveKey(t, rp.key!);
    const existing = foundId ? this.store.get(t, foundId) : undefined;
    const ifMatch = req.headers['if-match'];
    const ifNoneMatch = req.headers['if-none-match'];
    const entityIdHeader = `${this.api}${t.entitySet}(${rp.keyText})`;
    if (ifMatch) {
      if (!existing) throw rp.key!.kind === 'id' ? notFound(t.logicalName, foundId!) : notFoundByKey(t.logicalName);
      if (ifMatch !== '*' && ifMatch !== `W/"${String(existing.values.versionnumber)}"`) {
        throw new DvError(412, CODES.versionMismatch, "The version of the existing record doesn't match the RowVersion property provided.");
      }
    }
    if (ifNoneMatch === '*' && existing) throw duplicateRecord();
    const rep = prefer.get('return') === 'representation';
    if (existing) {
      const id = foundId!;
      this.store.atomic(() => this.updateRow(t, id, existing, body, req, new Set(Object.keys(keyValues))));
      const path = this.entityPath(t, id);
      if (rep) {
        return {
          status: 200, writes: 1, entityPath: path,
          headers: jsonHeaders({ 'Preference-Applied': 'return=representation', ETag: `W/"${String(this.store.get(t, id)!.values.versionnumber)}"` }),
          body: this.representation(t, id, params, prefer, req, false),
        };
      }
      return { status: 204, writes: 1, entityPath: path, headers: { 'OData-Version': '4.0', 'OData-EntityId': entityIdHeader } };
    }
    if (t.readOnly) throw new DvError(405, CODES.notSupported, `The 'Create' method does not support entities of type '${t.logicalName}'.`);
    const init: { id?: string; keyValues?: Record<string, unknown> } = { keyValues };
    if (rp.key!.kind === 'id' || foundId) init.id = foundId!;
    const id = this.store.atomic(() => this.createRow(t, body, req, init));
    const path = this.entityPath(t, id);
    if (rep) {
      return {
        status: 201, writes: 1, entityPath: path,
        headers: jsonHeaders({ 'Preference-Applied': 'return=representation', ETag: `W/"${String(this.store.get(t, id)!.values.versionnumber)}"` }),
        body: this.representation(t, id, params, prefer, req, false),
      };
    }
    return { status: 204, writes: 1, entityPath: path, headers: { 'OData-Version': '4.0', 'OData-EntityId': entityIdHeader } };
  }

  private deleteRow(t: EmuTable, id: string): void {
    this.store.delete(t, id);
    // Children: activity parties go with their activity; other references are cleared (Remove Link).
    for (const cn of t.collectionNavs.values()) {
      const child = this.schema.tables.get(cn.childTable)!;
      for (const [cid, crow] of [...this.store.table(child.logicalName)]) {
        if (crow.values[lookupKey(cn.childColumn)] !== id) continue;
        if (child.logicalName === 'activityparty') this.store.delete(child, cid);
        else {
          const next: Row = { values: { ...crow.values, [lookupKey(cn.childColumn)]: null, versionnumber: this.store.nextVersion() }, lookupTypes: { ...crow.lookupTypes } };
          delete next.lookupTypes[cn.childColumn];
          this.store.replace(child, cid, next);
        }
      }
    }
  }

  private remove(t: EmuTable, rp: ResourcePath, req: CoreRequest): CoreResponse {
    if (t.readOnly) throw new DvError(405, CODES.notSupported, `The 'Delete' method does not support entities of type '${t.logicalName}'.`);
    const { id, row } = this.getOr404(t, rp);
    const ifMatch = req.headers['if-match'];
    if (ifMatch && ifMatch !== '*' && ifMatch !== `W/"${String(row.values.versionnumber)}"`) {
      throw new DvError(412, CODES.versionMismatch, "The version of the existing record doesn't match the RowVersion property provided.");
    }
    this.store.atomic(() => this.deleteRow(t, id));
    return { status: 204, writes: 1, headers: { 'OData-Version': '4.0' } };
  }

  /** `set(key)/column`, `set(key)/nav`, `set(key)/nav/$ref`. */
  private subResource(t: EmuTable, rp: ResourcePath, method: string, req: CoreRequest, params: URLSearchParams, prefer: Map<string, string>): CoreResponse {
    const [name, ref, ...more] = rp.rest as [string, string | undefined, ...string[]];
    if (more.length) throw new DvError(404, CODES.odata, `Resource not found for the segment '${more[0]}'.`);
    const { id, row } = this.getOr404(t, rp);
    if (ref === '$ref') {
      const sn = t.singleNavs.get(name);
      if (!sn || method !== 'DELETE') throw new DvError(405, CODES.notSupported, `The requested operation on '${name}/$ref' is not supported.`);
      this.store.atomic(() => this.updateRow(t, id, row, { [`${name}@odata.bind`]: null }, req));
      return { status: 204, writes: 1, headers: { 'OData-Version': '4.0' } };
    }
    if (ref !== undefined) throw new DvError(404, CODES.odata, `Resource not found for the segment '${ref}'.`);
    const cn = t.collectionNavs.get(name);
    if (cn && method === 'GET') {
      const child = this.schema.tables.get(cn.childTable)!;
      const o = parseOptions(params.entries());
      const ann = annotationMatcher(prefer.get('odata.include-annotations'));
      let rows = this.select(child, o, (r) => r.values[lookupKey(cn.childColumn)] === id);
      if (o.top !== null) rows = rows.slice(0, o.top);
      return {
        status: 200, writes: 0, headers: jsonHeaders(),
        body: { '@odata.context': `${this.api}$metadata#${child.entitySet}`, value: rows.slice(0, MAX_PAGE).map((r) => this.project(child, r, o, ann, req)) },
      };
    }
    const sn = t.singleNavs.get(name);
    if (sn && method === 'GET') {
      const v = this.expand(t, row, name, parseOptions(params.entries(), true), annotationMatcher(prefer.get('odata.include-annotations')), req);
      if (v === null) return { status: 204, writes: 0, headers: { 'OData-Version': '4.0' } };
      return { status: 200, writes: 0, headers: jsonHeaders(), body: v };
    }
    const c = t.columns.get(name);
    if (!c || c.type === 'lookup') throw new DvError(404, CODES.odata, `Resource not found for the segment '${name}'.`);
    if (method === 'GET') {
      const v = row.values[name] ?? null;
      if (v === null) return { status: 204, writes: 0, headers: { 'OData-Version': '4.0' } };
      return { status: 200, writes: 0, headers: jsonHeaders(), body: { '@odata.context': `${this.api}$metadata#${t.entitySet}(${id})/${name}`, value: v } };
    }
    if (method === 'PUT' || method === 'DELETE') {
      const value = method === 'PUT' ? this.parseBody(req).value : null;
      this.store.atomic(() => this.updateRow(t, id, row, { [name]: value }, req));
      return { status: 204, writes: 1, headers: { 'OData-Version': '4.0' } };
    }
    throw new DvError(405, CODES.notSupported, `The requested method ${method} is not allowed on '${name}'.`);
  }

  // ---------------------------------------------------------------- bulk actions

  private bulk(t: EmuTable, action: string, req: CoreRequest): CoreResponse {
    if (!['CreateMultiple', 'UpdateMultiple', 'UpsertMultiple'].includes(action)) {
      throw new DvError(404, CODES.odata, `Resource not found for the segment 'Microsoft.Dynamics.CRM.${action}'.`);
    }
    const body = this.parseBody(req);
    const targets = body.Targets;
    if (!Array.isArray(targets) || targets.length === 0) throw badRequest(`${action}: 'Targets' must be a non-empty array.`, CODES.invalidArgument);
    const ids: string[] = [];
    this.store.atomic(() => {
      for (const raw of targets as Record<string, unknown>[]) {
        if (raw === null || typeof raw !== 'object') throw badRequest(`${action}: each target must be an object.`);
        const type = raw['@odata.type'];
        if (typeof type !== 'string') throw badRequest(`${action}: '@odata.type' is required on every item of Targets.`, CODES.invalidArgument);
        const { '@odata.id': odataId, ...item } = raw;
        let key: { id: string | null; keyValues: Record<string, unknown> } = { id: null, keyValues: {} };
        let explicitKey = false;
        if (typeof odataId === 'string') {
          const rp = parseResourcePath(decodeURIComponent(odataId.replace(/^.*\/api\/data\/v9\.\d\//, '').replace(/^\//, '')));
          if (rp.segment !== t.entitySet || !rp.key) throw badRequest(`${action}: '@odata.id' '${odataId}' does not address a ${t.logicalName} row.`);
          key = rp.key.kind === 'id' ? { id: rp.key.id, keyValues: {} } : this.resolveKey(t, rp.key);
          explicitKey = true;
        }
        const bodyId = typeof item[t.primaryId] === 'string' ? parseGuid(item[t.primaryId] as string) : null;
        if (!explicitKey && bodyId) { key = { id: bodyId, keyValues: {} }; explicitKey = true; }
        if (!explicitKey && action !== 'CreateMultiple') {
          const ak = t.alternateKeys.find((k) => k.columns.every((c) => item[c] !== undefined));
          if (ak) {
            key = this.resolveKey(t, { kind: 'alt', values: Object.fromEntries(ak.columns.map((c) => [c, item[c] as string])) }, false);
            explicitKey = true;
          }
        }
        const existing = key.id ? this.store.get(t, key.id) : undefined;
        if (action === 'CreateMultiple') {
          ids.push(this.createRow(t, item, req, key.id ? { id: key.id } : {}));
        } else if (existing) {
          this.updateRow(t, key.id!, existing, item, req, new Set(Object.keys(key.keyValues)));
          ids.push(key.id!);
        } else if (action === 'UpdateMultiple') {
          throw key.id ? notFound(t.logicalName, key.id) : badRequest(`UpdateMultiple: every target needs its primary key.`, CODES.invalidArgument);
        } else {
          if (!explicitKey) throw badRequest(`UpsertMultiple: every target needs a key (primary key, alternate key or '@odata.id').`, CODES.invalidArgument);
          const init: { id?: string; keyValues?: Record<string, unknown> } = { keyValues: key.keyValues };
          if (key.id) init.id = key.id;
          ids.push(this.createRow(t, item, req, init));
        }
      }
    });
    if (action === 'CreateMultiple') {
      return {
        status: 200, writes: ids.length, headers: jsonHeaders(),
        body: { '@odata.context': `${this.api}$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse`, Ids: ids },
      };
    }
    return { status: 204, writes: ids.length, headers: { 'OData-Version': '4.0' } };
  }

  // ---------------------------------------------------------------- seeding / inspection

  /** Inserts rows given in Web API body form or stored form (`_x_value`); used by seed(). */
  seedRows(tableOrSet: string, rows: Record<string, unknown>[]): void {
    const t = this.schema.tables.get(tableOrSet) ?? this.schema.bySet.get(tableOrSet);
    if (!t) throw new Error(`seed: unknown table or entity set '${tableOrSet}'`);
    const req: CoreRequest = { method: 'POST', path: '', query: '', headers: {}, body: '' };
    this.store.atomic(() => {
      for (const input of rows) {
        const body: Record<string, unknown> = {};
        const system: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(input)) {
          const lk = /^_(.+)_value$/.exec(k);
          const c = lk ? t.columns.get(lk[1]!) : undefined;
          if (c && lk && v != null) {
            const target = (input[`${k}@Microsoft.Dynamics.CRM.lookuplogicalname`] as string | undefined) ?? c.targets![0]!;
            body[`${c.navByTarget!.get(target)}@odata.bind`] = `/${this.schema.tables.get(target)!.entitySet}(${String(v)})`;
          } else if (k.includes('@Microsoft.Dynamics.CRM.')) continue;
          else if (['createdon', 'modifiedon', 'statecode', 'statuscode'].includes(k)) system[k] = v;
          else body[k] = v;
        }
        const id = this.createRow(t, body, req, { viaParent: true });
        if (Object.keys(system).length) {
          const row = this.store.get(t, id)!;
          const next: Row = { values: { ...row.values }, lookupTypes: { ...row.lookupTypes } };
          for (const [k, v] of Object.entries(system)) {
            next.values[k] = k === 'createdon' || k === 'modifiedon' ? this.validateValue(t, t.columns.get('createdon')!, v) : v;
          }
          if ('statecode' in system && !('statuscode' in system)) next.values.statuscode = t.defaultStatusByState.get(system.statecode as number);
          this.store.replace(t, id, next);
        }
      }
    });
  }

  rows(tableOrSet: string): Record<string, unknown>[] {
    const t = this.schema.tables.get(tableOrSet) ?? this.schema.bySet.get(tableOrSet);
    if (!t) throw new Error(`unknown table or entity set '${tableOrSet}'`);
    return [...this.store.table(t.logicalName).values()].map((r) => ({ ...r.values }));
  }
}
