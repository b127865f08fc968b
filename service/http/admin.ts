/**
 * The admin API (spec §5), Bearer CRS_ADMIN_TOKEN; not registered at all (404) when the token is unset.
 *   GET  /admin/status              counts per state, oldest pending age, last received/applied, task status
 *   GET  /admin/events?state=&limit=&offset=   events in a state, newest first
 *   POST /admin/replay {"state": s} | {"ids": [...]}   re-normalize stored raw payloads and requeue
 */
import type { FastifyInstance } from 'fastify';
import { MAX_REPLAY, replayEvents, type ReplaySelector } from '../ingest/ingest.js';
import { EVENT_STATES, type EventState, type EventStore, type StoredEvent } from '../store/types.js';
import type { BackgroundTask } from '../tasks.js';
import type { AppDeps } from './app.js';
import { bearerAuthenticator } from './auth.js';

export interface ServiceStatus {
  events: { received: number; pending: number; applied: number; ignored: number; unmatched: number; quarantined: number; deadLetter: number };
  oldestPendingAgeSeconds: number | null;
  lastReceivedAt: string | null;
  lastAppliedAt: string | null;
  [task: string]: unknown;
}

/** The /admin/status document (also used by `crs status`). Each task's status() is merged under its name. */
export async function readStatus(store: EventStore, tasks: readonly BackgroundTask[] = [], now = new Date()): Promise<ServiceStatus> {
  const [counts, oldest, lastReceived, lastApplied] = await Promise.all([
    store.counts(),
    store.oldestPendingReceivedAt(),
    store.lastReceivedAt(),
    store.lastAppliedAt(),
  ]);
  const status: ServiceStatus = {
    events: {
      received: counts.received,
      pending: counts.pending,
      applied: counts.applied,
      ignored: counts.ignored,
      unmatched: counts.unmatched,
      quarantined: counts.quarantined,
      deadLetter: counts.deadLetter,
    },
    oldestPendingAgeSeconds: oldest ? Math.max(0, Math.floor((now.getTime() - oldest.getTime()) / 1000)) : null,
    lastReceivedAt: lastReceived?.toISOString() ?? null,
    lastAppliedAt: lastApplied?.toISOString() ?? null,
  };
  for (const task of tasks) {
    if (!task.status || task.name in status) continue;
    try {
      status[task.name] = task.status();
    } catch (err) {
      status[task.name] = { error: String((err as Error)?.message ?? err) };
    }
  }
  return status;
}

/** An event as the admin API shows it: the raw text parsed back when possible. */
export function eventView(e: StoredEvent): Record<string, unknown> {
  let raw: unknown = e.raw;
  try {
    raw = JSON.parse(e.raw);
  } catch {
    // keep the text
  }
  return {
    id: e.id,
    clientId: e.clientId,
    state: e.state,
    receivedAt: e.receivedAt,
    attempts: e.attempts,
    lastError: e.lastError,
    nextAttemptAt: e.nextAttemptAt,
    firstUnmatchedAt: e.firstUnmatchedAt,
    dedupKey: e.dedupKey,
    normalized: e.normalized,
    raw,
  };
}

function isState(value: unknown): value is EventState {
  return typeof value === 'string' && (EVENT_STATES as readonly string[]).includes(value);
}

function intParam(value: unknown, fallback: number, min: number, max: number): number | undefined {
  if (value === undefined || value === '') return fallback;
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return undefined;
  const n = Number(value);
  return n >= min && n <= max ? n : undefined;
}

/** Parses the replay body; returns a selector or a one-line error. */
export function parseReplayRequest(body: unknown): ReplaySelector | { error: string } {
  const usage = 'body must be {"state": "<state>"} or {"ids": ["<id>", …]}';
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { error: usage };
  const b = body as Record<string, unknown>;
  const hasState = Object.hasOwn(b, 'state');
  const hasIds = Object.hasOwn(b, 'ids');
  if (hasState === hasIds) return { error: usage };
  if (hasState) {
    if (!isState(b.state)) return { error: `state must be one of ${EVENT_STATES.join(', ')}` };
    return { state: b.state };
  }
  const ids = b.ids;
  if (!Array.isArray(ids) || ids.length === 0 || ids.length > MAX_REPLAY) {
    return { error: `ids must be a non-empty array of at most ${MAX_REPLAY} event ids` };
  }
  const texts = ids.map((id) => (typeof id === 'number' && Number.isSafeInteger(id) ? String(id) : id));
  if (!texts.every((id): id is string => typeof id === 'string' && /^\d{1,19}$/.test(id))) {
    return { error: 'ids must be event ids (numbers as text)' };
  }
  return { ids: texts };
}

export function registerAdminRoutes(app: FastifyInstance, deps: AppDeps, adminToken: string): void {
  const authenticated = bearerAuthenticator(adminToken);
  const { store } = deps;

  app.register(
    async (admin) => {
      admin.addHook('onRequest', async (req, reply) => {
        if (!authenticated(req.headers.authorization)) {
          reply.header('www-authenticate', 'Bearer realm="crs-admin"');
          return reply.code(401).send({ error: 'admin token required' });
        }
      });

      admin.get('/status', async () => readStatus(store, deps.tasks ?? []));

      admin.get<{ Querystring: Record<string, string | undefined> }>('/events', async (req, reply) => {
        const { state } = req.query;
        if (!isState(state)) return reply.code(400).send({ error: `state must be one of ${EVENT_STATES.join(', ')}` });
        const limit = intParam(req.query.limit, 100, 1, 1000);
        const offset = intParam(req.query.offset, 0, 0, Number.MAX_SAFE_INTEGER);
        if (limit === undefined) return reply.code(400).send({ error: 'limit must be a whole number from 1 to 1000' });
        if (offset === undefined) return reply.code(400).send({ error: 'offset must be a whole number' });
        const events = await store.list(state, limit, offset);
        return { state, limit, offset, events: events.map(eventView) };
      });

      admin.post<{ Body: string | undefined }>('/replay', async (req, reply) => {
        let body: unknown;
        try {
          body = JSON.parse(typeof req.body === 'string' && req.body.trim() !== '' ? req.body : 'null');
        } catch {
          return reply.code(400).send({ error: 'invalid JSON' });
        }
        const selector = parseReplayRequest(body);
        if ('error' in selector) return reply.code(400).send({ error: selector.error });
        const result = await replayEvents(store, selector);
        req.log.info({ selector: 'state' in selector ? { state: selector.state } : { ids: selector.ids.length }, ...result }, 'replay');
        return result;
      });
    },
    { prefix: '/admin' },
  );
}
