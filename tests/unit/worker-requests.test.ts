/**
 * How many Dataverse requests one worker round costs. The fake client coalesces GETs the way
 * HttpDataverseClient does (every GET issued before the next `setImmediate` travels in one
 * `$batch`, one request against service protection), so a lookup issued in a later tick than its
 * independent siblings shows up here as an extra request.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DataverseClient, DataverseOp, DataverseRow } from '../../service/dataverse/types.js';
import type { NormalizedEvent } from '../../service/events.js';
import { openStore } from '../../service/store/index.js';
import type { EventStore } from '../../service/store/types.js';
import { CrmLookups } from '../../service/sync/lookups.js';
import { SyncWorker } from '../../service/sync/worker.js';
import { CHANNEL, CONSENT_STATUS, ENTRY_TYPE } from '../../solution/model/index.js';

const guid = (prefix: string, n: number) => `00000000-0000-0000-${prefix}-${String(n).padStart(12, '0')}`;
const CLIENT_ROW = { crs_campaignclientid: guid('000a', 1), crs_clientid: '1234', crs_name: 'Demo' };
const NEWSLETTER = { crs_newsletterid: guid('000b', 1), crs_name: 'News', _crs_campaignclientid_value: CLIENT_ROW.crs_campaignclientid, crs_recipientlistid: '5678', crs_channel: CHANNEL.Email };
const MAILING = {
  crs_campaignmailingid: guid('000e', 1), crs_name: 'Spring', crs_mailingid: '1001', _crs_campaignclientid_value: CLIENT_ROW.crs_campaignclientid,
  _crs_campaignid_value: guid('000f', 1), _crs_newsletterid_value: NEWSLETTER.crs_newsletterid,
};
const PEOPLE = 60;
const email = (n: number) => `person${n}@example.com`;

function tables(): Record<string, DataverseRow[]> {
  const contacts = Array.from({ length: PEOPLE }, (_, n) => ({ contactid: guid('000c', n), emailaddress1: email(n), fullname: `Person ${n}` }));
  // Every fifth person already has a consent with one opt-in entry (so the history stage has work).
  const consents = contacts.filter((_, n) => n % 5 === 0).map((c, k) => ({
    crs_advertisingconsentid: guid('00ac', k), _crs_contactid_value: c.contactid, _crs_newsletterid_value: NEWSLETTER.crs_newsletterid,
    crs_status: CONSENT_STATUS.OptedIn, crs_statuschangedon: '2026-01-01T00:00:00Z', crs_outbounce: false, '@odata.etag': 'W/"1"',
  }));
  const history = consents.map((c, k) => ({
    crs_optinhistoryid: guid('00a1', k), _crs_advertisingconsentid_value: c.crs_advertisingconsentid, crs_entrytype: ENTRY_TYPE.OptIn, crs_occurredon: '2026-01-01T00:00:00Z',
  }));
  return {
    contacts, leads: [], crs_campaignclients: [CLIENT_ROW], crs_newsletters: [NEWSLETTER], crs_campaignmailings: [MAILING],
    crs_advertisingconsents: consents, crs_optinhistories: history, campaignresponses: [],
  };
}

/** Just enough OData `$filter`: `col eq 'x'` / `col eq guid`, joined by `or` / `and`, case-insensitive. */
function matches(row: DataverseRow, filter: string): boolean {
  const one = (clause: string): boolean => {
    const m = /^\s*(\S+) eq (?:'((?:[^']|'')*)'|(\S+))\s*$/.exec(clause);
    if (!m) throw new Error(`fake cannot parse ${clause}`);
    const want = (m[2] !== undefined ? m[2].replace(/''/g, "'") : m[3]!).toLowerCase();
    return String(row[m[1]!] ?? '').toLowerCase() === want;
  };
  return !filter || filter.split(' or ').some((alt) => alt.split(' and ').every(one));
}

/** A Dataverse fake that coalesces GETs per tick like HttpDataverseClient and counts requests. */
function coalescingDataverse(data: Record<string, DataverseRow[]>) {
  const readRequests: string[][] = [];
  const writeRequests: DataverseOp[][] = [];
  let pending: { entitySet: string; answer: () => void }[] = [];
  const enqueue = <T>(entitySet: string, compute: () => T): Promise<T> => new Promise<T>((resolve) => {
    if (pending.length === 0) {
      setImmediate(() => {
        const flushed = pending;
        pending = [];
        readRequests.push(flushed.map((p) => p.entitySet).sort());
        for (const p of flushed) p.answer();
      });
    }
    pending.push({ entitySet, answer: () => resolve(compute()) });
  });
  const client: DataverseClient = {
    async execute(ops) {
      writeRequests.push(ops);
      return ops.map((op) => ({ op, status: 204, ok: true, ...(op.method === 'create' ? { existed: false } : {}) }));
    },
    query(entitySet, query) {
      const filter = decodeURIComponent(new URLSearchParams(query).get('$filter') ?? '');
      return enqueue(entitySet, () => (data[entitySet] ?? []).filter((r) => matches(r, filter)));
    },
    retrieve(entitySet, id) {
      const key = entitySet === 'contacts' ? 'contactid' : 'leadid';
      return enqueue(entitySet, () => (data[entitySet] ?? []).find((r) => r[key] === id) ?? null);
    },
    async checkAuth() {},
  };
  return { client, readRequests, writeRequests };
}

const tablesOf = (request: string[]) => [...new Set(request)];

let seq = 0;
function ev(partial: Partial<NormalizedEvent> & Pick<NormalizedEvent, 'type'>): NormalizedEvent {
  seq += 1;
  return { key: `nk:rq${seq}`, clientId: '1234', mailingId: '1001', occurredAt: `2026-11-20T10:${String(seq % 60).padStart(2, '0')}:00Z`, origin: 'webhook', ...partial };
}

/** A round like the steady bench's (more unsubscribes): opens, clicks and unsubscribes of one mailing over 60 people. */
function roundOfEvents(): NormalizedEvent[] {
  return Array.from({ length: PEOPLE }, (_, n) => (n % 4 === 0
    ? ev({ type: 'unsubscribe', email: email(n), recipientListId: '5678' })
    : n % 10 === 1 ? ev({ type: 'click', email: email(n), linkUrl: `https://example.com/offer/${n}` }) : ev({ type: 'open', email: email(n) })));
}

describe('Dataverse requests per worker round (GETs of one tick = one $batch)', () => {
  let store: EventStore;
  beforeEach(async () => {
    store = await openStore('sqlite::memory:');
  });
  afterEach(async () => {
    await store.close();
  });
  const append = (events: NormalizedEvent[]) => store.append(events.map((e) => ({ clientId: e.clientId, raw: JSON.stringify(e), normalized: e })));

  it('a cold round: independent lookups in one request, then mailings, then consents + responses, then history; one execute', async () => {
    const { client, readRequests, writeRequests } = coalescingDataverse(tables());
    // chunkSize 10: every lookup has several chunks, and they must travel together too.
    const worker = new SyncWorker({
      store, dataverse: client, lookups: new CrmLookups(client, { chunkSize: 10 }), plan: { granularity: 'aggregate', spamComplaintOptOut: true }, bounceLimits: { hard: 3, soft: 5 },
    });
    await append(roundOfEvents());
    const round = await worker.runOnce();
    expect(round.leased).toBe(PEOPLE);
    expect(round.outcomes.every((o) => o.state === 'applied')).toBe(true);
    expect(readRequests.map(tablesOf)).toEqual([
      ['contacts', 'crs_campaignclients', 'crs_newsletters', 'leads'],
      ['crs_campaignmailings'],
      ['campaignresponses', 'crs_advertisingconsents'],
      ['crs_optinhistories'],
    ]);
    expect(readRequests[0]!.filter((t) => t === 'contacts')).toHaveLength(6); // 60 addresses in chunks of 10
    expect(readRequests[2]!.filter((t) => t === 'campaignresponses')).toHaveLength(6); // 60 responses (unsubscribes respond too, R1)
    expect(readRequests[2]!.filter((t) => t === 'crs_advertisingconsents')).toHaveLength(2); // 15 persons
    expect(writeRequests).toHaveLength(1);
  });

  it('a warm round of opens and clicks (cached persons, client, mailing) costs one read: the responses', async () => {
    const { client, readRequests, writeRequests } = coalescingDataverse(tables());
    const worker = new SyncWorker({
      store, dataverse: client, lookups: new CrmLookups(client, { chunkSize: 10 }), plan: { granularity: 'aggregate', spamComplaintOptOut: true }, bounceLimits: { hard: 3, soft: 5 },
    });
    const opensAndClicks = () => roundOfEvents().filter((e) => e.type !== 'unsubscribe');
    await append(opensAndClicks());
    await worker.runOnce();
    readRequests.length = 0;
    writeRequests.length = 0;
    await append(opensAndClicks());
    const round = await worker.runOnce();
    expect(round.outcomes.every((o) => o.state === 'applied')).toBe(true);
    expect(readRequests.map(tablesOf)).toEqual([['campaignresponses']]); // no consent event: no consents, no history
    expect(writeRequests).toHaveLength(1);
  });

  it('a warm round with compliance events adds one read: their persons are read fresh (never from the cache), in one request', async () => {
    const { client, readRequests, writeRequests } = coalescingDataverse(tables());
    const worker = new SyncWorker({
      store, dataverse: client, lookups: new CrmLookups(client, { chunkSize: 10 }), plan: { granularity: 'aggregate', spamComplaintOptOut: true }, bounceLimits: { hard: 3, soft: 5 },
    });
    await append(roundOfEvents());
    await worker.runOnce();
    readRequests.length = 0;
    writeRequests.length = 0;
    await append(roundOfEvents());
    const round = await worker.runOnce();
    expect(round.outcomes.every((o) => o.state === 'applied')).toBe(true);
    expect(readRequests.map(tablesOf)).toEqual([['contacts', 'leads'], ['campaignresponses', 'crs_advertisingconsents'], ['crs_optinhistories']]);
    expect(readRequests[0]!.filter((t) => t === 'contacts')).toHaveLength(2); // the 15 unsubscribing addresses only
    expect(writeRequests).toHaveLength(1);
  });
});
