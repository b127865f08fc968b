/**
 * POST /webhooks/campaign/:clientId (spec §5), as a plain node:http handler: the service's hot path.
 *
 * Checks run cheapest-first and before the body is read: shutting down (503), IP allow-list (403),
 * authentication (401), client id (400), content type and encoding (415), declared size (413); then the body is
 * read (413 past 5 MB), parsed (400), and every element is stored durably before the 200 answer.
 *
 * Why not a plain fastify route: fastify's request/reply objects, hooks and content-type machinery
 * cost this route ~4.5 µs of CPU per request, 7 % of all the service spends on a single-event webhook
 * (docs/benchmarks.md, "Ingestion", session 3). So the server hands webhook POSTs straight to this
 * handler (`matchWebhookPath`),
 * and fastify keeps the rest (health, metrics, admin). The same handler is also mounted as a
 * fastify route that hijacks the request before fastify reads the body: paths the fast match leaves
 * alone (percent-encoded ids) and `app.inject` reach the one implementation either way.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BodyError, ingestEvents, parseBody, toIncomingEvents } from '../ingest/ingest.js';
import type { Logger } from '../log.js';
import type { AppDeps } from './app.js';
import { ipAllowList, webhookAuthenticator, webhookChallenge } from './auth.js';
import { BODY_LIMIT_BYTES, oneLine } from './one-line.js';

export const WEBHOOK_ROUTE = '/webhooks/campaign/:clientId';

/** Campaign client ids are int64. Leading zeros are dropped so "0042" and 42 in a body agree. */
const CLIENT_ID = /^\d{1,19}$/;

export function canonicalClientId(value: string): string | undefined {
  if (!CLIENT_ID.test(value)) return undefined;
  return value.replace(/^0+(?=\d)/, '');
}

/**
 * The client id segment of `/webhooks/campaign/<segment>[/][?query]`, or undefined for any other
 * URL. Segments with `%` are left to fastify's router, which decodes them and mounts this same handler.
 */
const WEBHOOK_PATH = /^\/webhooks\/campaign\/([^/?#%]+)\/?(?:\?|$)/;
export function matchWebhookPath(url: string): string | undefined {
  return WEBHOOK_PATH.exec(url)?.[1];
}

/** JSON media types we read: application/json, text/json and application/*+json, with any parameters. */
const JSON_MEDIA_TYPE = /^\s*(?:application\/json|text\/json|application\/[a-z0-9.+-]+\+json)\s*(?:;|$)/i;

export interface WebhookHandler {
  /** Handles one request whose path matched; `clientIdSegment` is the (decoded) path segment. */
  handle(req: IncomingMessage, res: ServerResponse, clientIdSegment: string): void;
  /** From now on answer 503 with `Connection: close` (graceful shutdown: the load balancer retries elsewhere). */
  startClosing(): void;
}

interface StatusMetrics {
  requests: { inc(): void };
  duration: { observe(value: number): void };
}

export function createWebhookHandler(deps: Pick<AppDeps, 'config' | 'store' | 'metrics'> & { logger: Logger }): WebhookHandler {
  const allowed = ipAllowList(deps.config.webhook.allowedIps);
  const authenticated = webhookAuthenticator(deps.config.webhook);
  const challenge = webhookChallenge(deps.config.webhook);
  const { metrics, store, logger } = deps;
  let closing = false;
  // The metric children per status, so a request does not hash its label set (prom-client's labels()).
  const byStatus = new Map<number, StatusMetrics>();

  function answer(res: ServerResponse, started: number, status: number, body: object, close = false): void {
    const text = JSON.stringify(body);
    const headers: Record<string, string | number> = { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) };
    if (close) headers.connection = 'close';
    if (status === 401 && challenge) headers['www-authenticate'] = challenge;
    res.writeHead(status, headers);
    res.end(text);
    let counter = byStatus.get(status);
    if (!counter) {
      counter = { requests: metrics.webhookRequests.labels(String(status)), duration: metrics.webhookDuration.labels(String(status)) };
      byStatus.set(status, counter);
    }
    counter.requests.inc();
    counter.duration.observe((performance.now() - started) / 1000);
  }

  /** After the body: parse, normalize, commit, answer. */
  async function ingest(res: ServerResponse, started: number, clientId: string, body: string): Promise<void> {
    let elements;
    try {
      elements = parseBody(body);
    } catch (err) {
      if (err instanceof BodyError) return answer(res, started, err.status, { error: err.message });
      throw err;
    }
    const events = toIncomingEvents(elements, clientId, 'webhook');
    let result;
    try {
      result = await ingestEvents(store, events, metrics);
    } catch (err) {
      // The store could not commit: not the sender's fault, and nothing was acknowledged.
      logger.error({ err, clientId, elements: events.length }, 'could not store webhook events');
      return answer(res, started, 503, { error: 'event store unavailable, retry later' });
    }
    if (result.quarantined > 0) {
      logger.warn({ clientId, quarantined: result.quarantined }, 'webhook elements quarantined (see GET /admin/events?state=quarantined)');
    }
    answer(res, started, 200, { received: result.received, accepted: result.accepted, duplicates: result.duplicates, quarantined: result.quarantined });
  }

  function failed(res: ServerResponse, started: number, err: unknown, url: string | undefined): void {
    logger.error({ err, url }, 'webhook request failed');
    if (!res.headersSent) answer(res, started, 500, { error: 'internal error' }, true);
    else res.destroy();
  }

  function handle(req: IncomingMessage, res: ServerResponse, clientIdSegment: string): void {
    const started = performance.now();
    if (closing) return answer(res, started, 503, { error: 'service is shutting down, retry later' }, true);
    const remoteAddress = req.socket.remoteAddress;
    if (!allowed(remoteAddress)) {
      logger.warn({ remoteAddress }, 'webhook from an address outside CRS_WEBHOOK_ALLOWED_IPS');
      return answer(res, started, 403, { error: 'address not allowed' });
    }
    const headers = req.headers;
    if (!authenticated(headers.authorization)) return answer(res, started, 401, { error: 'authentication required' });
    const clientId = canonicalClientId(clientIdSegment);
    if (clientId === undefined) return answer(res, started, 400, { error: 'client id must be numeric' });

    // As fastify does: no content type is fine only without a body; a body must be JSON.
    const contentType = headers['content-type'];
    const declaredLength = headers['content-length'];
    const hasBody = headers['transfer-encoding'] !== undefined || (declaredLength !== undefined && declaredLength !== '0');
    if (contentType === undefined ? hasBody : !JSON_MEDIA_TYPE.test(contentType)) {
      return answer(res, started, 415, { error: `Unsupported Media Type: ${contentType === undefined ? 'none' : oneLine(contentType, 100)}` });
    }
    // Compressed bodies are not read (Campaign does not send them); RFC 7694 answers them with 415.
    const encoding = headers['content-encoding'];
    if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
      return answer(res, started, 415, { error: `Unsupported Content-Encoding: ${oneLine(encoding, 100)} (send the JSON uncompressed)` });
    }
    if (declaredLength !== undefined && Number(declaredLength) > BODY_LIMIT_BYTES) {
      // Closing the connection spares us reading (and the sender sending) the rest.
      return answer(res, started, 413, { error: tooLarge() }, true);
    }

    // Read the body as bytes and decode once: a multi-byte character may straddle two chunks.
    let first: Buffer | undefined;
    let chunks: Buffer[] | undefined;
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) return;
      size += chunk.length;
      if (size > BODY_LIMIT_BYTES) {
        refused = true;
        first = undefined;
        chunks = undefined;
        answer(res, started, 413, { error: tooLarge() }, true);
        return;
      }
      if (first === undefined) first = chunk;
      else (chunks ??= [first]).push(chunk);
    });
    req.on('end', () => {
      if (refused) return;
      const body = chunks ? Buffer.concat(chunks, size).toString('utf8') : first ? first.toString('utf8') : '';
      ingest(res, started, clientId, body).catch((err: unknown) => failed(res, started, err, req.url));
    });
    // A sender that goes away mid-body: nothing was acknowledged, so nothing is stored.
    req.on('error', () => undefined);
  }

  return {
    handle(req, res, clientIdSegment) {
      try {
        handle(req, res, clientIdSegment);
      } catch (err) {
        failed(res, performance.now(), err, req.url);
      }
    },
    startClosing() {
      closing = true;
    },
  };
}

function tooLarge(): string {
  return `request body is too large (at most ${BODY_LIMIT_BYTES} bytes); send smaller batches`;
}

