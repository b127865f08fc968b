import { afterEach, describe, expect, it } from 'vitest';
import { StaticTokenProvider } from '../../service/dataverse/auth.js';
import { DataverseAuthError, HttpDataverseClient, type DataverseMetrics, type HttpDataverseClientOptions } from '../../service/dataverse/client.js';
import type { DataverseOp } from '../../service/dataverse/types.js';
import { DataverseStub, odataError, RowStore, type StubAnswer, type StubHandler, type StubPartResponse } from './dataverse-stub.js';

const guid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, '0')}`;
const createOp = (n: number, body: Record<string, unknown> = {}): DataverseOp => ({ method: 'create', entitySet: 'crs_optinhistories', id: guid(n), body: { crs_name: `h${n}`, ...body }, tag: String(n) });

let stub: DataverseStub | undefined;
let client: HttpDataverseClient | undefined;
afterEach(async () => {
  await client?.close();
  await stub?.close();
  stub = undefined;
  client = undefined;
});

interface Recorded {
  requests: Array<{ kind: string; status: number | 'network' }>;
  waits: number[];
  throttledAt: number[];
  limits: number[];
}

async function setup(handler: StubHandler, options: Partial<HttpDataverseClientOptions> = {}) {
  stub = await new DataverseStub(handler).start();
  const recorded: Recorded = { requests: [], waits: [], throttledAt: [], limits: [] };
  const metrics: DataverseMetrics = {
    request: (kind, status) => recorded.requests.push({ kind, status }),
    throttleWait: (ms) => recorded.waits.push(ms),
    throttled: () => recorded.throttledAt.push(Date.now()),
    concurrency: (limit) => recorded.limits.push(limit),
  };
  const tokens = new StaticTokenProvider(() => 'token-1');
  client = new HttpDataverseClient({
    baseUrl: stub.url,
    tokenProvider: tokens,
    metrics,
    backoffMinMs: 5,
    backoffMaxMs: 20,
    ...options,
  });
  return { stub, client, recorded, tokens };
}

const storeHandler = (store: RowStore): StubHandler => (req) => ({ status: 200, parts: req.parts!.map((p) => store.answer(p)) });

describe('HttpDataverseClient.execute', () => {
  it('packs ops into $batch requests with continue-on-error and gives every op its own result', async () => {
    const store = new RowStore();
    store.rows.set(`crs_optinhistories(${guid(3)})`, {}); // op 3 already exists
    const { stub, client, recorded } = await setup(storeHandler(store), { minBatchSize: 10, maxBatchSize: 10 });
    const ops: DataverseOp[] = [
      ...Array.from({ length: 24 }, (_, i) => createOp(i)),
      { method: 'update', entitySet: 'crs_advertisingconsents', id: guid(999), body: { crs_status: 583000001 } }, // missing row
    ];
    const results = await client.execute(ops);

    expect(results).toHaveLength(25);
    results.forEach((r, i) => expect(r.op).toBe(ops[i]));
    expect(results.filter((r) => r.ok && r.existed === false)).toHaveLength(23);
    expect(results[3]).toMatchObject({ ok: true, existed: true, status: 412 });
    expect(results[24]).toMatchObject({ ok: false, status: 404, retryable: false, error: { code: '0x80040217' } });
    expect(stub.batches).toHaveLength(3);
    expect(stub.batches.map((b) => b.parts!.length).sort()).toEqual([10, 10, 5]);
    for (const batch of stub.batches) {
      expect(batch.method).toBe('POST');
      expect(batch.url).toBe('/api/data/v9.2/$batch');
      expect(batch.headers.prefer).toBe('odata.continue-on-error');
      expect(batch.headers.authorization).toBe('Bearer token-1');
      expect(batch.headers['odata-version']).toBe('4.0');
      expect(batch.headers['odata-maxversion']).toBe('4.0');
    }
    const update = stub.batches.flatMap((b) => b.parts!).find((p) => p.method === 'PATCH')!;
    expect(update.path).toBe(`/api/data/v9.2/crs_advertisingconsents(${guid(999)})`);
    expect(update.headers['if-match']).toBe('*');
    const create0 = stub.batches.flatMap((b) => b.parts!).find((p) => p.body?.crs_name === 'h0')!;
    expect(create0).toMatchObject({ method: 'POST', path: '/api/data/v9.2/crs_optinhistories', body: { crs_optinhistoryid: guid(0) } });
    expect(recorded.requests.every((r) => r.kind === 'batch' && r.status === 200)).toBe(true);
  });

  it('continue-on-error: a bad op in the middle fails alone, the ops after it still run', async () => {
    const store = new RowStore();
    const { client } = await setup(storeHandler(store));
    const results = await client.execute([createOp(1), createOp(2, { bad_column: 1 }), createOp(3)]);
    expect(results.map((r) => [r.ok, r.status])).toEqual([[true, 204], [false, 400], [true, 204]]);
    expect(results[1]!.error).toEqual({ code: '0x80040203', message: "Invalid property 'bad_column'" });
    expect(store.rows.has(`crs_optinhistories(${guid(3)})`)).toBe(true);
  });

  it('maps both duplicate-key forms of a create (412 and 400 0x80040237) to existed', async () => {
    const { client } = await setup((req) => ({
      status: 200,
      parts: [
        { status: 412, body: odataError('0x80040237', 'A record with matching key values already exists.') },
        { status: 400, body: odataError('0x80040237', 'Cannot insert duplicate key.') },
      ].slice(0, req.parts!.length),
    }));
    const results = await client.execute([createOp(1), createOp(2)]);
    expect(results.map((r) => [r.ok, r.existed])).toEqual([[true, true], [true, true]]);
  });

  it('returns an invalid op as its own error without sending it', async () => {
    const { client, stub } = await setup(storeHandler(new RowStore()));
    const results = await client.execute([{ method: 'create', entitySet: 'crs_optinhistories', id: 'nope', body: {} }, createOp(1)]);
    expect(results[0]).toMatchObject({ ok: false, status: 0, retryable: false, error: { code: 'InvalidOp' } });
    expect(results[1]).toMatchObject({ ok: true });
    expect(stub.batches.flatMap((b) => b.parts!)).toHaveLength(1);
  });

  it('keeps dependent ops in one batch, in order', async () => {
    const store = new RowStore();
    const { client, stub } = await setup(storeHandler(store), { minBatchSize: 1, maxBatchSize: 1, initialConcurrency: 8 });
    const consent = guid(500);
    const results = await client.execute([
      { method: 'create', entitySet: 'crs_advertisingconsents', id: consent, body: {} },
      createOp(1),
      createOp(2, { 'crs_advertisingconsentid@odata.bind': `/crs_advertisingconsents(${consent})` }),
      { method: 'update', entitySet: 'crs_advertisingconsents', id: consent, body: { crs_status: 1 } },
    ]);
    expect(results.every((r) => r.ok)).toBe(true);
    const withConsent = stub.batches.find((b) => b.parts!.some((p) => p.path.includes('crs_advertisingconsents')))!;
    expect(withConsent.parts!.map((p) => `${p.method} ${p.path.split('/').pop()}`)).toEqual([
      'POST crs_advertisingconsents',
      'POST crs_optinhistories',
      `PATCH crs_advertisingconsents(${consent})`,
    ]);
  });

  it('backs off on 5xx and succeeds; a part-level 503 re-sends only that op and its dependants', async () => {
    const store = new RowStore();
    let calls = 0;
    const { client, stub } = await setup((req) => {
      calls += 1;
      if (calls <= 2) return { status: 503, body: odataError('', 'Service Unavailable') };
      if (calls === 3) {
        // op 1 (index 0) hits a transient error; its later update (index 2) failed only because of it
        return {
          status: 200,
          parts: req.parts!.map((p, i) => (i === 0 ? { status: 503, body: odataError('', 'busy') } : i === 2 ? { status: 404, body: odataError('0x80040217') } : store.answer(p))),
        };
      }
      return { status: 200, parts: req.parts!.map((p) => store.answer(p)) };
    });
    const results = await client.execute([
      createOp(1),
      createOp(2),
      { method: 'update', entitySet: 'crs_optinhistories', id: guid(1), body: { crs_reason: 'x' } },
    ]);
    expect(results.map((r) => [r.ok, r.status])).toEqual([[true, 204], [true, 204], [true, 204]]);
    expect(stub.batches.map((b) => b.parts!.length)).toEqual([3, 3, 3, 2]);
    expect(stub.batches[3]!.parts!.map((p) => p.method)).toEqual(['POST', 'PATCH']);
  });

  it('retries after a network error (connection dropped)', async () => {
    const store = new RowStore();
    let calls = 0;
    const { client, recorded } = await setup((req) => {
      calls += 1;
      return calls === 1 ? { status: 0, destroy: true } : { status: 200, parts: req.parts!.map((p) => store.answer(p)) };
    });
    const results = await client.execute([createOp(1)]);
    expect(results[0]).toMatchObject({ ok: true, status: 204 });
    expect(recorded.requests.map((r) => r.status)).toEqual(['network', 200]);
  });

  it('gives up after the retry budget and reports the ops as retryable (never throws)', async () => {
    const { client, stub } = await setup(() => ({ status: 502, body: odataError('', 'Bad Gateway') }), { transientRetries: 2 });
    const results = await client.execute([createOp(1), createOp(2)]);
    expect(results.map((r) => [r.ok, r.status, r.retryable])).toEqual([[false, 502, true], [false, 502, true]]);
    expect(stub.requests).toHaveLength(3);
  });

  it('on 401 drops the cached token and retries once with a fresh one', async () => {
    const store = new RowStore();
    let issued = 1;
    const { client, stub, tokens } = await setup((req) =>
      req.headers.authorization === 'Bearer token-1'
        ? { status: 401, headers: { 'WWW-Authenticate': 'Bearer authorization_uri=x' }, body: odataError('', 'expired') }
        : { status: 200, parts: req.parts!.map((p) => store.answer(p)) },
    );
    const original = tokens.invalidate.bind(tokens);
    tokens.invalidate = () => {
      original();
      issued += 1;
    };
    (tokens as unknown as { tokens: () => string }).tokens = () => `token-${issued}`;
    const results = await client.execute([createOp(1)]);
    expect(results[0]!.ok).toBe(true);
    expect(tokens.invalidations).toBe(1);
    expect(stub.requests.map((r) => r.headers.authorization)).toEqual(['Bearer token-1', 'Bearer token-2']);
  });

  it('throws DataverseAuthError when a fresh token is refused as well', async () => {
    const { client, stub } = await setup(() => ({ status: 401, body: odataError('', 'no') }));
    await expect(client.execute([createOp(1)])).rejects.toBeInstanceOf(DataverseAuthError);
    expect(stub.requests).toHaveLength(2);
  });
});

describe('throttling and concurrency', () => {
  it('429 pauses the whole client: no request leaves before Retry-After has elapsed', async () => {
    const store = new RowStore();
    let throttledAnsweredAt = 0;
    let seen = 0;
    const { client, stub, recorded } = await setup(async (req) => {
      seen += 1;
      if (seen === 1) {
        throttledAnsweredAt = Date.now();
        return { status: 429, headers: { 'Retry-After': '1' }, body: odataError('0x80072322', 'Number of requests exceeded the limit of 6000 over time window of 300 seconds.') };
      }
      // The other first-wave requests answer after the 429 has been seen, so everything sent
      // afterwards is sent while the client is paused.
      if (seen <= 4) return { status: 200, parts: req.parts!.map((p) => store.answer(p)), delayMs: 150 };
      return { status: 200, parts: req.parts!.map((p) => store.answer(p)) };
    }, { initialConcurrency: 4, minBatchSize: 1, maxBatchSize: 1 });
    const results = await client.execute(Array.from({ length: 12 }, (_, i) => createOp(i)));

    expect(results.every((r) => r.ok)).toBe(true);
    const firstWave = stub.requests.slice(0, 4);
    const later = stub.requests.slice(4);
    expect(firstWave.every((r) => r.arrivedAt - throttledAnsweredAt < 200)).toBe(true);
    expect(later.length).toBe(9); // 8 remaining ops + the re-sent throttled one
    // Timers may fire up to ~1 ms early relative to Date.now().
    for (const r of later) expect(r.arrivedAt).toBeGreaterThanOrEqual(throttledAnsweredAt + 1000 - 2);
    expect(recorded.throttledAt).toHaveLength(1);
    expect(recorded.waits.length).toBeGreaterThan(0);
    expect(Math.max(...recorded.waits)).toBeGreaterThan(800);
    expect(recorded.limits.slice(0, 2)).toEqual([4, 2]); // halved from 4 on the 429 (regrows afterwards)
  });

  it('grows additively while healthy, caps at x-ms-dop-hint, halves on 429', async () => {
    const store = new RowStore();
    let throttleNext = false;
    const { client, stub, recorded } = await setup(async (req): Promise<StubAnswer> => {
      if (throttleNext) {
        throttleNext = false;
        return { status: 429, headers: { 'Retry-After': '0' }, body: odataError('0x80072326', 'Number of concurrent requests exceeded the limit of 52.') };
      }
      return { status: 200, headers: { 'x-ms-dop-hint': '6' }, parts: req.parts!.map((p) => store.answer(p)), delayMs: 5 };
    }, { initialConcurrency: 2, minBatchSize: 1, maxBatchSize: 1 });

    await client.execute(Array.from({ length: 120 }, (_, i) => createOp(i)));
    expect(client.concurrencyCap).toBe(6);
    expect(client.concurrencyLimit).toBe(6);
    expect(stub.maxInFlight).toBeLessThanOrEqual(6);
    expect(stub.maxInFlight).toBeGreaterThan(2);
    expect(recorded.limits.slice(0, 5)).toEqual([2, 3, 4, 5, 6]);

    throttleNext = true;
    await client.execute([createOp(1000)]);
    expect(recorded.limits).toContain(3);
    expect(client.concurrencyLimit).toBeLessThanOrEqual(4); // halved to 3, may have regrown by one
  });

  it('reports ops as retryable (429) when throttling outlasts maxThrottleWaitMs', async () => {
    const { client } = await setup(() => ({ status: 429, headers: { 'Retry-After': '0.05' }, body: odataError('0x80072321') }), { maxThrottleWaitMs: 120 });
    const results = await client.execute([createOp(1)]);
    expect(results[0]).toMatchObject({ ok: false, status: 429, retryable: true });
  });
});

describe('reads', () => {
  const rows = Array.from({ length: 5 }, (_, i) => ({ crs_optinhistoryid: guid(i), crs_name: `h${i}` }));
  const pagingHandler = (origin: () => string): StubHandler => (req) => {
    const url = new URL(req.url, origin());
    const size = Number(/odata\.maxpagesize=(\d+)/.exec(String(req.headers.prefer))?.[1] ?? 5000);
    const skip = Number(url.searchParams.get('$skiptoken') ?? 0);
    const page = rows.slice(skip, skip + size);
    const next = skip + size < rows.length ? `${origin()}/api/data/v9.2/crs_optinhistories?$select=crs_name&$skiptoken=${skip + size}` : undefined;
    return { status: 200, headers: { 'Preference-Applied': `odata.maxpagesize=${size}` }, body: { value: page, ...(next ? { '@odata.nextLink': next } : {}) } };
  };

  it('follows @odata.nextLink with Prefer odata.maxpagesize', async () => {
    const { client, stub } = await setup(pagingHandler(() => stub!.url));
    const result = await client.query('crs_optinhistories', '$select=crs_name', { maxPageSize: 2 });
    expect(result.map((r) => r.crs_name)).toEqual(['h0', 'h1', 'h2', 'h3', 'h4']);
    expect(stub.requests).toHaveLength(3);
    expect(stub.requests.every((r) => r.headers.prefer === 'odata.maxpagesize=2')).toBe(true);
    expect(stub.requests[0]!.url).toBe('/api/data/v9.2/crs_optinhistories?$select=crs_name');
    expect(stub.requests[0]!.headers['if-none-match']).toBe('null');
  });

  it('stops at maxRows', async () => {
    const { client, stub } = await setup(pagingHandler(() => stub!.url));
    const result = await client.query('crs_optinhistories', '$select=crs_name', { maxPageSize: 2, maxRows: 3 });
    expect(result).toHaveLength(3);
    expect(stub.requests).toHaveLength(2);
  });

  it('refuses a nextLink to another origin (the token never leaves the environment)', async () => {
    const { client } = await setup(() => ({ status: 200, body: { value: [{}], '@odata.nextLink': 'https://evil.example/api/data/v9.2/x' } }));
    await expect(client.query('crs_optinhistories', '')).rejects.toThrow(/another origin/);
  });

  it('retrieve returns the row, null on 404, and throws on other errors', async () => {
    const { client, stub } = await setup((req) =>
      req.url.includes(guid(1)) ? { status: 200, body: { '@odata.etag': 'W/"3"', crs_name: 'x' } }
        : req.url.includes(guid(2)) ? { status: 404, body: odataError('0x80040217') }
          : { status: 403, body: odataError('0x80040220', 'Principal user is missing prvReadcrs_newsletter privilege') },
    );
    expect(await client.retrieve('crs_newsletters', guid(1), ['crs_name', 'crs_channel'])).toEqual({ '@odata.etag': 'W/"3"', crs_name: 'x' });
    expect(stub.requests[0]!.url).toBe(`/api/data/v9.2/crs_newsletters(${guid(1)})?$select=crs_name,crs_channel`);
    expect(await client.retrieve('crs_newsletters', guid(2))).toBeNull();
    await expect(client.retrieve('crs_newsletters', guid(3))).rejects.toThrow(/403 0x80040220/);
  });
});

describe('coalesced reads', () => {
  const getAnswer = (path: string): StubPartResponse => {
    if (path.includes(guid(404))) return { status: 404, body: odataError('0x80040217', 'Does Not Exist') };
    const id = /\(([0-9a-f-]{36})\)/.exec(path)?.[1];
    if (id) return { status: 200, body: { '@odata.etag': 'W/"1"', crs_newsletterid: id } };
    return { status: 200, body: { value: [{ path }] } };
  };

  it('sends GETs of the same tick as one $batch of GET parts and hands each caller its answer', async () => {
    const { client, stub } = await setup((req) => ({ status: 200, parts: req.parts!.map((p) => getAnswer(p.path)) }));
    const [a, b, missing, rows] = await Promise.all([
      client.retrieve('crs_newsletters', guid(1), ['crs_name']),
      client.retrieve('crs_newsletters', guid(2)),
      client.retrieve('crs_newsletters', guid(404)),
      client.query('contacts', '$select=contactid&$filter=emailaddress1 eq \'a@example.com\'', { maxPageSize: 50 }),
    ]);
    expect(a).toMatchObject({ crs_newsletterid: guid(1) });
    expect(b).toMatchObject({ crs_newsletterid: guid(2) });
    expect(missing).toBeNull();
    expect(rows).toEqual([{ path: "/api/data/v9.2/contacts?$select=contactid&$filter=emailaddress1%20eq%20%27a@example.com%27" }]);
    expect(stub.requests).toHaveLength(1);
    const parts = stub.requests[0]!.parts!;
    expect(parts.map((p) => p.method)).toEqual(['GET', 'GET', 'GET', 'GET']);
    expect(parts[0]!.path).toBe(`/api/data/v9.2/crs_newsletters(${guid(1)})?$select=crs_name`);
    expect(parts[3]!.headers.prefer).toBe('odata.maxpagesize=50');
    expect(stub.requests[0]!.headers.prefer).toBe('odata.continue-on-error');
  });

  it('re-reads a part that failed transiently on its own; a lone GET is sent as is', async () => {
    let batches = 0;
    const { client, stub } = await setup((req) => {
      if (req.parts) {
        batches += 1;
        return { status: 200, parts: req.parts.map((p, i) => (i === 1 ? { status: 503, body: odataError('', 'busy') } : getAnswer(p.path))) };
      }
      return { status: 200, body: getAnswer(req.url).body };
    });
    const [a, b] = await Promise.all([client.retrieve('crs_newsletters', guid(1)), client.retrieve('crs_newsletters', guid(2))]);
    expect(a).toMatchObject({ crs_newsletterid: guid(1) });
    expect(b).toMatchObject({ crs_newsletterid: guid(2) });
    expect(batches).toBe(1);
    expect(stub.requests.map((r) => (r.parts ? '$batch' : r.url))).toEqual(['$batch', `/api/data/v9.2/crs_newsletters(${guid(2)})`]);
  });

  it('can be switched off', async () => {
    const { client, stub } = await setup((req) => ({ status: 200, body: getAnswer(req.url).body }), { coalesceReads: false });
    await Promise.all([client.retrieve('crs_newsletters', guid(1)), client.retrieve('crs_newsletters', guid(2))]);
    expect(stub.requests.map((r) => r.method)).toEqual(['GET', 'GET']);
  });
});

