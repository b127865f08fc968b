/**
 * The HTTP application (fastify): webhooks, health, metrics and the admin API. `buildApp` only
 * wires routes to its dependencies; it opens nothing itself, so tests can pass a fake store.
 *
 * Every error answer is one line of JSON: `{"error":"<reason>"}`. Bad input gets a 4xx, never a 5xx.
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import type { Config } from '../config.js';
import { DeferredChildLogger, type Logger } from '../log.js';
import type { Metrics } from '../metrics.js';
import type { EventStore } from '../store/types.js';
import type { BackgroundTask } from '../tasks.js';
import { registerEligibilityRoute } from '../campaign/eligibility-route.js';
import { registerAdminRoutes } from './admin.js';
import { registerHealthRoutes, type ReadinessCheck } from './health.js';
import { registerWebhookRoutes } from './webhook.js';

/** Spec §5: bodies over 5 MB get 413. */
export const BODY_LIMIT_BYTES = 5 * 1024 * 1024;

export interface AppDeps {
  config: Pick<Config, 'webhook' | 'adminToken' | 'demoMode'> & Partial<Pick<Config, 'dataverse'>>;
  store: EventStore;
  logger: Logger;
  metrics: Metrics;
  /** Running background tasks; /admin/status shows each one's status() under its name. */
  tasks?: readonly BackgroundTask[];
  /** Extra readiness conditions besides a writable store (e.g. "a Dataverse token can be had"). */
  readinessChecks?: readonly ReadinessCheck[];
}

export function oneLine(message: string, max = 300): string {
  const s = message.replace(/\s+/g, ' ').trim();
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger.child({ component: 'http' }) as FastifyBaseLogger,
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
    const sweep = setInterval(() => app.server.closeIdleConnections(), 50).unref();
    app.server.once('close', () => clearInterval(sweep));
  });

  registerHealthRoutes(app, deps);
  registerWebhookRoutes(app, deps);
  if (deps.config.adminToken) registerAdminRoutes(app, deps, deps.config.adminToken);
  // GET /admin/eligibility (R6): reads Dataverse; registered only with the admin token, like the rest of /admin.
  registerEligibilityRoute(app, { adminToken: deps.config.adminToken, dataverseSettings: deps.config.dataverse });
  await app.ready();
  return app;
}
