/**
 * CRM lookups the worker needs to build facts: persons by email or id, campaign mailings,
 * newsletters and clients (cached), and — always fresh — consents with their history and the
 * service's own campaign responses.
 *
 * Cache rule: a found row is kept for `ttlMs` (default 5 min); a "not found" only for
 * `negativeTtlMs` (default 5 s), so a contact, client or mailing created in CRM is seen soon.
 * Compliance events bypass the positive cache where a stale row would misdirect or miss an opt-out:
 * persons are read `fresh`; the newsletter table and a mailing row are re-read (`recheck`) unless
 * they were read within the negative TTL.
 */
import type { DataverseClient, DataverseRow } from '../dataverse/types.js';
import type { CrmEntityType } from '../events.js';
import type { EntryType } from '../consent/state.js';
import {
  advertisingConsent, campaignClient, campaignMailing, campaignResponse, CONSENT_STATUS, contact, ENTRY_TYPE, lead, newsletter,
  optInHistory,
} from '../../solution/model/index.js';
import type { ClientRow, ConsentRow, HistoryEntryRow, MailingRow, NewsletterRow, Person, PersonRef, ResponseRow } from './facts.js';

export interface LookupOptions {
  ttlMs?: number;
  negativeTtlMs?: number;
  /** Values per `or` query (keeps URLs short). */
  chunkSize?: number;
  now?: () => number;
  /** Called once when the org turns out to have no Lead table. */
  onLeadsUnavailable?: (reason: string) => void;
}

/** OData string literal: single quotes doubled (Dataverse compares strings case-insensitively). */
export function odataString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export function isGuid(value: string): boolean {
  return GUID.test(value);
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

function query(select: string[], filter?: string): string {
  const parts = [`$select=${select.join(',')}`];
  if (filter) parts.push(`$filter=${encodeURIComponent(filter)}`);
  return parts.join('&');
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const lower = (v: unknown): string | undefined => str(v)?.toLowerCase();
const etagOf = (row: DataverseRow): string | undefined => str(row['@odata.etag']);
const entryTypeOf = (v: unknown): EntryType | undefined =>
  v === ENTRY_TYPE.OptIn || v === CONSENT_STATUS.OptedIn ? 'optin' : v === ENTRY_TYPE.OptOut || v === CONSENT_STATUS.OptedOut ? 'optout' : undefined;

interface CacheEntry<T> {
  value: Promise<T>;
  loadedAt: number;
  expiresAt: number;
}

/** `fresh`: read now, whatever is cached. `recheck`: reuse only a copy read within the negative TTL. */
export interface ReadOptions {
  fresh?: boolean;
  recheck?: boolean;
}

/** A small TTL cache of promises (concurrent lookups of one key share one request). */
class TtlCache<T> {
  private readonly entries = new Map<string, CacheEntry<T>>();
  constructor(
    private readonly ttlMs: number,
    private readonly negativeTtlMs: number,
    private readonly now: () => number,
    private readonly isNegative: (value: T) => boolean,
  ) {}

  /** The cached promise when it is still fresh (and, with `recheck`, read within the negative TTL). */
  peek(key: string, read: ReadOptions = {}): Promise<T> | undefined {
    if (read.fresh) return undefined;
    const hit = this.entries.get(key);
    const now = this.now();
    if (!hit || hit.expiresAt <= now) return undefined;
    return read.recheck && now - hit.loadedAt > this.negativeTtlMs ? undefined : hit.value;
  }

  /** Caches a pending value; a negative answer expires after the negative TTL, a failure at once. */
  put(key: string, value: Promise<T>): Promise<T> {
    const now = this.now();
    const entry: CacheEntry<T> = { value, loadedAt: now, expiresAt: now + this.ttlMs };
    this.entries.set(key, entry);
    value.then(
      (v) => {
        if (this.isNegative(v)) entry.expiresAt = Math.min(entry.expiresAt, this.now() + this.negativeTtlMs);
      },
      () => {
        if (this.entries.get(key) === entry) this.entries.delete(key);
      },
    );
    if (this.entries.size > 50_000) this.entries.delete(this.entries.keys().next().value as string);
    return value;
  }

  get(key: string, load: () => Promise<T>, read: ReadOptions = {}): Promise<T> {
    return this.peek(key, read) ?? this.put(key, load());
  }

  clear(): void {
    this.entries.clear();
  }
}

/**
 * A small table cached whole; a miss — nothing picked, or `complete` says a wanted row is not there —
 * reloads it once the copy is older than the negative TTL.
 */
class TableCache<R> {
  private copy?: { rows: Promise<R[]>; loadedAt: number };
  constructor(
    private readonly load: () => Promise<R[]>,
    private readonly ttlMs: number,
    private readonly negativeTtlMs: number,
    private readonly now: () => number,
  ) {}

  private reload(): { rows: Promise<R[]>; loadedAt: number } {
    const copy = { rows: this.load(), loadedAt: this.now() };
    this.copy = copy;
    copy.rows.catch(() => {
      if (this.copy === copy) this.copy = undefined;
    });
    return copy;
  }

  async find(pick: (rows: R[]) => R[], complete: (picked: R[]) => boolean = (picked) => picked.length > 0): Promise<R[]> {
    const copy = this.copy && this.now() - this.copy.loadedAt <= this.ttlMs ? this.copy : this.reload();
    const picked = pick(await copy.rows);
    if (!complete(picked) && this.now() - copy.loadedAt > this.negativeTtlMs) return pick(await this.reload().rows);
    return picked;
  }

  clear(): void {
    this.copy = undefined;
  }
}

export class CrmLookups {
  private readonly ttlMs: number;
  private readonly negativeTtlMs: number;
  private readonly chunkSize: number;
  private readonly now: () => number;
  private leadsAvailable = true;
  private readonly personsByEmail: TtlCache<Person[]>;
  private readonly personById: TtlCache<Person | null>;
  private readonly mailings: TtlCache<MailingRow | null>;
  private readonly clientsTable: TableCache<ClientRow>;
  private readonly newslettersTable: TableCache<NewsletterRow>;

  constructor(private readonly client: DataverseClient, private readonly options: LookupOptions = {}) {
    this.ttlMs = options.ttlMs ?? 5 * 60_000;
    this.negativeTtlMs = options.negativeTtlMs ?? 5_000;
    this.chunkSize = options.chunkSize ?? 40;
    this.now = options.now ?? Date.now;
    this.personsByEmail = new TtlCache(this.ttlMs, this.negativeTtlMs, this.now, (v) => v.length === 0);
    this.personById = new TtlCache(this.ttlMs, this.negativeTtlMs, this.now, (v) => v === null);
    this.mailings = new TtlCache(this.ttlMs, this.negativeTtlMs, this.now, (v) => v === null);
    this.clientsTable = new TableCache(() => this.loadClients(), this.ttlMs, this.negativeTtlMs, this.now);
    this.newslettersTable = new TableCache(() => this.loadNewsletters(), this.ttlMs, this.negativeTtlMs, this.now);
  }

  /** Drops every cached row (e.g. after Dataverse answered 404 for a row we thought existed). */
  invalidate(): void {
    this.personsByEmail.clear();
    this.personById.clear();
    this.mailings.clear();
    this.clientsTable.clear();
    this.newslettersTable.clear();
  }

  // ---- small tables, cached whole --------------------------------------------------------------

  private async loadClients(): Promise<ClientRow[]> {
    const rows = await this.client.query(campaignClient.entitySetName, query(['crs_campaignclientid', 'crs_clientid', 'crs_name']));
    return rows.flatMap((r) => {
      const id = lower(r.crs_campaignclientid);
      const clientId = str(r.crs_clientid)?.trim();
      return id && clientId ? [{ id, clientId, name: str(r.crs_name) }] : [];
    });
  }

  private async loadNewsletters(): Promise<NewsletterRow[]> {
    const rows = await this.client.query(newsletter.entitySetName,
      query(['crs_newsletterid', 'crs_name', '_crs_campaignclientid_value', 'crs_recipientlistid', 'crs_channel']));
    return rows.flatMap((r) => {
      const id = lower(r.crs_newsletterid);
      if (!id) return [];
      return [{
        id, name: str(r.crs_name) ?? 'Newsletter', clientRowId: lower(r._crs_campaignclientid_value) ?? '',
        recipientListId: str(r.crs_recipientlistid)?.trim(), channel: typeof r.crs_channel === 'number' ? r.crs_channel : -1,
      }];
    });
  }

  async clientRow(clientId: string): Promise<ClientRow | undefined> {
    const rows = await this.clientsTable.find((all) => all.filter((c) => c.clientId === clientId));
    return rows[0];
  }

  /**
   * Every newsletter. With `recheck` the table is re-read unless it was read within the negative TTL:
   * the worker asks so when a newsletter an event names (by recipient list or mailing) is not in the
   * cached copy, or the event would fall back to every newsletter of its client (R3), since a stale
   * copy would send the opt-out to the wrong newsletters.
   */
  async allNewsletters(read: Pick<ReadOptions, 'recheck'> = {}): Promise<NewsletterRow[]> {
    return this.newslettersTable.find((all) => all, (all) => all.length > 0 && !read.recheck);
  }

  async newslettersOfClient(clientRowId: string): Promise<NewsletterRow[]> {
    const id = clientRowId.toLowerCase();
    return this.newslettersTable.find((all) => all.filter((n) => n.clientRowId === id));
  }

  // ---- campaign mailings ----------------------------------------------------------------------

  /** With `recheck` a cached row older than the negative TTL is read again (its newsletter may have changed). */
  async campaignMailingOf(clientRowId: string, mailingId: string, read: Pick<ReadOptions, 'recheck'> = {}): Promise<MailingRow | undefined> {
    const key = `${clientRowId.toLowerCase()}|${mailingId}`;
    const row = await this.mailings.get(key, async () => {
      const rows = await this.client.query(campaignMailing.entitySetName, query(
        ['crs_campaignmailingid', 'crs_name', 'crs_mailingid', '_crs_campaignclientid_value', '_crs_campaignid_value', '_crs_newsletterid_value'],
        `_crs_campaignclientid_value eq ${clientRowId} and crs_mailingid eq ${odataString(mailingId)}`,
      ), { maxRows: 1 });
      const r = rows[0];
      const id = r && lower(r.crs_campaignmailingid);
      const campaignId = r && lower(r._crs_campaignid_value);
      if (!r || !id || !campaignId) return null; // a mailing without a campaign cannot be responded to
      return {
        id, mailingId, clientRowId: clientRowId.toLowerCase(), name: str(r.crs_name), campaignId,
        newsletterId: lower(r._crs_newsletterid_value),
      };
    }, read);
    return row ?? undefined;
  }

  // ---- persons ------------------------------------------------------------------------------------

  /**
   * R8: contacts and leads whose emailaddress1 equals the address (case-insensitive), per address.
   * `fresh` (all addresses, or those it returns true for: compliance events') reads them now and
   * refreshes the cache with the answer; fresh and uncached addresses share the chunked queries.
   */
  async personsByEmails(emails: string[], read: { fresh?: boolean | ((email: string) => boolean) } = {}): Promise<Map<string, Person[]>> {
    const wanted = [...new Set(emails.map((e) => e.trim().toLowerCase()).filter(Boolean))];
    const result = new Map<string, Person[]>();
    const waits: Promise<void>[] = [];
    const toLoad: string[] = [];
    for (const email of wanted) {
      const fresh = typeof read.fresh === 'function' ? read.fresh(email) : read.fresh === true;
      const cached = this.personsByEmail.peek(email, { fresh });
      if (cached) waits.push(cached.then((persons) => void result.set(email, persons)));
      else toLoad.push(email);
    }
    for (const chunk of chunks(toLoad, this.chunkSize)) {
      const loading = this.loadPersons(chunk);
      for (const email of chunk) {
        const persons = this.personsByEmail.put(email, loading.then((m) => m.get(email) ?? []));
        waits.push(persons.then((p) => void result.set(email, p)));
      }
    }
    await Promise.all(waits);
    return result;
  }

  private async loadPersons(emails: string[]): Promise<Map<string, Person[]>> {
    // Dataverse compares strings case-insensitively; the addresses are lower-cased anyway.
    const filter = emails.map((e) => `emailaddress1 eq ${odataString(e)}`).join(' or ');
    const found = new Map<string, Person[]>();
    const collect = (type: CrmEntityType, rows: DataverseRow[]) => {
      for (const row of rows) {
        const person = toPerson(type, row);
        if (!person?.email) continue;
        found.set(person.email, [...(found.get(person.email) ?? []), person]);
      }
    };
    // Contacts and leads are asked in the same tick, so the client sends them as one $batch (one request).
    const contacts = this.client.query(contact.entitySetName, query(['contactid', 'emailaddress1', 'fullname'], filter));
    const leads = this.leadsAvailable
      ? this.client.query(lead.entitySetName, query(['leadid', 'emailaddress1', 'fullname'], filter)).catch((error: unknown) => {
        // Lead is optional (some orgs have no Lead table): a 404 for the entity set switches leads off.
        if (!/HTTP 404/.test((error as Error).message)) throw error;
        if (this.leadsAvailable) {
          this.leadsAvailable = false;
          this.options.onLeadsUnavailable?.((error as Error).message);
        }
        return [] as DataverseRow[];
      })
      : Promise.resolve([] as DataverseRow[]);
    const [contactRows, leadRows] = await Promise.all([contacts, leads]);
    collect('contact', contactRows);
    collect('lead', leadRows);
    return found;
  }

  async personByRef(ref: PersonRef, read: Pick<ReadOptions, 'fresh'> = {}): Promise<Person | undefined> {
    if (!isGuid(ref.id)) return undefined;
    if (ref.type === 'lead' && !this.leadsAvailable) return undefined;
    const key = `${ref.type}:${ref.id.toLowerCase()}`;
    const person = await this.personById.get(key, async () => {
      const table = ref.type === 'contact' ? contact : lead;
      const row = await this.client.retrieve(table.entitySetName, ref.id, [table.primaryIdAttribute, 'emailaddress1', 'fullname']);
      return row ? toPerson(ref.type, row) ?? null : null;
    }, read);
    return person ?? undefined;
  }

  // ---- fresh reads --------------------------------------------------------------------------------

  /** Every consent of these persons, each with its whole opt-in history. */
  async consentsOf(persons: PersonRef[]): Promise<ConsentRow[]> {
    const unique = [...new Map(persons.filter((p) => isGuid(p.id)).map((p) => [`${p.type}:${p.id.toLowerCase()}`, p])).values()];
    const consents: ConsentRow[] = [];
    // Every chunk in the same tick: the client sends them as one $batch.
    const consentPages = await Promise.all(chunks(unique, this.chunkSize).map((chunk) => this.client.query(advertisingConsent.entitySetName, query(
      ['crs_advertisingconsentid', '_crs_contactid_value', '_crs_leadid_value', '_crs_newsletterid_value', 'crs_status',
        'crs_statuschangedon', 'crs_outbounce', 'crs_outbounceon'],
      chunk.map((p) => `_crs_${p.type}id_value eq ${p.id}`).join(' or '),
    ))));
    for (const rows of consentPages) {
      for (const r of rows) {
        const id = lower(r.crs_advertisingconsentid);
        const contactId = lower(r._crs_contactid_value);
        const leadId = lower(r._crs_leadid_value);
        const newsletterId = lower(r._crs_newsletterid_value);
        if (!id || !newsletterId || (!contactId && !leadId)) continue;
        consents.push({
          id, newsletterId,
          person: contactId ? { type: 'contact', id: contactId } : { type: 'lead', id: leadId as string },
          status: entryTypeOf(r.crs_status), statusChangedOn: str(r.crs_statuschangedon),
          outbounce: r.crs_outbounce === true, outbounceOn: str(r.crs_outbounceon), etag: etagOf(r), history: [],
        });
      }
    }
    const byId = new Map(consents.map((c) => [c.id, c]));
    // The history needs the consent ids: a second stage, again every chunk in one tick.
    const historyPages = await Promise.all(chunks(consents, this.chunkSize).map((chunk) => this.client.query(optInHistory.entitySetName, query(
      ['crs_optinhistoryid', '_crs_advertisingconsentid_value', 'crs_entrytype', 'crs_occurredon'],
      chunk.map((c) => `_crs_advertisingconsentid_value eq ${c.id}`).join(' or '),
    ))));
    for (const rows of historyPages) {
      for (const r of rows) {
        const id = lower(r.crs_optinhistoryid);
        const consent = byId.get(lower(r._crs_advertisingconsentid_value) ?? '');
        const entryType = entryTypeOf(r.crs_entrytype);
        const occurredOn = str(r.crs_occurredon);
        if (!id || !consent || !entryType || !occurredOn) continue;
        consent.history.push({ id, entryType, occurredOn } satisfies HistoryEntryRow);
      }
    }
    return consents;
  }

  /** The service's campaign responses with these ids (R10 state). */
  async responsesByIds(ids: string[]): Promise<ResponseRow[]> {
    const unique = [...new Set(ids.map((i) => i.toLowerCase()))].filter(isGuid);
    const out: ResponseRow[] = [];
    const pages = await Promise.all(chunks(unique, this.chunkSize).map((chunk) => this.client.query(campaignResponse.entitySetName, query(
      ['activityid', 'crs_eventcount', 'receivedon', 'crs_lastoccurredon'], chunk.map((id) => `activityid eq ${id}`).join(' or '),
    ))));
    for (const rows of pages) {
      for (const r of rows) {
        const id = lower(r.activityid);
        if (!id) continue;
        out.push({
          id, eventCount: typeof r.crs_eventcount === 'number' ? r.crs_eventcount : undefined,
          receivedOn: str(r.receivedon), lastOccurredOn: str(r.crs_lastoccurredon), etag: etagOf(r),
        });
      }
    }
    return out;
  }
}

/** What the worker uses of the lookups (tests substitute their own). */
export type SyncLookups = Pick<CrmLookups,
  'personsByEmails' | 'personByRef' | 'clientRow' | 'allNewsletters' | 'campaignMailingOf' | 'consentsOf' | 'responsesByIds' | 'invalidate'>;

function toPerson(type: CrmEntityType, row: DataverseRow): Person | undefined {
  const id = lower(row[type === 'contact' ? 'contactid' : 'leadid']);
  if (!id) return undefined;
  return { type, id, email: lower(row.emailaddress1)?.trim(), fullName: str(row.fullname) };
}
