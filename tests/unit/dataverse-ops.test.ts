import { describe, expect, it } from 'vitest';
import {
  boundRowKeys,
  dependencyGroups,
  invalidOpReason,
  isTransientStatus,
  packBatches,
  requestForOp,
  resultFromPart,
  targetBatchSize,
} from '../../service/dataverse/ops.js';
import type { DataverseOp } from '../../service/dataverse/types.js';

const ID1 = '11111111-1111-1111-1111-111111111111';
const ID2 = '22222222-2222-2222-2222-222222222222';
const ID3 = '33333333-3333-3333-3333-333333333333';

const create = (entitySet: string, id: string, body: Record<string, unknown> = {}): DataverseOp => ({ method: 'create', entitySet, id, body });
const update = (entitySet: string, id: string, body: Record<string, unknown> = {}, ifMatch?: string): DataverseOp => ({ method: 'update', entitySet, id, body, ...(ifMatch ? { ifMatch } : {}) });
const errorBody = (code: string, message = 'x') => JSON.stringify({ error: { code, message } });

describe('requestForOp', () => {
  it('create = POST to the entity set with the deterministic id in the primary key column', () => {
    expect(requestForOp(create('campaignresponses', ID1, { subject: 'Open: x' }))).toEqual({
      method: 'POST', path: '/api/data/v9.2/campaignresponses', body: { subject: 'Open: x', activityid: ID1 },
    });
    expect(requestForOp(create('crs_optinhistories', ID2)).body).toEqual({ crs_optinhistoryid: ID2 });
  });
  it('update = PATCH with If-Match (the ETag, else *), so it never creates', () => {
    expect(requestForOp(update('crs_advertisingconsents', ID1, { crs_status: 1 }))).toEqual({
      method: 'PATCH', path: `/api/data/v9.2/crs_advertisingconsents(${ID1})`, headers: { 'If-Match': '*' }, body: { crs_status: 1 },
    });
    expect(requestForOp(update('contacts', ID1, {}, 'W/"7"')).headers).toEqual({ 'If-Match': 'W/"7"' });
  });
  it('upsert = PATCH without conditions', () => {
    const req = requestForOp({ method: 'upsert', entitySet: 'contacts', id: ID1, body: { donotbulkemail: true } });
    expect(req.method).toBe('PATCH');
    expect(req.headers).toBeUndefined();
  });
});

describe('invalidOpReason', () => {
  it.each([
    [create('campaignresponses', ID1), undefined],
    [create('campaignresponses', 'not-a-guid'), /not a GUID/],
    [create('nosuchset', ID1), /not in the schema model/],
    [update('nosuchset', ID1), undefined],
    [create('bad set/x', ID1), /invalid entity set/],
  ])('%o', (op, expected) => {
    const reason = invalidOpReason(op);
    if (expected === undefined) expect(reason).toBeUndefined();
    else expect(reason).toMatch(expected);
  });
});

describe('resultFromPart', () => {
  const c = create('campaignresponses', ID1);
  const u = update('crs_advertisingconsents', ID1);
  it.each([
    ['create 204', c, 204, {}, '', { ok: true, existed: false }],
    ['create duplicate 412 0x80040237', c, 412, {}, errorBody('0x80040237'), { ok: true, existed: true }],
    ['create duplicate 400 0x80040237', c, 400, {}, errorBody('0x80040237', 'Cannot insert duplicate key.'), { ok: true, existed: true }],
    ['create duplicate, empty code, duplicate-key message', c, 400, {}, errorBody('', 'Cannot insert duplicate key.'), { ok: true, existed: true }],
    ['create alternate-key clash is an error, not existed', c, 412, {}, errorBody('0x80060892'), { ok: false, retryable: false }],
    ['create bad column 400', c, 400, {}, errorBody('0x80040203'), { ok: false, retryable: false }],
    ['update 204 with ETag header', u, 204, { etag: 'W/"9"' }, '', { ok: true, etag: 'W/"9"' }],
    ['update missing row 404', u, 404, {}, errorBody('0x80040217'), { ok: false, retryable: false }],
    ['update ETag mismatch 412', u, 412, {}, errorBody('0x80060882'), { ok: false, retryable: false }],
    ['update 412 duplicate code is not "existed" for an update', u, 412, {}, errorBody('0x80040237'), { ok: false, retryable: false }],
    ['503 is retryable', u, 503, {}, 'Service Unavailable', { ok: false, retryable: true }],
    ['500 generic is retryable', c, 500, {}, errorBody('0x80040216'), { ok: false, retryable: true }],
    ['500 duplicate detection is the op\'s fault', c, 500, {}, errorBody('0x80040333'), { ok: false, retryable: false }],
    ['429 inside a batch is retryable', c, 429, {}, errorBody('0x80072322'), { ok: false, retryable: true }],
  ])('%s', (_name, op, status, headers, body, expected) => {
    const result = resultFromPart(op, { status, headers, body });
    expect(result).toMatchObject({ op, status, ...expected });
    if (!result.ok) expect(result.error).toBeDefined();
  });
  it('reads the error code and message', () => {
    expect(resultFromPart(u, { status: 404, headers: {}, body: errorBody('0x80040217', 'crs_advertisingconsent With Id = x Does Not Exist') }).error)
      .toEqual({ code: '0x80040217', message: 'crs_advertisingconsent With Id = x Does Not Exist' });
  });
  it('keeps a non-JSON error body as the message', () => {
    expect(resultFromPart(u, { status: 400, headers: {}, body: 'Bad Request - Invalid JSON' }).error).toEqual({ code: '', message: 'Bad Request - Invalid JSON' });
  });
});

describe('isTransientStatus', () => {
  it.each([[0, true], [401, true], [408, true], [429, true], [500, true], [502, true], [503, true], [504, true], [400, false], [403, false], [404, false], [412, false], [413, false]])('%i → %s', (status, expected) => {
    expect(isTransientStatus(status)).toBe(expected);
  });
});

describe('dependency grouping and packing', () => {
  it('finds binds in nested deep inserts, with or without a leading slash', () => {
    expect(boundRowKeys({
      'regardingobjectid_campaign_campaignresponse@odata.bind': `/campaigns(${ID1})`,
      campaignresponse_activity_parties: [{ participationtypemask: 11, 'partyid_contact@odata.bind': `contacts(${ID2.toUpperCase()})` }],
      subject: `/campaigns(${ID3})`,
    })).toEqual([`campaigns(${ID1})`, `contacts(${ID2})`]);
  });

  it('keeps ops on the same row, and an op with the create it binds to, in one ordered group', () => {
    const ops: DataverseOp[] = [
      create('crs_advertisingconsents', ID1),
      create('campaignresponses', ID2),
      create('crs_optinhistories', ID3, { 'crs_advertisingconsentid@odata.bind': `/crs_advertisingconsents(${ID1})` }),
      update('campaignresponses', ID2, { crs_eventcount: 2 }),
      update('contacts', ID3),
    ];
    expect(dependencyGroups(ops)).toEqual([[0, 2], [1, 3], [4]]);
  });

  it.each([
    [0, 4, 10, 100, 100],
    [5, 4, 10, 100, 10],
    [1000, 4, 10, 100, 100],
    [1000, 20, 10, 100, 50],
    [200, 52, 10, 100, 10],
  ])('targetBatchSize(%i ops, concurrency %i, min %i, max %i) = %i', (n, c, min, max, expected) => {
    expect(targetBatchSize(n, c, min, max)).toBe(expected);
  });

  it('packs whole groups into batches of about the target size, in caller order', () => {
    const groups = [[0, 3], [1], [2, 4, 5], [6]];
    expect(packBatches(groups, 3).batches).toEqual([[0, 1, 3], [2, 4, 5], [6]]);
    expect(packBatches(groups, 100).batches).toEqual([[0, 1, 2, 3, 4, 5, 6]]);
  });

  it('slices a group larger than the 1000-part limit into sequential batches', () => {
    const big = Array.from({ length: 2500 }, (_, i) => i);
    const { batches, sequential } = packBatches([big, [2500]], 100);
    expect(batches).toEqual([[2500]]);
    expect(sequential).toHaveLength(1);
    expect(sequential[0]!.map((s) => s.length)).toEqual([1000, 1000, 500]);
  });
});
