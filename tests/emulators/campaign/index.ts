/**
 * In-process emulator of the Optimizely Campaign REST API (the parts this product uses), with the
 * real base path `/rest/{clientId}/…` and the OpenAPI shapes: users/authenticated, webhooks with their
 * lifecycle and errors (409 for another client's webhook, 400 for deleting an active one, `verify`
 * POSTing sample events to the target URL), unsubscribes, responses, bounce counters and thresholds,
 * recipient lists. Fault injection (status codes with Retry-After, delays) drives the client tests.
 * Used by the tests and by demo mode.
 */
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { request as httpRequest } from 'undici';

export const WEBHOOK_TYPES = [
  'open', 'click', 'sent', 'bounce', 'unsubscribe', 'spamcomplaint', 'singleoptin', 'confirmedoptin',
  'doubleoptin', 'blocklist', 'archive', 'filteredbyblocklist',
] as const;

export type EmulatorWebhookStatus = 'created' | 'activated' | 'deactivated' | 'deleted' | 'suspended';

export type EmulatorAuthentication =
  | { type: 'none' }
  | { type: 'basicAuth'; userName: string; password: string }
  | { type: 'keyAuth'; key: string; passphrase: string };

export interface EmulatorWebhook {
  id: number;
  clientId: string;
  type: string;
  status: EmulatorWebhookStatus;
  format: 'json';
  targetUrl: string;
  /** Kept in full (with secrets) so deliveries can send the header; never echoed by the API. */
  authentication: EmulatorAuthentication;
  created: string;
  modified: string;
}

export interface EmulatorUnsubscribe {
  recipientId: string;
  recipientListId?: number;
  mailingId?: number;
  reason?: string;
  created: string;
  mediaType?: string;
}

export interface EmulatorResponse {
  category: 'hardbounce' | 'softbounce' | 'autoresponder' | 'unknown';
  mailingId: number;
  recipientId: string;
  created: string;
  mailId?: string;
  recipientListId?: number;
  subject?: string;
  ruleName?: string;
  mediaType?: string;
}

export interface EmulatorRecipientList {
  id: number;
  name: string;
  description?: string;
  recipients?: number;
  mediaTypes?: string[];
  testList?: boolean;
  created?: string;
  modified?: string;
}

export interface EmulatorClientState {
  unsubscribes: EmulatorUnsubscribe[];
  responses: EmulatorResponse[];
  mailings: Set<number>;
  bounceThresholds: { hard: number; soft: number };
  /** Recipients marked outbounced directly (besides those over the thresholds by their bounces). */
  outbounced: Set<string>;
  recipientLists: EmulatorRecipientList[];
}

export interface RecordedRequest {
  method: string;
  /** Path without the query, e.g. /rest/123/webhooks/7/activate */
  path: string;
  query: Record<string, string>;
  status?: number;
}

export interface VerifyDelivery {
  webhookId: number;
  targetUrl: string;
  events: Record<string, unknown>[];
  httpStatusCode: number;
  responseBody: string;
}

export interface EmulatorState {
  clients: Map<string, EmulatorClientState>;
  webhooks: Map<number, EmulatorWebhook>;
  requests: RecordedRequest[];
  deliveries: VerifyDelivery[];
  /** Per client id: the most requests that were in progress at once (clear it to measure afresh). */
  peakInFlight: Map<string, number>;
}

export interface SeedData {
  clientId: string;
  unsubscribes?: EmulatorUnsubscribe[];
  responses?: EmulatorResponse[];
  mailings?: number[];
  bounceThresholds?: { hard?: number; soft?: number };
  outbounced?: string[];
  recipientLists?: EmulatorRecipientList[];
  /** Pre-existing webhooks (e.g. one registered by another tool, or a suspended one). */
  webhooks?: (Partial<Omit<EmulatorWebhook, 'clientId'>> & { type: string; targetUrl: string })[];
}

export interface Fault {
  method?: string;
  /** Matches when the request path contains this string. */
  pathIncludes?: string;
  /** Answer with this status (e.g. 429, 503)… */
  status?: number;
  /** …and this Retry-After header value (seconds or an HTTP date). */
  retryAfter?: string;
  /** Body sent with `status` (default: an error object). */
  body?: unknown;
  /** Wait before answering (or before handling normally when no status is given). */
  delayMs?: number;
  /** How many matching requests the fault applies to (default 1). */
  times?: number;
}

export interface CampaignEmulatorOptions {
  port?: number;
  host?: string;
  user?: string;
  password?: string;
}

export interface CampaignEmulator {
  /** REST base, e.g. http://127.0.0.1:54321/rest */
  url: string;
  user: string;
  password: string;
  state: EmulatorState;
  seed(data: SeedData): void;
  fail(fault: Fault): void;
  /** Drops faults not yet used up. */
  clearFaults(): void;
  /**
   * Calls `hook` for each request before it is answered, e.g. to change the data between two page
   * reads (an unsubscribe removed by a re-subscribe). `undefined` removes it.
   */
  beforeHandling(hook: ((req: RecordedRequest) => void) | undefined): void;
  /** Campaign suspends a webhook on its own (e.g. after failed deliveries). */
  suspend(webhookId: number): void;
  /** POSTs events to every activated webhook of that client and type, as Campaign does. */
  deliver(clientId: string, type: string, events: Record<string, unknown>[]): Promise<{ webhookId: number; status: number }[]>;
  close(): Promise<void>;
}

const REST_PREFIX = '/rest';

function newClientState(): EmulatorClientState {
  return { unsubscribes: [], responses: [], mailings: new Set(), bounceThresholds: { hard: 3, soft: 5 }, outbounced: new Set(), recipientLists: [] };
}

function publicWebhook(w: EmulatorWebhook) {
  return {
    id: w.id, type: w.type === 'archive' ? 'archived' : w.type, status: w.status, format: w.format,
    targetUrl: w.targetUrl, authentication: { type: w.authentication.type }, created: w.created, modified: w.modified,
  };
}

function authHeader(auth: EmulatorAuthentication): Record<string, string> {
  if (auth.type === 'basicAuth') return { authorization: 'Basic ' + Buffer.from(`${auth.userName}:${auth.password}`).toString('base64') };
  if (auth.type === 'keyAuth') return { [auth.key.toLowerCase()]: auth.passphrase };
  return {};
}

function parseAuthentication(raw: string | undefined, legacyUser?: string, legacyPassword?: string): EmulatorAuthentication | string {
  if (raw === undefined || raw === '') {
    if (legacyUser) return { type: 'basicAuth', userName: legacyUser, password: legacyPassword ?? '' };
    return { type: 'none' };
  }
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return 'authentication is not valid JSON';
  }
  const o = v as Record<string, unknown>;
  if (o?.type === 'none') return { type: 'none' };
  if (o?.type === 'basicAuth' && typeof o.userName === 'string' && typeof o.password === 'string') return { type: 'basicAuth', userName: o.userName, password: o.password };
  if (o?.type === 'keyAuth' && typeof o.key === 'string' && o.key && typeof o.passphrase === 'string') return { type: 'keyAuth', key: o.key, passphrase: o.passphrase };
  return 'authentication type unknown or incomplete';
}

let verifyRuns = 0;

/** A sample event like Campaign's verify sends (recipients unique per verify call, so runs never collide). */
function sampleEvent(w: EmulatorWebhook, mailingId: string, i: number, run: number): Record<string, unknown> {
  const recipientId = `verify-${run}-${i + 1}@example.com`;
  const e: Record<string, unknown> = {
    type: w.type, mailingGroupId: Number(w.clientId), mailingId: Number(mailingId), mailId: `${mailingId}-${i + 1}`,
    recipientListId: 1, recipientId, timestamp: new Date().toISOString(),
  };
  if (w.type === 'click') e.url = 'https://example.com/verify';
  if (w.type === 'bounce') e.category = 'softbounce';
  if (w.type === 'unsubscribe') e.reason = 'verification';
  return e;
}

function compare(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a ?? '').localeCompare(String(b ?? ''));
}

export async function startCampaignEmulator(options: CampaignEmulatorOptions = {}): Promise<CampaignEmulator> {
  const user = options.user ?? 'api-user@example.com';
  const password = options.password ?? 'api-password';
  const expectedAuth = 'Basic ' + Buffer.from(`${user}:${password}`).toString('base64');
  const state: EmulatorState = { clients: new Map(), webhooks: new Map(), requests: [], deliveries: [], peakInFlight: new Map() };
  const faults: (Fault & { left: number })[] = [];
  const inFlight = new Map<string, number>();
  let requestHook: ((req: RecordedRequest) => void) | undefined;
  let nextWebhookId = 1001;

  const clientState = (clientId: string): EmulatorClientState => {
    let c = state.clients.get(clientId);
    if (!c) state.clients.set(clientId, (c = newClientState()));
    return c;
  };

  const app: FastifyInstance = Fastify({ logger: false });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });

  app.addHook('onRequest', async (req: FastifyRequest, reply: FastifyReply) => {
    const u = new URL(req.url, 'http://emulator');
    const rec: RecordedRequest = { method: req.method, path: u.pathname, query: Object.fromEntries(u.searchParams) };
    state.requests.push(rec);
    (req as FastifyRequest & { rec?: RecordedRequest }).rec = rec;
    const client = u.pathname.split('/')[2] ?? '';
    const now = (inFlight.get(client) ?? 0) + 1;
    inFlight.set(client, now);
    if (now > (state.peakInFlight.get(client) ?? 0)) state.peakInFlight.set(client, now);
    reply.raw.once('close', () => inFlight.set(client, (inFlight.get(client) ?? 1) - 1)); // answered or aborted
    requestHook?.(rec);
    const fault = faults.find((f) => f.left > 0 && (!f.method || f.method === req.method) && (!f.pathIncludes || u.pathname.includes(f.pathIncludes)));
    if (fault) {
      fault.left -= 1;
      if (fault.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
      if (fault.status) {
        if (fault.retryAfter !== undefined) reply.header('retry-after', fault.retryAfter);
        return reply.code(fault.status).send(fault.body ?? { error: `injected fault ${fault.status}` });
      }
    }
    if (req.headers.authorization !== expectedAuth) {
      return reply.code(401).header('www-authenticate', 'Basic realm="Campaign"').send({ error: 'Unauthorized' });
    }
  });
  app.addHook('onResponse', async (req, reply) => {
    const rec = (req as FastifyRequest & { rec?: RecordedRequest }).rec;
    if (rec) rec.status = reply.statusCode;
  });

  type P = { clientId: string; webhookId?: string; recipientId?: string };
  type Q = Record<string, string | undefined>;
  const numericClient = (req: FastifyRequest, reply: FastifyReply): string | undefined => {
    const { clientId } = req.params as P;
    if (!/^\d+$/.test(clientId)) {
      void reply.code(400).send({ error: 'clientId must be numeric' });
      return undefined;
    }
    return clientId;
  };
  const limitOf = (q: Q, reply: FastifyReply): number | undefined => {
    const limit = q.limit === undefined ? 100 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 0 || limit >= 10000) {
      void reply.code(400).send({ error: 'Invalid limit request. Change the limit to less than 10000.' });
      return undefined;
    }
    return limit;
  };
  /** A paged list request: the client, the query and its limit/offset, or undefined once a 400 is sent. */
  const listRequest = (req: FastifyRequest, reply: FastifyReply): { clientId: string; q: Q; limit: number; offset: number } | undefined => {
    const clientId = numericClient(req, reply);
    if (!clientId) return undefined;
    const q = req.query as Q;
    const limit = limitOf(q, reply);
    if (limit === undefined) return undefined;
    return { clientId, q, limit, offset: Number(q.offset ?? 0) };
  };
  /** 404 unknown, 409 another client's webhook. */
  const ownWebhook = (req: FastifyRequest, reply: FastifyReply): EmulatorWebhook | undefined => {
    const clientId = numericClient(req, reply);
    if (!clientId) return undefined;
    const w = state.webhooks.get(Number((req.params as P).webhookId));
    if (!w || w.status === 'deleted') {
      void reply.code(404).send({ error: 'The webhook could not be found.' });
      return undefined;
    }
    if (w.clientId !== clientId) {
      void reply.code(409).send({ error: 'The webhook ID is not assigned to the current client.' });
      return undefined;
    }
    return w;
  };
  const touch = (w: EmulatorWebhook, status: EmulatorWebhookStatus) => {
    w.status = status;
    w.modified = new Date().toISOString();
  };

  // ---- users ----
  app.get(`${REST_PREFIX}/:clientId/users/authenticated`, async (req, reply) => {
    if (!numericClient(req, reply)) return reply;
    return { id: 4711, username: user, email: user };
  });

  // ---- webhooks ----
  app.get(`${REST_PREFIX}/:clientId/webhooks`, async (req, reply) => {
    const page = listRequest(req, reply);
    if (!page) return reply;
    const { clientId, q, limit, offset } = page;
    const sortKey = (q.sort ?? 'CREATED').toUpperCase();
    const field = ({ ID: 'id', TYPE: 'type', STATUS: 'status', TARGET_URL: 'targetUrl', CREATED: 'id', MODIFIED: 'modified' } as Record<string, keyof EmulatorWebhook>)[sortKey] ?? 'id';
    const dir = (q.direction ?? 'DESC').toUpperCase() === 'ASC' ? 1 : -1;
    const list = [...state.webhooks.values()].filter((w) => w.clientId === clientId && w.status !== 'deleted')
      .sort((a, b) => dir * compare(a[field], b[field]));
    return list.slice(offset, offset + limit).map(publicWebhook);
  });

  const webhookInput = (body: Record<string, string>): { type: string; targetUrl: string; authentication: EmulatorAuthentication } | string => {
    if (!WEBHOOK_TYPES.includes(body.type as (typeof WEBHOOK_TYPES)[number])) return 'The webhook could not be created (type is wrong).';
    if (body.format !== 'json') return 'The webhook could not be created (format is wrong).';
    let url: URL;
    try {
      url = new URL(body.targetUrl ?? '');
    } catch {
      return 'The webhook could not be created (url is wrong).';
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'The webhook could not be created (url is wrong).';
    const authentication = parseAuthentication(body.authentication, body.basicAuthUsername, body.basicAuthPassword);
    if (typeof authentication === 'string') return authentication;
    return { type: body.type!, targetUrl: body.targetUrl!, authentication };
  };

  app.post(`${REST_PREFIX}/:clientId/webhooks`, async (req, reply) => {
    const clientId = numericClient(req, reply);
    if (!clientId) return reply;
    const input = webhookInput((req.body ?? {}) as Record<string, string>);
    if (typeof input === 'string') return reply.code(400).send({ error: input });
    const now = new Date().toISOString();
    const w: EmulatorWebhook = { id: nextWebhookId++, clientId, ...input, status: 'created', format: 'json', created: now, modified: now };
    state.webhooks.set(w.id, w);
    return reply.code(201).send(publicWebhook(w));
  });

  app.put(`${REST_PREFIX}/:clientId/webhooks/:webhookId`, async (req, reply) => {
    const w = ownWebhook(req, reply);
    if (!w) return reply;
    const input = webhookInput((req.body ?? {}) as Record<string, string>);
    if (typeof input === 'string') return reply.code(400).send({ error: input });
    Object.assign(w, input);
    touch(w, w.status);
    return publicWebhook(w);
  });

  app.post(`${REST_PREFIX}/:clientId/webhooks/:webhookId/activate`, async (req, reply) => {
    const w = ownWebhook(req, reply);
    if (!w) return reply;
    if (w.status === 'activated') return reply.code(400).send({ error: 'The webhook is already in status "activated".' });
    touch(w, 'activated');
    return publicWebhook(w);
  });

  app.post(`${REST_PREFIX}/:clientId/webhooks/:webhookId/deactivate`, async (req, reply) => {
    const w = ownWebhook(req, reply);
    if (!w) return reply;
    if (w.status !== 'activated') return reply.code(400).send({ error: 'The webhook is not in status "activated".' });
    touch(w, 'deactivated');
    return publicWebhook(w);
  });

  app.delete(`${REST_PREFIX}/:clientId/webhooks/:webhookId`, async (req, reply) => {
    const w = ownWebhook(req, reply);
    if (!w) return reply;
    if (w.status === 'activated') {
      return reply.code(400).send({ error: 'The webhook could not be deleted as it is in status "activated". The webhook must be in status "deactivated".' });
    }
    state.webhooks.delete(w.id);
    return reply.code(204).send();
  });

  app.get(`${REST_PREFIX}/:clientId/webhooks/:webhookId/verify`, async (req, reply) => {
    const w = ownWebhook(req, reply);
    if (!w) return reply;
    const q = req.query as Q;
    if (!q.mailingId || !/^\d+$/.test(q.mailingId)) return reply.code(400).send({ error: 'mailingId is required' });
    const n = q.numberOfEvents === undefined ? 1 : Number(q.numberOfEvents);
    if (!Number.isInteger(n) || n < 1 || n > 100) return reply.code(400).send({ error: 'numberOfEvents must be 1..100' });
    const run = ++verifyRuns;
    const events = Array.from({ length: n }, (_, i) => sampleEvent(w, q.mailingId!, i, run));
    let httpStatusCode = 0;
    let responseBody = '';
    try {
      const res = await httpRequest(w.targetUrl, {
        method: 'POST', body: JSON.stringify(events),
        headers: { 'content-type': 'application/json', ...authHeader(w.authentication) },
        signal: AbortSignal.timeout(10_000),
      });
      httpStatusCode = res.statusCode;
      responseBody = await res.body.text();
    } catch (err) {
      responseBody = `delivery failed: ${(err as Error).message}`;
    }
    state.deliveries.push({ webhookId: w.id, targetUrl: w.targetUrl, events, httpStatusCode, responseBody });
    return [{ id: w.id, httpStatusCode, responseBody, numberOfEvents: n, targetUrl: w.targetUrl }];
  });

  // ---- unsubscribes ----
  app.get(`${REST_PREFIX}/:clientId/unsubscribes`, async (req, reply) => {
    const page = listRequest(req, reply);
    if (!page) return reply;
    const { clientId, q, limit, offset } = page;
    const sort = (q.sort ?? 'created') as keyof EmulatorUnsubscribe;
    const dir = (q.direction ?? 'ASC').toUpperCase() === 'DESC' ? -1 : 1;
    const ids = q.recipientIds ? new Set(q.recipientIds.split(',').map((s) => s.toLowerCase())) : undefined;
    const all = clientState(clientId).unsubscribes
      .filter((u) => !ids || ids.has(u.recipientId.toLowerCase()))
      .filter((u) => !q.mediaType || (u.mediaType ?? 'EMAIL') === q.mediaType)
      .sort((a, b) => dir * (sort === 'created' ? Date.parse(a.created) - Date.parse(b.created) : compare(a[sort], b[sort])));
    const elements = all.slice(offset, offset + limit);
    return { elements, count: elements.length, offset, limit };
  });

  app.get(`${REST_PREFIX}/:clientId/unsubscribes/count`, async (req, reply) => {
    const clientId = numericClient(req, reply);
    if (!clientId) return reply;
    return { count: clientState(clientId).unsubscribes.length };
  });

  // ---- responses and bounces ----
  app.get(`${REST_PREFIX}/:clientId/responses`, async (req, reply) => {
    const clientId = numericClient(req, reply);
    if (!clientId) return reply;
    const q = req.query as Q;
    if (!q.category || !['hardbounce', 'softbounce', 'autoresponder', 'unknown'].includes(q.category)) {
      return reply.code(400).send({ error: 'category is required (hardbounce, softbounce, autoresponder, unknown)' });
    }
    if (!q.mailingId && !q.recipientIds) return reply.code(400).send({ error: 'mailingId or recipientIds is required' });
    const limit = limitOf(q, reply);
    if (limit === undefined) return reply;
    const c = clientState(clientId);
    let rows = c.responses.filter((r) => r.category === q.category);
    if (q.mailingId) {
      const m = Number(q.mailingId);
      if (!c.mailings.has(m) && !c.responses.some((r) => r.mailingId === m)) return reply.code(404).send({ error: 'mailing not found' });
      rows = rows.filter((r) => r.mailingId === m);
    }
    if (q.recipientIds) {
      const ids = new Set(q.recipientIds.split(',').map((s) => s.toLowerCase()));
      rows = rows.filter((r) => ids.has(r.recipientId.toLowerCase()));
    }
    const elements = rows.slice(0, limit).map((r) => ({ mediaType: 'EMAIL', ...r }));
    return { elements, count: elements.length, offset: 0, limit };
  });

  const bounceCount = (c: EmulatorClientState, recipientId: string, category: 'hardbounce' | 'softbounce') =>
    c.responses.filter((r) => r.category === category && r.recipientId.toLowerCase() === recipientId.toLowerCase()).length;

  app.get(`${REST_PREFIX}/:clientId/responses/bounces`, async (req, reply) => {
    const clientId = numericClient(req, reply);
    if (!clientId) return reply;
    const { category } = req.query as Q;
    if (category !== 'hardbounce' && category !== 'softbounce') return reply.code(400).send({ error: 'category is required' });
    const t = clientState(clientId).bounceThresholds;
    return { count: category === 'hardbounce' ? t.hard : t.soft };
  });

  app.get(`${REST_PREFIX}/:clientId/responses/bounces/:recipientId`, async (req, reply) => {
    const clientId = numericClient(req, reply);
    if (!clientId) return reply;
    const { category } = req.query as Q;
    if (category !== 'hardbounce' && category !== 'softbounce') return reply.code(400).send({ error: 'category is required' });
    return { count: bounceCount(clientState(clientId), (req.params as P).recipientId!, category) };
  });

  app.get(`${REST_PREFIX}/:clientId/responses/bounces/:recipientId/thresholdExceeded`, async (req, reply) => {
    const clientId = numericClient(req, reply);
    if (!clientId) return reply;
    const c = clientState(clientId);
    const r = (req.params as P).recipientId!;
    const exceeded = c.outbounced.has(r.toLowerCase())
      || bounceCount(c, r, 'hardbounce') >= c.bounceThresholds.hard
      || bounceCount(c, r, 'softbounce') >= c.bounceThresholds.soft;
    return { exceeded };
  });

  // ---- recipient lists ----
  app.get(`${REST_PREFIX}/:clientId/recipientlists`, async (req, reply) => {
    const page = listRequest(req, reply);
    if (!page) return reply;
    const { clientId, q, limit, offset } = page;
    const lists = clientState(clientId).recipientLists.filter((l) => q.includeTestLists !== 'false' || !l.testList);
    const elements = lists.slice(offset, offset + limit);
    return { elements, count: elements.length, offset, limit };
  });

  await app.listen({ port: options.port ?? 0, host: options.host ?? '127.0.0.1' });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host && options.host !== '0.0.0.0' ? options.host : '127.0.0.1';

  return {
    url: `http://${host}:${port}${REST_PREFIX}`,
    user,
    password,
    state,
    seed(data: SeedData) {
      const c = clientState(data.clientId);
      if (data.unsubscribes) c.unsubscribes.push(...data.unsubscribes);
      if (data.responses) {
        c.responses.push(...data.responses);
        for (const r of data.responses) c.mailings.add(r.mailingId);
      }
      for (const m of data.mailings ?? []) c.mailings.add(m);
      if (data.bounceThresholds) c.bounceThresholds = { ...c.bounceThresholds, ...data.bounceThresholds } as { hard: number; soft: number };
      for (const o of data.outbounced ?? []) c.outbounced.add(o.toLowerCase());
      if (data.recipientLists) c.recipientLists.push(...data.recipientLists);
      for (const w of data.webhooks ?? []) {
        const now = new Date().toISOString();
        const hook: EmulatorWebhook = {
          id: w.id ?? nextWebhookId++, clientId: data.clientId, type: w.type, status: w.status ?? 'created', format: 'json',
          targetUrl: w.targetUrl, authentication: w.authentication ?? { type: 'none' }, created: w.created ?? now, modified: w.modified ?? now,
        };
        state.webhooks.set(hook.id, hook);
      }
    },
    fail(fault: Fault) {
      faults.push({ ...fault, left: fault.times ?? 1 });
    },
    clearFaults() {
      faults.length = 0;
    },
    beforeHandling(hook) {
      requestHook = hook;
    },
    suspend(webhookId: number) {
      const w = state.webhooks.get(webhookId);
      if (!w) throw new Error(`no webhook ${webhookId}`);
      touch(w, 'suspended');
    },
    async deliver(clientId: string, type: string, events: Record<string, unknown>[]) {
      const out: { webhookId: number; status: number }[] = [];
      for (const w of state.webhooks.values()) {
        if (w.clientId !== clientId || w.type !== type || w.status !== 'activated') continue;
        const res = await httpRequest(w.targetUrl, {
          method: 'POST', body: JSON.stringify(events),
          headers: { 'content-type': 'application/json', ...authHeader(w.authentication) },
        });
        await res.body.dump();
        out.push({ webhookId: w.id, status: res.statusCode });
      }
      return out;
    },
    close: () => app.close(),
  };
}
