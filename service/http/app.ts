/**
 * The HTTP application: webhooks, health, metrics and the admin API. `buildApp` only wires routes to
 * their dependencies; it opens nothing itself, so tests can pass a fake store. Fastify owns the
 * server; webhook POSTs go from the server straight to their own handler (webhook.ts says why).
 *
 * Every error answer is one line of JSON: `{"error":"<reason>"}`. Bad input gets a 4xx, never a 5xx.
 */
import { createServer, type IncomingMessage, type RequestListener, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Config } from '../config.js';
import { DeferredChildLogger, type Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { EventStore } from '../store/types.js';
import type { BackgroundTask } from '../tasks.js';
import { registerEligibilityRoute } from '../campaign/eligibility-route.js';
import { registerAdminRoutes } from './admin.js';
import { registerHealthRoutes, type ReadinessCheck } from './health.js';
import { BODY_LIMIT_BYTES, oneLine } from './one-line.js';
import { readTlsMaterial } from './tls.js';
import { createWebhookHandler, matchWebhookPath, WEBHOOK_ROUTE } from './webhook.js';

export interface AppDeps {
  config: Pick<Config, 'webhook' | 'adminToken' | 'demoMode'> & Partial<Pick<Config, 'dataverse' | 'tls'>>;
  store: EventStore;
  logger: Logger;
  metrics: Metrics;
  /** Running background tasks; /admin/status shows each one's status() under its name. */
  tasks?: readonly BackgroundTask[];
  /** Extra readiness conditions besides a writable store (e.g. "a Dataverse token can be had"). */
  readinessChecks?: readonly ReadinessCheck[];
  /** Most time a client may take to send one whole request (headers and body); default REQUEST_TIMEOUT_MS. */
  requestTimeoutMs?: number;
}

/**
 * A sender that trickles a request (or never finishes it) is cut off with 408 after this long, so slow
 * or stalled connections cannot pile up. 60 s still lets a 5 MB batch arrive at ~90 KB/s.
 */
export const REQUEST_TIMEOUT_MS = 60_000;

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const httpLogger = deps.logger.child({ component: 'http' });
  const webhook = createWebhookHandler({ ...deps, logger: httpLogger });

  // The server fastify would create, with webhook POSTs taken off before fastify. Unlike fastify's
  // default (no limit), a whole request must arrive within the request timeout; node checks it every
  // connectionsCheckingInterval, so a stalled request is cut off after 1 to 1.5 times the timeout.
  const requestTimeout = deps.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  // HTTPS when the service terminates TLS itself (CRS_TLS_CERT_PATH); the same handlers either way.
  const tls = deps.config.tls ? readTlsMaterial(deps.config.tls) : undefined;
  const serverFactory = (fastifyHandler: RequestListener, options: FastifyServerOptions) => {
    const serverOptions = { requestTimeout, connectionsCheckingInterval: Math.max(10, Math.min(30_000, Math.ceil(requestTimeout / 2))) };
    const listener = (req: IncomingMessage, res: ServerResponse) => {
      const clientIdSegment = req.method === 'POST' && req.url !== undefined ? matchWebhookPath(req.url) : undefined;
      if (clientIdSegment === undefined) fastifyHandler(req, res);
      else webhook.handle(req, res, clientIdSegment);
    };
    const server = tls ? createHttpsServer({ ...serverOptions, cert: tls.cert, key: tls.key }, listener) : createServer(serverOptions, listener);
    server.keepAliveTimeout = options.keepAliveTimeout ?? 72_000;
    server.setTimeout(options.connectionTimeout ?? 0);
    return server;
  };

  const app = Fastify({
    serverFactory,
    loggerInstance: httpLogger as FastifyBaseLogger,
    // Per-request logs would cost more than the request itself; metrics count requests instead.
    logController: new LogController({ disableRequestLogging: true }),
    childLoggerFactory: (logger, bindings, options) => new DeferredChildLogger(logger as Logger, bindings, options) as unknown as FastifyBaseLogger,
    bodyLimit: BODY_LIMIT_BYTES,
    routerOptions: { ignoreTrailingSlash: true, maxParamLength: 1000 },
    return503OnClosing: true,
  });

  // Bodies arrive as text and are parsed by the routes, so the raw element text can be kept exactly
  // and every parse error is ours to word. Anything not JSON gets 415 from fastify.
  app.removeAllContentTypeParsers();
  const asText = { parseAs: 'string' as const, bodyLimit: BODY_LIMIT_BYTES };
  const keepText = (_req: unknown, body: string | Buffer, done: (err: null, body: string) => void) => done(null, String(body));
  app.addContentTypeParser(['application/json', 'text/json'], asText, keepText);
  app.addContentTypeParser(/^application\/[a-z0-9.+-]+\+json$/i, asText, keepText);

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) {
      req.log.error({ err, url: req.routeOptions.url }, 'request failed');
      return reply.code(status).send({ error: 'internal error' });
    }
    return reply.code(status).send({ error: oneLine(err.message) });
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: 'not found' }));

  // Graceful close: requests in flight finish, but their keep-alive connections turn idle only
  // afterwards, when close() has already swept idle ones; sweep again until the server is closed.
  app.addHook('preClose', async () => {
    webhook.startClosing();
    const sweep = setInterval(() => app.server.closeIdleConnections(), 50).unref();
    app.server.once('close', () => clearInterval(sweep));
  });

  registerHealthRoutes(app, deps);
  // The webhook as a route too, for what the server's fast match leaves to the router (percent-encoded
  // ids) and for app.inject: hijacked before fastify reads the body, so the one handler reads it.
  app.post<{ Params: { clientId: string } }>(WEBHOOK_ROUTE, {
    onRequest: (req, reply) => {
      reply.hijack();
      webhook.handle(req.raw, reply.raw, req.params.clientId);
    },
  }, () => undefined);
  if (deps.config.adminToken) registerAdminRoutes(app, deps, deps.config.adminToken);
  // GET /admin/eligibility (R6): reads Dataverse; registered only with the admin token, like the rest of /admin.
  registerEligibilityRoute(app, { adminToken: deps.config.adminToken, dataverseSettings: deps.config.dataverse });
  await app.ready();
  return app;
}
