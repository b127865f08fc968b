import { describe, expect, it } from 'vitest';
import type { DataverseClient, DataverseRow } from '../../service/dataverse/types.js';
import { CrmLookups, odataString } from '../../service/sync/lookups.js';
import { CHANNEL, CONSENT_STATUS, ENTRY_TYPE } from '../../solution/model/index.js';

/** A fake Dataverse that answers queries from in-memory tables and records every query. */
function fakeDataverse(tables: Record<string, DataverseRow[]>, opts: { leadsMissing?: boolean } = {}) {
  const queries: { entitySet: string; query: string; filter: string }[] = [];
  const client: DataverseClient = {
    async execute() {
      throw new Error('not used');
    },
    async query(entitySet, query) {
      const filter = decodeURIComponent(new URLSearchParams(query).get('$filter') ?? '');
      queries.push({ entitySet, query, filter });
      if (entitySet === 'leads' && opts.leadsMissing) throw new Error("Dataverse query leads failed: HTTP 404 0x80060888 Resource not found for the segment 'leads'.");
      const rows = tables[entitySet] ?? [];
      // Just enough OData: `col eq 'x'` / `col eq guid` joined by or / and, case-insensitive like Dataverse.
      const matchOne = (row: DataverseRow, clause: string): boolean => {
        const m = /^\s*(\S+) eq (?:'((?:[^']|'')*)'|(\S+))\s*$/.exec(clause);
        if (!m) throw new Error(`fake cannot parse ${clause}`);
        const want = (m[2] !== undefined ? m[2].replace(/''/g, "'") : m[3]!).toLowerCase();
        return String(row[m[1]!] ?? '').toLowerCase() === want;
      };
      if (!filter) return rows;
      return rows.filter((r) => filter.split(' or ').some((alt) => alt.split(' and ').every((c) => matchOne(r, c))));
    },
    async retrieve(entitySet, id) {
      queries.push({ entitySet, query: `(${id})`, filter: '' });
      const key = entitySet === 'contacts' ? 'contactid' : 'leadid';
      return (tables[entitySet] ?? []).find((r) => r[key] === id) ?? null;
    },
    async checkAuth() {},
  };
  return { client, queries };
}

const CONTACT = { contactid: '00000000-0000-0000-0000-00000000c001', emailaddress1: 'Jane.Doe@Example.com', fullname: 'Jane Doe' };
const LEAD = { leadid: '00000000-0000-0000-0000-00000000d001', emailaddress1: 'jane.doe@example.com', fullname: 'Jane Doe (lead)' };
const QUOTED = { contactid: '00000000-0000-0000-0000-00000000c002', emailaddress1: "o'brien+news@example.com" };

describe('CrmLookups: persons (R8)', () => {
  it('escapes quotes, lower-cases and URL-encodes the address in $filter', async () => {
    const { client, queries } = fakeDataverse({ contacts: [QUOTED] });
    const lookups = new CrmLookups(client);
    const found = await lookups.personsByEmails(["O'Brien+News@example.com"]);
    expect(found.get("o'brien+news@example.com")).toEqual([{ type: 'contact', id: QUOTED.contactid, email: "o'brien+news@example.com", fullName: undefined }]);
    expect(queries[0]?.filter).toBe("emailaddress1 eq 'o''brien+news@example.com'");
    // `+` must travel as %2B, or the server reads a space.
    expect(queries[0]?.query).toContain('%2B');
    expect(queries[0]?.query).not.toContain('+');
    expect(odataString("a'b''c")).toBe("'a''b''''c'");
  });

  it('matches contacts and leads case-insensitively: an address can be both', async () => {
    const { client } = fakeDataverse({ contacts: [CONTACT], leads: [LEAD] });
    const found = await new CrmLookups(client).personsByEmails(['JANE.DOE@example.COM']);
    expect(found.get('jane.doe@example.com')?.map((p) => `${p.type}:${p.id}`)).toEqual([`contact:${CONTACT.contactid}`, `lead:${LEAD.leadid}`]);
  });

  it('asks for many addresses in few queries (chunks joined with or)', async () => {
    const { client, queries } = fakeDataverse({ contacts: [] });
    const emails = Array.from({ length: 31 }, (_, i) => `p${i}@example.com`);
    const found = await new CrmLookups(client, { chunkSize: 15 }).personsByEmails(emails);
    expect(found.size).toBe(31);
    expect(queries.filter((q) => q.entitySet === 'contacts')).toHaveLength(3);
  });

  it('caches a match for the TTL, but a "not found" only for the short negative TTL', async () => {
    let now = 0;
    const tables: Record<string, DataverseRow[]> = { contacts: [CONTACT], leads: [] };
    const { client, queries } = fakeDataverse(tables);
    const lookups = new CrmLookups(client, { now: () => now, ttlMs: 300_000, negativeTtlMs: 10_000 });
    await lookups.personsByEmails(['jane.doe@example.com', 'new@example.com']);
    expect(queries).toHaveLength(2); // contacts + leads
    now = 5_000;
    expect((await lookups.personsByEmails(['new@example.com'])).get('new@example.com')).toEqual([]);
    expect(queries).toHaveLength(2); // both cached
    // The contact is created in CRM; after the negative TTL the service sees it.
    tables.contacts!.push({ contactid: '00000000-0000-0000-0000-00000000c009', emailaddress1: 'new@example.com' });
    now = 10_001;
    expect((await lookups.personsByEmails(['new@example.com'])).get('new@example.com')).toHaveLength(1);
    expect((await lookups.personsByEmails(['jane.doe@example.com'])).get('jane.doe@example.com')).toHaveLength(1);
    expect(queries).toHaveLength(4); // only the formerly unknown address was asked again
  });

  it('fresh (compliance events): a cached address is read again, and the answer refreshes the cache', async () => {
    let now = 0;
    const tables: Record<string, DataverseRow[]> = { contacts: [], leads: [LEAD] };
    const { client, queries } = fakeDataverse(tables);
    const lookups = new CrmLookups(client, { now: () => now, ttlMs: 300_000, negativeTtlMs: 5_000 });
    expect((await lookups.personsByEmails(['jane.doe@example.com'])).get('jane.doe@example.com')).toHaveLength(1);
    // A contact with the already-cached address is created in CRM a minute later.
    tables.contacts!.push(CONTACT);
    now = 60_000;
    expect((await lookups.personsByEmails(['jane.doe@example.com'])).get('jane.doe@example.com')).toHaveLength(1); // cached: opens may use it
    const fresh = await lookups.personsByEmails(['jane.doe@example.com', 'other@example.com'], { fresh: (e) => e === 'jane.doe@example.com' });
    expect(fresh.get('jane.doe@example.com')?.map((p) => p.type)).toEqual(['contact', 'lead']);
    // Fresh and uncached addresses travel in the same chunked query.
    expect(queries.slice(2).map((q) => [q.entitySet, q.filter])).toEqual([
      ['contacts', "emailaddress1 eq 'jane.doe@example.com' or emailaddress1 eq 'other@example.com'"],
      ['leads', "emailaddress1 eq 'jane.doe@example.com' or emailaddress1 eq 'other@example.com'"],
    ]);
    expect((await lookups.personsByEmails(['jane.doe@example.com'])).get('jane.doe@example.com')).toHaveLength(2);
    expect(queries).toHaveLength(4);
    await lookups.personsByEmails(['jane.doe@example.com'], { fresh: true });
    expect(queries).toHaveLength(6);
  });

  it('person by id, fresh: read again even when cached', async () => {
    const tables: Record<string, DataverseRow[]> = { contacts: [{ ...CONTACT }] };
    const { client, queries } = fakeDataverse(tables);
    const lookups = new CrmLookups(client);
    expect(await lookups.personByRef({ type: 'contact', id: CONTACT.contactid })).toMatchObject({ email: 'jane.doe@example.com' });
    tables.contacts![0]!.emailaddress1 = 'jane@new.example.com';
    expect(await lookups.personByRef({ type: 'contact', id: CONTACT.contactid })).toMatchObject({ email: 'jane.doe@example.com' });
    expect(await lookups.personByRef({ type: 'contact', id: CONTACT.contactid }, { fresh: true })).toMatchObject({ email: 'jane@new.example.com' });
    expect(queries).toHaveLength(2);
  });

  it('a failed lookup is not cached', async () => {
    let fail = true;
    const { client } = fakeDataverse({ contacts: [CONTACT], leads: [] });
    const original = client.query.bind(client);
    client.query = async (set, q) => {
      if (fail) throw new Error('HTTP 503');
      return original(set, q);
    };
    const lookups = new CrmLookups(client);
    await expect(lookups.personsByEmails(['jane.doe@example.com'])).rejects.toThrow('503');
    fail = false;
    expect((await lookups.personsByEmails(['jane.doe@example.com'])).get('jane.doe@example.com')).toHaveLength(1);
  });

  it('an org without a Lead table: matching goes on with contacts, reported once', async () => {
    const reasons: string[] = [];
    const { client, queries } = fakeDataverse({ contacts: [CONTACT] }, { leadsMissing: true });
    const lookups = new CrmLookups(client, { onLeadsUnavailable: (r) => reasons.push(r) });
    expect((await lookups.personsByEmails(['jane.doe@example.com'])).get('jane.doe@example.com')).toHaveLength(1);
    await lookups.personsByEmails(['other@example.com']);
    expect(reasons).toHaveLength(1);
    expect(queries.filter((q) => q.entitySet === 'leads')).toHaveLength(1);
  });

  it('person by id: found, cached; a non-GUID id is never sent', async () => {
    const { client, queries } = fakeDataverse({ contacts: [CONTACT] });
    const lookups = new CrmLookups(client);
    expect(await lookups.personByRef({ type: 'contact', id: CONTACT.contactid })).toMatchObject({ id: CONTACT.contactid, email: 'jane.doe@example.com' });
    await lookups.personByRef({ type: 'contact', id: CONTACT.contactid });
    expect(await lookups.personByRef({ type: 'contact', id: "x') or (1 eq 1" })).toBeUndefined();
    expect(queries).toHaveLength(1);
  });
});

describe('CrmLookups: clients, newsletters, mailings', () => {
  const CLIENT_ROW = { crs_campaignclientid: '00000000-0000-0000-0000-0000000000a1', crs_clientid: '1234', crs_name: 'Demo' };
  const NEWSLETTER = { crs_newsletterid: '00000000-0000-0000-0000-0000000000b1', crs_name: 'News', _crs_campaignclientid_value: CLIENT_ROW.crs_campaignclientid, crs_recipientlistid: '5678', crs_channel: CHANNEL.Email };
  const MAILING = { crs_campaignmailingid: '00000000-0000-0000-0000-0000000000e1', crs_name: 'Spring', crs_mailingid: '1001', _crs_campaignclientid_value: CLIENT_ROW.crs_campaignclientid, _crs_campaignid_value: '00000000-0000-0000-0000-0000000000f1', _crs_newsletterid_value: NEWSLETTER.crs_newsletterid };

  it('reads the client table once; an unknown client reloads it only after the negative TTL', async () => {
    let now = 0;
    const tables: Record<string, DataverseRow[]> = { crs_campaignclients: [CLIENT_ROW] };
    const { client, queries } = fakeDataverse(tables);
    const lookups = new CrmLookups(client, { now: () => now, negativeTtlMs: 10_000 });
    expect(await lookups.clientRow('1234')).toEqual({ id: CLIENT_ROW.crs_campaignclientid, clientId: '1234', name: 'Demo' });
    expect(await lookups.clientRow('9999')).toBeUndefined();
    expect(queries).toHaveLength(1);
    tables.crs_campaignclients!.push({ crs_campaignclientid: '00000000-0000-0000-0000-0000000000a2', crs_clientid: '9999' });
    now = 10_001;
    expect(await lookups.clientRow('9999')).toMatchObject({ clientId: '9999' });
    expect(queries).toHaveLength(2);
  });

  it('newsletters carry channel and recipient list; filtered per client', async () => {
    const { client } = fakeDataverse({ crs_newsletters: [NEWSLETTER] });
    const lookups = new CrmLookups(client);
    expect(await lookups.newslettersOfClient(CLIENT_ROW.crs_campaignclientid)).toEqual([
      { id: NEWSLETTER.crs_newsletterid, name: 'News', clientRowId: CLIENT_ROW.crs_campaignclientid, recipientListId: '5678', channel: CHANNEL.Email },
    ]);
    expect(await lookups.newslettersOfClient('00000000-0000-0000-0000-0000000000a9')).toEqual([]);
  });

  it('recheck: the newsletter table is re-read unless it was read within the negative TTL', async () => {
    let now = 0;
    const tables: Record<string, DataverseRow[]> = { crs_newsletters: [NEWSLETTER] };
    const { client, queries } = fakeDataverse(tables);
    const lookups = new CrmLookups(client, { now: () => now, ttlMs: 300_000, negativeTtlMs: 5_000 });
    expect(await lookups.allNewsletters()).toHaveLength(1);
    expect(await lookups.allNewsletters({ recheck: true })).toHaveLength(1); // just read: no second request
    expect(queries).toHaveLength(1);
    // A newsletter for a new recipient list is added in CRM; the cached copy does not have it for 5 min.
    tables.crs_newsletters!.push({ ...NEWSLETTER, crs_newsletterid: '00000000-0000-0000-0000-0000000000b2', crs_recipientlistid: '9999' });
    now = 60_000;
    expect(await lookups.allNewsletters()).toHaveLength(1);
    expect((await lookups.allNewsletters({ recheck: true })).map((n) => n.recipientListId)).toEqual(['5678', '9999']);
    now = 62_000;
    await lookups.allNewsletters({ recheck: true });
    expect(queries).toHaveLength(2);
  });

  it('recheck: a cached campaign mailing older than the negative TTL is read again (its newsletter may have changed)', async () => {
    let now = 0;
    const tables: Record<string, DataverseRow[]> = { crs_campaignmailings: [{ ...MAILING, _crs_newsletterid_value: null }] };
    const { client, queries } = fakeDataverse(tables);
    const lookups = new CrmLookups(client, { now: () => now, ttlMs: 300_000, negativeTtlMs: 5_000 });
    expect(await lookups.campaignMailingOf(CLIENT_ROW.crs_campaignclientid, '1001')).toMatchObject({ newsletterId: undefined });
    tables.crs_campaignmailings![0]!._crs_newsletterid_value = NEWSLETTER.crs_newsletterid;
    now = 3_000;
    expect(await lookups.campaignMailingOf(CLIENT_ROW.crs_campaignclientid, '1001', { recheck: true })).toMatchObject({ newsletterId: undefined });
    expect(queries).toHaveLength(1);
    now = 60_000;
    expect(await lookups.campaignMailingOf(CLIENT_ROW.crs_campaignclientid, '1001')).toMatchObject({ newsletterId: undefined });
    expect(await lookups.campaignMailingOf(CLIENT_ROW.crs_campaignclientid, '1001', { recheck: true })).toMatchObject({ newsletterId: NEWSLETTER.crs_newsletterid });
    expect(await lookups.campaignMailingOf(CLIENT_ROW.crs_campaignclientid, '1001')).toMatchObject({ newsletterId: NEWSLETTER.crs_newsletterid });
    expect(queries).toHaveLength(2);
  });

  it('campaign mailing by client + mailing id; a miss is cached only briefly', async () => {
    let now = 0;
    const tables: Record<string, DataverseRow[]> = { crs_campaignmailings: [MAILING] };
    const { client, queries } = fakeDataverse(tables);
    const lookups = new CrmLookups(client, { now: () => now, negativeTtlMs: 10_000 });
    expect(await lookups.campaignMailingOf(CLIENT_ROW.crs_campaignclientid, '1001')).toEqual({
      id: MAILING.crs_campaignmailingid, mailingId: '1001', clientRowId: CLIENT_ROW.crs_campaignclientid, name: 'Spring',
      campaignId: MAILING._crs_campaignid_value, newsletterId: NEWSLETTER.crs_newsletterid,
    });
    expect(queries[0]?.filter).toBe(`_crs_campaignclientid_value eq ${CLIENT_ROW.crs_campaignclientid} and crs_mailingid eq '1001'`);
    expect(await lookups.campaignMailingOf(CLIENT_ROW.crs_campaignclientid, '1002')).toBeUndefined();
    tables.crs_campaignmailings!.push({ ...MAILING, crs_campaignmailingid: '00000000-0000-0000-0000-0000000000e2', crs_mailingid: '1002' });
    now = 9_000;
    expect(await lookups.campaignMailingOf(CLIENT_ROW.crs_campaignclientid, '1002')).toBeUndefined();
    now = 10_001;
    expect(await lookups.campaignMailingOf(CLIENT_ROW.crs_campaignclientid, '1002')).toMatchObject({ mailingId: '1002' });
  });
});

describe('CrmLookups: consents and responses are read fresh', () => {
  it('returns consents with their whole history (anyone’s entries) and etags', async () => {
    const consent = {
      crs_advertisingconsentid: '00000000-0000-0000-0000-0000000000c1', _crs_contactid_value: CONTACT.contactid, _crs_leadid_value: null,
      _crs_newsletterid_value: '00000000-0000-0000-0000-0000000000b1', crs_status: CONSENT_STATUS.OptedOut, crs_statuschangedon: '2026-09-18T17:40:00Z',
      crs_outbounce: false, crs_outbounceon: null, '@odata.etag': 'W/"42"',
    };
    const entries = [
      { crs_optinhistoryid: '00000000-0000-0000-0000-0000000000h1', _crs_advertisingconsentid_value: consent.crs_advertisingconsentid, crs_entrytype: ENTRY_TYPE.OptIn, crs_occurredon: '2026-01-01T00:00:00Z' },
      { crs_optinhistoryid: '00000000-0000-0000-0000-0000000000h2', _crs_advertisingconsentid_value: consent.crs_advertisingconsentid, crs_entrytype: ENTRY_TYPE.OptOut, crs_occurredon: '2026-09-18T17:40:00Z' },
    ];
    const { client, queries } = fakeDataverse({ crs_advertisingconsents: [consent], crs_optinhistories: entries });
    const lookups = new CrmLookups(client);
    const read = async () => lookups.consentsOf([{ type: 'contact', id: CONTACT.contactid }]);
    expect(await read()).toEqual([{
      id: consent.crs_advertisingconsentid, newsletterId: consent._crs_newsletterid_value, person: { type: 'contact', id: CONTACT.contactid },
      status: 'optout', statusChangedOn: '2026-09-18T17:40:00Z', outbounce: false, outbounceOn: undefined, etag: 'W/"42"',
      history: [
        { id: entries[0]!.crs_optinhistoryid, entryType: 'optin', occurredOn: '2026-01-01T00:00:00Z' },
        { id: entries[1]!.crs_optinhistoryid, entryType: 'optout', occurredOn: '2026-09-18T17:40:00Z' },
      ],
    }]);
    await read();
    expect(queries).toHaveLength(4); // never cached
    expect(queries[0]?.filter).toBe(`_crs_contactid_value eq ${CONTACT.contactid}`);
  });

  it('responses by id', async () => {
    const row = { activityid: '00000000-0000-0000-0000-0000000000f9', crs_eventcount: 2, receivedon: '2026-11-01T00:00:00Z', crs_lastoccurredon: '2026-11-02T00:00:00Z', '@odata.etag': 'W/"5"' };
    const { client } = fakeDataverse({ campaignresponses: [row] });
    expect(await new CrmLookups(client).responsesByIds([row.activityid.toUpperCase(), '00000000-0000-0000-0000-0000000000f8'])).toEqual([
      { id: row.activityid, eventCount: 2, receivedOn: '2026-11-01T00:00:00Z', lastOccurredOn: '2026-11-02T00:00:00Z', etag: 'W/"5"' },
    ]);
  });
});
