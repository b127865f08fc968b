/** GET /healthz (process alive), GET /readyz (store writable + readiness checks), GET /metrics. */
import type { FastifyInstance } from 'fastify';
import type { AppDeps } from './app.js';

export interface ReadinessCheck {
  name: string;
  /** Resolves when ready; rejects with the reason otherwise. */
  check(): Promise<void>;
}

const CHECK_TIMEOUT_MS = 5_000;

async function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      p,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms / 1000} s`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function registerHealthRoutes(app: FastifyInstance, deps: AppDeps): void {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const checks: ReadinessCheck[] = [{ name: 'store', check: () => deps.store.ping() }, ...(deps.readinessChecks ?? [])];
    for (const c of checks) {
      try {
        await withTimeout(c.check(), CHECK_TIMEOUT_MS);
      } catch (err) {
        const reason = `${c.name}: ${String((err as Error)?.message ?? err).replace(/\s+/g, ' ').slice(0, 200)}`;
        return reply.code(503).send({ status: 'unavailable', reason });
      }
    }
    return { status: 'ready' };
  });

  app.get('/metrics', async (_req, reply) => {
    const text = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(text);
  });
}
