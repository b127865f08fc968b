/**
 * Typed client for the Optimizely Campaign REST API — only the operations this product uses.
 * HTTP Basic auth with the API user, offset/limit paging, a timeout per request, back-off with
 * p-retry: 429 is always retried (after at least Retry-After), 5xx, network errors and timeouts only
 * for requests that are safe to repeat (GET, DELETE), so a create is never sent twice by us.
 * At most `maxConcurrentPerClient` requests per Campaign client are in flight at once in this process,
 * whoever calls and through whichever instance (the sync worker and the reconciliation each have one).
 */
import { request, type Dispatcher } from 'undici';
import pRetry from 'p-retry';
import type { z } from 'zod';
import {
  authenticatedUserSchema, issueText, pageOf, restCountSchema, restRecipientListSchema, restResponseSchema,
  restThresholdExceededSchema, restUnsubscribeSchema, restWebhookSchema, restWebhookVerifySchema, tolerantPageOf,
  type AuthenticatedUser, type PageElement, type ResponseCategory, type RestRecipientList, type RestResponse,
  type RestUnsubscribe, type RestWebhook, type RestWebhookVerify, type WebhookAuthentication,
  type WebhookRequestType,
} from './schemas.js';

export const DEFAULT_CAMPAIGN_API_URL = 'https://api.campaign.episerver.net/rest';
/** The API rejects `limit` ≥ 10000 with 400. */
export const MAX_LIMIT = 9999;
/**
 * Requests in flight per Campaign client. Campaign allows at most 10 simultaneous calls per client on
 * some endpoints (429 beyond); 4 leaves room for other tools using the same client.
 */
export const DEFAULT_MAX_CONCURRENT_PER_CLIENT = 4;

export interface CampaignClientOptions {
  /** REST base, e.g. https://api.campaign.episerver.net/rest (no client id). */
  baseUrl: string;
  user: string;
  password: string;
  /** Per attempt (headers and body), default 30 s. */
  timeoutMs?: number;
  /** Retries after the first attempt, default 5. */
  retries?: number;
  /** First back-off delay, default 1 s (doubles, randomized, capped at maxBackoffMs). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** Longest Retry-After we honour before giving up waiting (default 5 min). */
  maxRetryAfterMs?: number;
  /**
   * Requests in flight at once per client id (per REST base, shared by all instances of this process);
   * more wait their turn in call order. Default 4. The first instance to call a client id sets it.
   */
  maxConcurrentPerClient?: number;
  /** Injected for tests (records waits instead of sleeping). */
  sleep?: (ms: number) => Promise<void>;
  dispatcher?: Dispatcher;
}

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';
type Query = Record<string, string | number | boolean | readonly string[] | undefined>;

export class CampaignApiError extends Error {
  override readonly name = 'CampaignApiError';
  constructor(
    message: string,
    /** HTTP status; 0 for network errors and timeouts. */
    readonly status: number,
    readonly method: Method,
    /** Path below the base (no credentials, no host). */
    readonly path: string,
    readonly responseBody?: string,
    readonly retryable = false,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** Retry-After: delta seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (!v) return undefined;
  if (/^\s*\d+(\.\d+)?\s*$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

/** Per REST base and client id: Campaign's concurrency limit is per client, not per caller. */
const limiters = new Map<string, Limiter>();

/** Runs at most `max` tasks at once; the others wait in arrival order. */
class Limiter {
  private active = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(private readonly max: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active < this.max) this.active++;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next in line, so a newcomer cannot overtake the queue.
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

export class CampaignClient {
  private readonly base: string;
  private readonly authorization: string;
  private readonly opts: Required<Omit<CampaignClientOptions, 'dispatcher' | 'baseUrl' | 'user' | 'password'>> & { dispatcher?: Dispatcher };

  constructor(options: CampaignClientOptions) {
    if (!options.user || !options.password) throw new Error('Campaign REST credentials missing (CRS_CAMPAIGN_API_USER / CRS_CAMPAIGN_API_PASSWORD)');
    this.base = options.baseUrl.replace(/\/+$/, '');
    this.authorization = 'Basic ' + Buffer.from(`${options.user}:${options.password}`, 'utf8').toString('base64');
    this.opts = {
      timeoutMs: options.timeoutMs ?? 30_000,
      retries: options.retries ?? 5,
      minBackoffMs: options.minBackoffMs ?? 1000,
      maxBackoffMs: options.maxBackoffMs ?? 30_000,
      maxRetryAfterMs: options.maxRetryAfterMs ?? 300_000,
      maxConcurrentPerClient: Math.max(1, options.maxConcurrentPerClient ?? DEFAULT_MAX_CONCURRENT_PER_CLIENT),
      sleep: options.sleep ?? defaultSleep,
      dispatcher: options.dispatcher,
    };
  }

  // ---- users ---------------------------------------------------------------------------------

  /** Cheap credential check. */
  authenticatedUser(clientId: string): Promise<AuthenticatedUser> {
    return this.call('GET', `/${seg(clientId)}/users/authenticated`, { schema: authenticatedUserSchema });
  }

  // ---- webhooks ------------------------------------------------------------------------------

  async listWebhooks(clientId: string): Promise<RestWebhook[]> {
    return this.collect(`/${seg(clientId)}/webhooks`, { sort: 'CREATED', direction: 'ASC' }, restWebhookSchema, 100);
  }

  createWebhook(clientId: string, input: { type: WebhookRequestType; targetUrl: string; authentication: WebhookAuthentication }): Promise<RestWebhook> {
    return this.call('POST', `/${seg(clientId)}/webhooks`, {
      form: { type: input.type, format: 'json', targetUrl: input.targetUrl, authentication: JSON.stringify(input.authentication) },
      schema: restWebhookSchema,
    });
  }

  activateWebhook(clientId: string, webhookId: string): Promise<RestWebhook> {
    return this.call('POST', `/${seg(clientId)}/webhooks/${seg(webhookId)}/activate`, { schema: restWebhookSchema });
  }

  deactivateWebhook(clientId: string, webhookId: string): Promise<RestWebhook> {
    return this.call('POST', `/${seg(clientId)}/webhooks/${seg(webhookId)}/deactivate`, { schema: restWebhookSchema });
  }

  async deleteWebhook(clientId: string, webhookId: string): Promise<void> {
    await this.call('DELETE', `/${seg(clientId)}/webhooks/${seg(webhookId)}`, {});
  }

  /** Makes Campaign POST `numberOfEvents` sample events to the webhook's target URL. */
  async verifyWebhook(clientId: string, webhookId: string, input: { mailingId: string; numberOfEvents?: number }): Promise<RestWebhookVerify[]> {
    const result = await this.call('GET', `/${seg(clientId)}/webhooks/${seg(webhookId)}/verify`, {
      query: { mailingId: input.mailingId, numberOfEvents: input.numberOfEvents ?? 1 },
      schema: pageOf(restWebhookVerifySchema).or(restWebhookVerifySchema.transform((v) => [v])),
    });
    return result;
  }

  // ---- unsubscribes ----------------------------------------------------------------------------

  /** One page; a malformed element comes back as such (with its reason) instead of failing the page. */
  unsubscribes(clientId: string, q: { offset?: number; limit?: number; direction?: 'ASC' | 'DESC'; recipientIds?: readonly string[] } = {}): Promise<PageElement<RestUnsubscribe>[]> {
    return this.call('GET', `/${seg(clientId)}/unsubscribes`, {
      query: { offset: q.offset ?? 0, limit: q.limit ?? 100, sort: 'created', direction: q.direction ?? 'DESC', recipientIds: q.recipientIds },
      schema: tolerantPageOf(restUnsubscribeSchema),
    });
  }

  /**
   * Unsubscribes newest first, page by page; the consumer stops iterating when it has seen enough.
   * Offset paging over a list that changes between two reads skips entries (one removed above a page
   * boundary moves the next one onto the page already read). So each page after the first starts with
   * the previous page's last element: found at index i, the list is where we left it (i > 0: new entries
   * arrived above, the first i are re-reads and are not yielded again); not found, entries above were
   * removed and some may have moved past us unseen — `onListMoved` is called and paging goes on (the
   * caller must not trust this run to have seen everything). Ends when a page is not full.
   */
  async *unsubscribesNewestFirst(clientId: string, pageSize = 500, onListMoved?: (offset: number) => void): AsyncGenerator<PageElement<RestUnsubscribe>> {
    const limit = Math.max(2, Math.min(pageSize, MAX_LIMIT)); // one element of each page is the overlap
    let previousLast: string | undefined;
    for (let offset = 0; ; offset += limit - 1) {
      const page = await this.unsubscribes(clientId, { offset, limit, direction: 'DESC' });
      let from = 0;
      if (previousLast !== undefined) {
        const at = page.findIndex((e) => elementText(e.raw) === previousLast);
        if (at < 0) onListMoved?.(offset);
        else from = at + 1;
      }
      yield* page.slice(from);
      if (page.length < limit) return;
      previousLast = elementText(page[page.length - 1]!.raw);
    }
  }

  // ---- responses and bounces -----------------------------------------------------------------

  /**
   * Responses of one category for a mailing (or for recipients). The endpoint has no offset: `limit` caps it.
   * A malformed element comes back as such (with its reason) instead of failing the whole answer.
   */
  responses(clientId: string, q: { category: ResponseCategory; mailingId?: string; recipientIds?: readonly string[]; limit?: number }): Promise<PageElement<RestResponse>[]> {
    if (!q.mailingId && !q.recipientIds?.length) throw new Error('responses: mailingId or recipientIds is required');
    return this.call('GET', `/${seg(clientId)}/responses`, {
      query: { category: q.category, mailingId: q.mailingId, recipientIds: q.recipientIds, limit: Math.min(q.limit ?? MAX_LIMIT, MAX_LIMIT) },
      schema: tolerantPageOf(restResponseSchema),
    });
  }

  async bounceCounter(clientId: string, recipientId: string, category: 'hardbounce' | 'softbounce'): Promise<number> {
    const r = await this.call('GET', `/${seg(clientId)}/responses/bounces/${seg(recipientId)}`, { query: { category }, schema: restCountSchema });
    return r.count;
  }

  /** The client's bounce threshold (bounces allowed before a recipient is outbounced). */
  async bounceThreshold(clientId: string, category: 'hardbounce' | 'softbounce'): Promise<number> {
    const r = await this.call('GET', `/${seg(clientId)}/responses/bounces`, { query: { category }, schema: restCountSchema });
    return r.count;
  }

  /** True when the recipient is outbounced (hard or soft bounce threshold exceeded). */
  async bounceThresholdExceeded(clientId: string, recipientId: string): Promise<boolean> {
    const r = await this.call('GET', `/${seg(clientId)}/responses/bounces/${seg(recipientId)}/thresholdExceeded`, { schema: restThresholdExceededSchema });
    return r.exceeded;
  }

  // ---- recipient lists -----------------------------------------------------------------------

  recipientLists(clientId: string): Promise<RestRecipientList[]> {
    return this.collect(`/${seg(clientId)}/recipientlists`, {}, restRecipientListSchema, 100);
  }

  // ---- plumbing --------------------------------------------------------------------------------

  /** Reads every page of an offset/limit collection. */
  private async collect<T extends z.ZodType>(path: string, query: Query, item: T, limit: number): Promise<z.output<T>[]> {
    const all: z.output<T>[] = [];
    for (let offset = 0; ; offset += limit) {
      const page = (await this.call('GET', path, { query: { ...query, offset, limit }, schema: pageOf(item) })) as z.output<T>[];
      all.push(...page);
      if (page.length < limit) return all;
    }
  }

  private limiter(clientId: string): Limiter {
    const key = `${this.base}\n${clientId}`;
    let l = limiters.get(key);
    if (!l) limiters.set(key, (l = new Limiter(this.opts.maxConcurrentPerClient)));
    return l;
  }

  private url(path: string, query?: Query): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v === undefined) continue;
      if (Array.isArray(v)) {
        if (v.length) params.set(k, v.join(','));
      } else params.set(k, String(v));
    }
    const qs = params.toString();
    return `${this.base}${path}${qs ? `?${qs}` : ''}`;
  }

  private call<S extends z.ZodType>(method: Method, path: string, o: { query?: Query; form?: Record<string, string>; schema: S }): Promise<z.output<S>>;
  private call(method: Method, path: string, o: { query?: Query; form?: Record<string, string> }): Promise<unknown>;
  private async call(method: Method, path: string, o: { query?: Query; form?: Record<string, string>; schema?: z.ZodType }): Promise<unknown> {
    const url = this.url(path, o.query);
    const repeatable = method === 'GET' || method === 'DELETE' || method === 'PUT';
    const headers: Record<string, string> = {
      authorization: this.authorization,
      accept: 'application/json',
      'user-agent': 'campaign-response-sync',
    };
    const body = o.form ? new URLSearchParams(o.form).toString() : undefined;
    if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    // Every path starts with the client id; only the HTTP exchange holds a slot, not the back-off waits.
    const limiter = this.limiter(path.split('/')[1] ?? '');

    const attempt = async (): Promise<unknown> => {
      let res: Dispatcher.ResponseData;
      let text: string;
      try {
        ({ res, text } = await limiter.run(async () => {
          const r = await request(url, { method, headers, body, signal: AbortSignal.timeout(this.opts.timeoutMs), dispatcher: this.opts.dispatcher });
          return { res: r, text: await r.body.text() };
        }));
      } catch (err) {
        const timedOut = (err as Error).name === 'TimeoutError' || (err as Error).name === 'AbortError';
        const why = timedOut ? `timed out after ${this.opts.timeoutMs} ms` : `network error: ${(err as Error).message}`;
        throw new CampaignApiError(`Campaign ${method} ${path}: ${why}`, 0, method, path, undefined, repeatable);
      }
      if (res.statusCode >= 200 && res.statusCode < 300) {
        if (!o.schema) return undefined;
        let json: unknown;
        try {
          json = text === '' ? null : JSON.parse(text);
        } catch {
          throw new CampaignApiError(`Campaign ${method} ${path}: response is not JSON`, res.statusCode, method, path, text.slice(0, 500));
        }
        const parsed = o.schema.safeParse(json);
        if (!parsed.success) {
          throw new CampaignApiError(
            `Campaign ${method} ${path}: unexpected response shape (${issueText(parsed.error)})`,
            res.statusCode, method, path, text.slice(0, 500),
          );
        }
        return parsed.data;
      }
      const retryable = res.statusCode === 429 || (res.statusCode >= 500 && repeatable);
      const retryAfterMs = parseRetryAfter(res.headers['retry-after']);
      const detail = text.trim().replace(/\s+/g, ' ').slice(0, 200);
      throw new CampaignApiError(
        `Campaign ${method} ${path}: HTTP ${res.statusCode}${detail ? ` ${detail}` : ''}`,
        res.statusCode, method, path, text.slice(0, 2000), retryable, retryAfterMs,
      );
    };

    return pRetry(attempt, {
      retries: this.opts.retries,
      minTimeout: this.opts.minBackoffMs,
      maxTimeout: this.opts.maxBackoffMs,
      factor: 2,
      randomize: this.opts.minBackoffMs > 0,
      shouldRetry: ({ error }) => error instanceof CampaignApiError && error.retryable,
      onFailedAttempt: async ({ error, retriesLeft }) => {
        // Honour Retry-After (at least that long) before p-retry's own back-off adds its delay.
        if (error instanceof CampaignApiError && error.retryable && retriesLeft > 0 && error.retryAfterMs !== undefined) {
          if (error.retryAfterMs > this.opts.maxRetryAfterMs) throw error;
          await this.opts.sleep(error.retryAfterMs);
        }
      },
    });
  }
}

/** Identity of a page element for the overlap check: its JSON as Campaign sent it (parsed and re-serialized). */
function elementText(raw: unknown): string {
  return JSON.stringify(raw) ?? '';
}

/** A path segment (recipient ids are email addresses: `+`, `@`, `/` must be encoded). */
function seg(value: string): string {
  return encodeURIComponent(value);
}
