/**
 * POST /webhooks/campaign/:clientId (spec §5). Checks run cheapest-first and before the body is
 * read: IP allow-list (403), authentication (401), client id (400); then fastify enforces the
 * content type (415) and the 5 MB limit (413); then the body is parsed (400) and every element is
 * stored durably before the 200 answer.
 */
import type { FastifyInstance } from 'fastify';
import { BodyError, ingestEvents, parseBody, toIncomingEvents } from '../ingest/ingest.js';
import type { AppDeps } from './app.js';
import { ipAllowList, webhookAuthenticator, webhookChallenge } from './auth.js';

/** Campaign client ids are int64. Leading zeros are dropped so "0042" and 42 in a body agree. */
const CLIENT_ID = /^\d{1,19}$/;

export function canonicalClientId(value: string): string | undefined {
  if (!CLIENT_ID.test(value)) return undefined;
  return value.replace(/^0+(?=\d)/, '');
}

export function registerWebhookRoutes(app: FastifyInstance, deps: AppDeps): void {
  const allowed = ipAllowList(deps.config.webhook.allowedIps);
  const authenticated = webhookAuthenticator(deps.config.webhook);
  const challenge = webhookChallenge(deps.config.webhook);
  const { metrics, store } = deps;
  // The metric children per status, so a request does not hash its label set (prom-client's labels()).
  const requestsByStatus = new Map<number, { requests: { inc(): void }; duration: { observe(value: number): void } }>();

  app.post<{ Params: { clientId: string }; Body: string | undefined }>(
    '/webhooks/campaign/:clientId',
    {
      // Callback-style hooks, not async ones: each async hook costs a promise and a microtask turn
      // per request, and this route is the service's hot path.
      onRequest: (req, reply, done) => {
        // Answering without calling done() ends the request here.
        if (!allowed(req.socket.remoteAddress)) {
          req.log.warn({ remoteAddress: req.socket.remoteAddress }, 'webhook from an address outside CRS_WEBHOOK_ALLOWED_IPS');
          reply.code(403).send({ error: 'address not allowed' });
          return;
        }
        if (!authenticated(req.headers.authorization)) {
          if (challenge) reply.header('www-authenticate', challenge);
          reply.code(401).send({ error: 'authentication required' });
          return;
        }
        if (canonicalClientId(req.params.clientId) === undefined) {
          reply.code(400).send({ error: 'client id must be numeric' });
          return;
        }
        done();
      },
      onResponse: (_req, reply, done) => {
        const status = reply.statusCode;
        let counter = requestsByStatus.get(status);
        if (!counter) {
          counter = { requests: metrics.webhookRequests.labels(String(status)), duration: metrics.webhookDuration.labels(String(status)) };
          requestsByStatus.set(status, counter);
        }
        counter.requests.inc();
        counter.duration.observe(reply.elapsedTime / 1000);
        done();
      },
    },
    async (req, reply) => {
      const clientId = canonicalClientId(req.params.clientId)!;
      let elements;
      try {
        elements = parseBody(typeof req.body === 'string' ? req.body : '');
      } catch (err) {
        if (err instanceof BodyError) return reply.code(err.status).send({ error: err.message });
        throw err;
      }
      const events = toIncomingEvents(elements, clientId, 'webhook');
      let result;
      try {
        result = await ingestEvents(store, events, metrics);
      } catch (err) {
        // The store could not commit: not the sender's fault, and nothing was acknowledged.
        req.log.error({ err, clientId, elements: events.length }, 'could not store webhook events');
        return reply.code(503).send({ error: 'event store unavailable, retry later' });
      }
      if (result.quarantined > 0) {
        req.log.warn({ clientId, quarantined: result.quarantined }, 'webhook elements quarantined (see GET /admin/events?state=quarantined)');
      }
      return {
        received: result.received,
        accepted: result.accepted,
        duplicates: result.duplicates,
        quarantined: result.quarantined,
      };
    },
  );
}
