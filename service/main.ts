/**
 * The service process: open the store (migrations run), set up demo mode when there is no
 * Dataverse, start HTTP, then the background tasks. `stop()` (SIGTERM/SIGINT via runService) stops
 * accepting, lets in-flight requests finish, stops the tasks (they release their leases) and closes
 * the store.
 */
import type { Server as HttpsServer } from 'node:https';
import type { FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { MsalTokenProvider, loadClientCertificate } from './dataverse/auth.js';
import { buildApp } from './http/app.js';
import type { ReadinessCheck } from './http/health.js';
import { readTlsMaterial, type TlsMaterial } from './http/tls.js';
import { createLogger, maskUrlCredentials, type Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics.js';
import { openStore } from './store/index.js';
import type { EventStore } from './store/types.js';
import { createBackgroundTasks, type BackgroundTask } from './tasks.js';

/** What demo-mode setup hands back: e.g. the bundled Dataverse emulator it started. */
export interface DemoSetup {
  /** Replacement configuration (e.g. CRS_DATAVERSE_URL pointing at the emulator) for the tasks. */
  config?: Config;
  readinessChecks?: ReadinessCheck[];
  stop?(): Promise<void>;
}

export type DemoHook = (ctx: { config: Config; store: EventStore; logger: Logger; metrics: Metrics }) => Promise<DemoSetup | void>;

/**
 * Demo mode (CRS_DATAVERSE_URL unset). The hook point for the bundled Dataverse emulator: start it
 * here and return a config whose dataverse settings point at it. Until then, ingestion works and
 * delivery is off.
 */
export const defaultDemoHook: DemoHook = async ({ logger }) => {
  logger.warn('demo mode: Dataverse delivery is not configured (set CRS_DATAVERSE_URL); webhooks are received and stored, not delivered');
};

export interface StartOptions {
  logger?: Logger;
  /** Replaces defaultDemoHook (tests, emulator wiring). */
  demoHook?: DemoHook;
  /** Grace period for in-flight requests and task shutdown. */
  shutdownTimeoutMs?: number;
}

export interface RunningService {
  app: FastifyInstance;
  port: number;
  url: string;
  config: Config;
  store: EventStore;
  tasks: BackgroundTask[];
  logger: Logger;
  /** Graceful shutdown; safe to call more than once. */
  stop(reason?: string): Promise<void>;
  /**
   * With CRS_TLS_CERT_PATH: loads the certificate and key again from their files (SIGHUP, after a
   * renewal); new connections get the new pair, open ones keep theirs. Throws, keeping the pair in
   * use, when the files cannot be served. Undefined without TLS.
   */
  reloadTls(): TlsMaterial | undefined;
}

/** A certificate this close to its end gets a warning at every (re)load. */
const TLS_EXPIRY_WARNING_MS = 14 * 86_400_000;

/** Readiness: "a Dataverse token can be had" (spec §5). Tokens are cached by msal, so this is cheap. */
function dataverseTokenCheck(config: Config): ReadinessCheck | undefined {
  const { url, tenantId, clientId, clientSecret, clientCertPath, authorityHost } = config.dataverse;
  if (!url || !tenantId || !clientId) return undefined;
  const provider = new MsalTokenProvider({
    authorityHost,
    tenantId,
    clientId,
    dataverseUrl: url,
    ...(clientCertPath ? { certificate: loadClientCertificate(clientCertPath) } : { clientSecret }),
  });
  return {
    name: 'dataverse',
    check: async () => {
      await provider.getToken();
    },
  };
}

export async function startService(initialConfig: Config, opts: StartOptions = {}): Promise<RunningService> {
  const logger = opts.logger ?? createLogger({ level: initialConfig.logLevel });
  let config = initialConfig;
  for (const warning of config.warnings) logger.warn(warning);

  const store = await openStore(config.storeUrl);
  logger.info({ engine: store.engine, store: maskUrlCredentials(config.storeUrl) }, `event store ready (${store.engine})`);
  const metrics = createMetrics();
  metrics.bindStore(store);

  const cleanups: (() => Promise<void>)[] = [() => store.close()];
  const readinessChecks: ReadinessCheck[] = [];
  try {
    if (config.demoMode) {
      logger.info('demo mode: CRS_DATAVERSE_URL is unset');
      const demo = await (opts.demoHook ?? defaultDemoHook)({ config, store, logger, metrics });
      if (demo) {
        if (demo.config) config = demo.config;
        if (demo.readinessChecks) readinessChecks.push(...demo.readinessChecks);
        if (demo.stop) cleanups.unshift(demo.stop);
      }
    } else {
      const tokenCheck = dataverseTokenCheck(config);
      if (tokenCheck) readinessChecks.push(tokenCheck);
    }

    const tasks = await createBackgroundTasks({ config, store, logger, metrics });
    const app = await buildApp({ config, store, logger, metrics, tasks, readinessChecks });
    await app.listen({ port: config.port, host: config.host });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    const host = config.host.includes(':') ? `[${config.host}]` : config.host;
    const url = `${config.tls ? 'https' : 'http'}://${host}:${port}`;
    logger.info({ port, host: config.host, url, demoMode: config.demoMode }, `listening on ${url}`);

    const tlsFiles = config.tls;
    const reloadTls = (): TlsMaterial | undefined => {
      if (!tlsFiles) return undefined;
      const material = readTlsMaterial(tlsFiles);
      (app.server as unknown as HttpsServer).setSecureContext({ cert: material.cert, key: material.key });
      metrics.setTlsCertificateExpiry(material.validTo);
      const validTo = material.validTo.toISOString();
      if (material.validTo.getTime() - Date.now() < TLS_EXPIRY_WARNING_MS) {
        logger.warn({ subject: material.subject, validTo }, `TLS certificate ${material.subject} ends ${validTo}: renew it, then send SIGHUP`);
      } else {
        logger.info({ subject: material.subject, validTo }, `TLS certificate ${material.subject}, valid until ${validTo}`);
      }
      return material;
    };
    reloadTls();

    const started: BackgroundTask[] = [];
    for (const task of tasks) {
      await task.start();
      started.push(task);
      logger.info({ task: task.name }, `background task ${task.name} started`);
    }

    let stopping: Promise<void> | undefined;
    const stop = (reason = 'stop requested') => {
      stopping ??= (async () => {
        logger.info({ reason }, 'shutting down: no new requests, finishing in-flight ones');
        const timeoutMs = opts.shutdownTimeoutMs ?? 10_000;
        const timer = setTimeout(() => {
          logger.warn('shutdown grace period over: closing open connections');
          app.server.closeAllConnections();
        }, timeoutMs);
        try {
          await app.close();
          for (const task of [...started].reverse()) {
            try {
              await task.stop();
            } catch (err) {
              logger.error({ err, task: task.name }, 'background task did not stop cleanly');
            }
          }
        } finally {
          clearTimeout(timer);
          for (const cleanup of cleanups) await cleanup().catch((err: unknown) => logger.error({ err }, 'cleanup failed'));
        }
        logger.info('stopped');
      })();
      return stopping;
    };
    return { app, port, url, config, store, tasks, logger, stop, reloadTls };
  } catch (err) {
    for (const cleanup of cleanups) await cleanup().catch(() => undefined);
    throw err;
  }
}

/** `crs serve`: start, and shut down gracefully on SIGTERM/SIGINT (a second signal exits at once). */
export async function runService(config: Config, opts: StartOptions = {}): Promise<RunningService> {
  const service = await startService(config, opts);
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      service.logger.warn({ signal }, 'second signal: exiting without waiting');
      process.exit(1);
    }
    service
      .stop(signal)
      .then(() => process.exit(0))
      .catch((err: unknown) => {
        service.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      });
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // With TLS, SIGHUP loads a renewed certificate (as nginx does); without, it keeps its default (exit).
  if (service.config.tls) {
    process.on('SIGHUP', () => {
      try {
        service.reloadTls();
      } catch (err) {
        service.logger.error({ err }, `TLS certificate not reloaded, the previous one is still served: ${(err as Error).message}`);
      }
    });
  }
  return service;
}
