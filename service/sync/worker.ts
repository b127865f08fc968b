/**
 * The sync worker: leases events from the store (compliance first — the store's priority), gathers
 * the CRM facts for the whole batch, plans (pure), executes every op through one
 * DataverseClient.execute call, and records each event's outcome.
 *
 *  applied     every op of the event succeeded (or it needed none)
 *  ignored     R2/R7: nothing to write
 *  unmatched   R8: no person (or no newsletter) yet — retried with back-off for 30 days, then deadLetter;
 *              also after writing what could be written (an R1 response whose opt-out still has no newsletter)
 *  deadLetter  Dataverse refused an op because of the event's data (4xx that is not 401/408/412/429)
 *  pending     transient failure (5xx, network, throttling, auth, concurrent write) — retried with back-off
 */
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { NormalizedEvent } from '../events.js';
import type { DataverseClient, OpResult } from '../dataverse/types.js';
import type { EventStore, Outcome, StoredEvent } from '../store/types.js';
import type { Metrics } from '../metrics.js';
import type { BackgroundTask } from '../tasks.js';
import { canonicalTime } from './keys.js';
import { CrmLookups, type SyncLookups } from './lookups.js';
import { decide, factNeeds, newsletterNamed, planWrites, type DecidedEvent, type Decision } from './planner.js';
import type { Aggregate, BatchFacts, EventFacts, MailingRow, NewsletterRow, Person, PlanOptions } from './facts.js';

export const SYNC_TASK_NAME = 'sync';

/** R5 via the Campaign REST API: true/false when the client has credentials, undefined otherwise. */
export type CheckBounceThreshold = (clientId: string, recipientId: string) => Promise<boolean | undefined>;

interface WorkerLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface SyncWorkerOptions {
  store: EventStore;
  dataverse: DataverseClient;
  lookups?: SyncLookups;
  plan: PlanOptions;
  bounceLimits: { hard: number; soft: number };
  checkBounceThreshold?: CheckBounceThreshold;
  metrics?: Metrics;
  logger?: WorkerLogger;
  owner?: string;
  batchSize?: number;
  leaseMs?: number;
  /** Wait between polls when the queue is empty or the last round failed. */
  idlePollMs?: number;
  /**
   * After a round that found fewer events than a batch, wait up to this long (scaled by the part of
   * the batch that was missing) so the next round is fuller: each round costs a few Dataverse
   * requests whatever its size, and the request-count limit is the one that binds under steady load.
   * Default 300 ms; 0 turns it off.
   */
  fillWaitMs?: number;
  /** How long an unmatched event keeps being retried (R8: 30 days). */
  unmatchedRetryMs?: number;
  /** A 404 on a row we looked up (deleted meanwhile) is retried this many times, then dead-lettered. */
  maxNotFoundAttempts?: number;
  now?: () => Date;
}

export interface RoundResult {
  leased: number;
  outcomes: Outcome[];
}

type Fate = { kind: 'ok' } | { kind: 'retry'; error: string; notFound?: boolean } | { kind: 'fault'; error: string };

const OUTBOUNCE_STATE_PREFIX = 'outbounce:';
const TRANSIENT_BASE_MS = 5_000;
const TRANSIENT_MAX_MS = 10 * 60_000;
const UNMATCHED_BASE_MS = 60_000;
const UNMATCHED_MAX_MS = 6 * 3_600_000;

/** Exponential back-off with ±20 % jitter (so many workers don't retry in lock-step). */
export function backoffMs(attempts: number, baseMs: number, maxMs: number, random = Math.random): number {
  const exp = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(exp * (0.8 + 0.4 * random()));
}

/** How one op's result reflects on the events that caused it. */
export function fateOf(result: OpResult, existedIsFine: boolean): Fate {
  const describe = () => `${result.op.method} ${result.op.entitySet}(${result.op.id}): HTTP ${result.status}${result.error ? ` ${result.error.code} ${result.error.message}`.trimEnd() : ''}`;
  if (result.ok) {
    // A create that met an existing row we did not know of: someone wrote it meanwhile; re-plan.
    if (result.existed && !existedIsFine) return { kind: 'retry', error: `${describe()} (row appeared concurrently)` };
    return { kind: 'ok' };
  }
  if (result.retryable || result.status === 0 || result.status === 401 || result.status === 408 || result.status === 429 || result.status >= 500) {
    return { kind: 'retry', error: describe() };
  }
  if (result.status === 412) return { kind: 'retry', error: `${describe()} (changed concurrently)` };
  if (result.status === 404) return { kind: 'retry', error: describe(), notFound: true };
  if (result.status === 403) return { kind: 'retry', error: `${describe()} (check the application user's security role)` };
  return { kind: 'fault', error: describe() };
}

export class SyncWorker implements BackgroundTask {
  readonly name = SYNC_TASK_NAME;
  readonly owner: string;
  private readonly lookups: SyncLookups;
  private readonly batchSize: number;
  private readonly leaseMs: number;
  private readonly idlePollMs: number;
  private readonly fillWaitMs: number;
  private readonly unmatchedRetryMs: number;
  private readonly maxNotFoundAttempts: number;
  private readonly now: () => Date;
  private running = false;
  private loop?: Promise<void>;
  private wake?: () => void;
  private wakeForStop?: () => void;
  private readonly totals: Record<string, number> = { applied: 0, ignored: 0, unmatched: 0, deadLetter: 0, retried: 0 };
  private rounds = 0;
  private lastRoundAt?: string;
  private lastError?: string;

  constructor(private readonly options: SyncWorkerOptions) {
    this.owner = options.owner ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
    this.lookups = options.lookups ?? new CrmLookups(options.dataverse, {
      onLeadsUnavailable: (reason) => options.logger?.warn({ reason }, 'no Lead table in this org: matching contacts only'),
    });
    this.batchSize = options.batchSize ?? 100;
    this.leaseMs = options.leaseMs ?? 5 * 60_000;
    this.idlePollMs = options.idlePollMs ?? 1_000;
    this.fillWaitMs = options.fillWaitMs ?? 300;
    this.unmatchedRetryMs = options.unmatchedRetryMs ?? 30 * 24 * 3_600_000;
    this.maxNotFoundAttempts = options.maxNotFoundAttempts ?? 5;
    this.now = options.now ?? (() => new Date());
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    this.wakeForStop?.();
    await this.loop;
    await this.options.store.releaseAll(this.owner).catch(() => undefined);
  }

  /** Makes an idle worker poll now (e.g. after a webhook stored events). */
  poke(): void {
    this.wake?.();
  }

  status(): Record<string, unknown> {
    return { owner: this.owner, running: this.running, rounds: this.rounds, lastRoundAt: this.lastRoundAt, lastError: this.lastError, outcomes: { ...this.totals } };
  }

  private async run(): Promise<void> {
    while (this.running) {
      let leased = 0;
      try {
        leased = (await this.runOnce()).leased;
        this.lastError = undefined;
      } catch (error) {
        this.lastError = (error as Error).message;
        this.options.logger?.error({ err: this.lastError }, 'sync round failed');
      }
      if (!this.running) break;
      if (leased === 0 || this.lastError) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, this.idlePollMs);
          this.wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wake = undefined;
      } else if (leased < this.batchSize && this.fillWaitMs > 0) {
        // A partial round under load: let the queue fill a little (webhook pokes don't cut this short).
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.round((this.fillWaitMs * (this.batchSize - leased)) / this.batchSize));
          this.wakeForStop = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        this.wakeForStop = undefined;
      }
    }
  }

  /** One round: lease, apply, complete. Exposed for tests. */
  async runOnce(): Promise<RoundResult> {
    const { store } = this.options;
    const events = await store.lease({ owner: this.owner, limit: this.batchSize, leaseMs: this.leaseMs });
    if (events.length === 0) return { leased: 0, outcomes: [] };
    let outcomes: Outcome[];
    try {
      outcomes = await this.apply(events);
    } catch (error) {
      // Facts could not be gathered or Dataverse is unreachable: nobody's fault, try again later.
      const message = (error as Error).message;
      this.options.logger?.warn({ err: message, events: events.length }, 'sync round failed transiently; events stay pending');
      outcomes = events.map((e) => this.retryOutcome(e, message));
    }
    await store.complete(this.owner, outcomes);
    this.rounds += 1;
    this.lastRoundAt = this.now().toISOString();
    const byId = new Map(events.map((e) => [e.id, e]));
    for (const o of outcomes) {
      const key = o.state === 'pending' ? 'retried' : o.state;
      this.totals[key] = (this.totals[key] ?? 0) + 1;
      const type = byId.get(o.id)?.normalized?.type ?? 'unknown';
      this.options.metrics?.events.inc({ type, outcome: o.state === 'pending' ? 'failed' : o.state });
    }
    return { leased: events.length, outcomes };
  }

  private retryOutcome(event: StoredEvent, error: string): Outcome {
    return { id: event.id, state: 'pending', error, nextAttemptAt: new Date(this.now().getTime() + backoffMs(event.attempts, TRANSIENT_BASE_MS, TRANSIENT_MAX_MS)) };
  }

  private unmatchedOutcome(event: StoredEvent, reason: string): Outcome {
    const now = this.now().getTime();
    const since = event.firstUnmatchedAt ? Date.parse(event.firstUnmatchedAt) : now;
    if (now - since >= this.unmatchedRetryMs) {
      return { id: event.id, state: 'deadLetter', error: `unmatched for ${Math.round((now - since) / 86_400_000)} days: ${reason}` };
    }
    return { id: event.id, state: 'unmatched', error: reason, nextAttemptAt: new Date(now + backoffMs(event.attempts, UNMATCHED_BASE_MS, UNMATCHED_MAX_MS)) };
  }

  /** Facts → decisions → plan → one execute → outcomes. Throws only for whole-batch (transient) failures. */
  private async apply(events: StoredEvent[]): Promise<Outcome[]> {
    const outcomes: Outcome[] = [];
    const work: { stored: StoredEvent; event: NormalizedEvent }[] = [];
    for (const stored of events) {
      if (!stored.normalized) outcomes.push({ id: stored.id, state: 'deadLetter', error: 'event has no normalized form (replay it after fixing the mapping)' });
      else work.push({ stored, event: stored.normalized });
    }

    const facts = await this.gatherEventFacts(work.map((w) => w.event));
    const decided: DecidedEvent[] = [];
    const decisionOf = new Map<string, Decision>();
    work.forEach(({ stored, event }, i) => {
      let decision: Decision;
      try {
        decision = decide(event, facts[i]!, this.options.plan);
      } catch (error) {
        outcomes.push({ id: stored.id, state: 'deadLetter', error: `cannot plan: ${(error as Error).message}` });
        return;
      }
      decisionOf.set(stored.id, decision);
      if (decision.outcome === 'ignored') outcomes.push({ id: stored.id, state: 'ignored', error: decision.reason });
      else if (decision.outcome === 'unmatched') outcomes.push(this.unmatchedOutcome(stored, decision.reason));
      else decided.push({ eventId: stored.id, decision });
    });
    if (decided.length === 0) return outcomes;

    const batchFacts = await this.gatherBatchFacts(decided, work);
    const plan = planWrites(decided, batchFacts, this.options.plan);
    const ops = plan.phases.flat();
    const results = ops.length > 0 ? await this.options.dataverse.execute(ops) : [];

    const fates = new Map<string, Fate[]>();
    let sawNotFound = false;
    results.forEach((result) => {
      const tag = result.op.tag ?? '';
      const fate = fateOf(result, plan.existedIsFine.has(tag));
      if (fate.kind === 'retry' && fate.notFound) sawNotFound = true;
      for (const eventId of plan.opEvents.get(tag) ?? []) fates.set(eventId, [...(fates.get(eventId) ?? []), fate]);
    });
    if (sawNotFound) this.lookups.invalidate();

    const byId = new Map(events.map((e) => [e.id, e]));
    for (const { eventId, decision } of decided) {
      const stored = byId.get(eventId)!;
      const list = fates.get(eventId) ?? [];
      const fault = list.find((f): f is Extract<Fate, { kind: 'fault' }> => f.kind === 'fault');
      const retry = list.find((f): f is Extract<Fate, { kind: 'retry' }> => f.kind === 'retry');
      if (fault) {
        outcomes.push({ id: eventId, state: 'deadLetter', error: fault.error });
      } else if (retry) {
        if (retry.notFound && stored.attempts >= this.maxNotFoundAttempts) outcomes.push({ id: eventId, state: 'deadLetter', error: retry.error });
        else outcomes.push(this.retryOutcome(stored, retry.error));
      } else if (decision.unresolved) {
        // Written as far as possible (the R1 response); the consent part waits for its newsletter.
        outcomes.push(this.unmatchedOutcome(stored, decision.unresolved));
      } else {
        outcomes.push({ id: eventId, state: 'applied' });
      }
    }
    const dead = outcomes.filter((o) => o.state === 'deadLetter');
    if (dead.length > 0) this.options.logger?.warn({ events: dead.map((o) => ({ id: o.id, error: o.error })) }, 'events dead-lettered');
    return outcomes;
  }

  // ---- facts ------------------------------------------------------------------------------------

  /**
   * Two stages of reads (and a rare third), each issued in one tick so the Dataverse client sends it as one `$batch`
   * (one request against service protection): first everything that depends only on the events
   * (persons by address and by id, clients, newsletters; R5 runs alongside in the store), then the
   * campaign mailings, which are keyed by the client row found in the first stage, together with the
   * persons at the address of an outbounce that named only a CRM identity. Cached rows cost no request
   * at all — except for compliance events, whose persons are read fresh. A third stage runs only when a
   * consent event's newsletter is not named by the cached rows (see `newsletterNamed`): it re-reads the
   * newsletter table and the mailings involved, unless they were read within the negative TTL.
   */
  private async gatherEventFacts(events: NormalizedEvent[]): Promise<EventFacts[]> {
    const { lookups } = this;
    const needs = events.map((e) => factNeeds(e, this.options.plan));
    const needsPersons = (i: number) => needs[i]!.persons || needs[i]!.outbounce;
    // A compliance event's address is read fresh (a contact created minutes ago must get the opt-out);
    // the others may use the cache.
    const emails = events.flatMap((e, i) => (needsPersons(i) && e.email ? [e.email] : []));
    const freshEmails = new Set(events.flatMap((e, i) => (needsPersons(i) && needs[i]!.compliance && e.email ? [e.email.trim().toLowerCase()] : [])));
    const refKey = (ref: { type: string; id: string }) => `${ref.type}:${ref.id.toLowerCase()}`;
    const refs = [...new Map(events.flatMap((e, i) => (e.crmEntity && needsPersons(i) ? [[refKey(e.crmEntity), e.crmEntity] as const] : []))).entries()];
    const freshRefs = new Set(events.flatMap((e, i) => (e.crmEntity && needsPersons(i) && needs[i]!.compliance ? [refKey(e.crmEntity)] : [])));
    const clientIds = [...new Set(events.flatMap((e, i) => (needs[i]!.client || needs[i]!.mailing || needs[i]!.newsletters ? [e.clientId] : [])))];

    // Stage 1: independent reads, all issued before the first await.
    const [byEmail, loadedNewsletters, outbounces, identityList, clientList] = await Promise.all([
      lookups.personsByEmails(emails, { fresh: (email) => freshEmails.has(email) }),
      needs.some((n) => n.newsletters) ? lookups.allNewsletters() : Promise.resolve([]),
      this.learnOutbounces(events.map((e, i) => (needs[i]!.outbounce ? e : undefined))),
      Promise.all(refs.map(([key, ref]) => lookups.personByRef(ref, { fresh: freshRefs.has(key) }))),
      Promise.all(clientIds.map((id) => lookups.clientRow(id))),
    ]);
    let newsletters: NewsletterRow[] = loadedNewsletters;
    const identities = new Map(refs.map(([key], i) => [key, identityList[i]]));
    const clients = new Map(clientIds.map((id, i) => [id, clientList[i]]));
    const identityOf = (event: NormalizedEvent, i: number) =>
      (event.crmEntity && needsPersons(i) ? identities.get(refKey(event.crmEntity)) : undefined);
    // R5: an outbounce that names only a CRM identity concerns the identity's address: every contact
    // and lead with it gets the flag, not only the identity.
    const outbounceAddress = (event: NormalizedEvent, i: number) =>
      (event.email ?? (needs[i]!.outbounce && outbounces[i]?.outbounce ? identityOf(event, i)?.email : undefined))?.trim().toLowerCase();
    const identityEmails = [...new Set(events.flatMap((e, i) => {
      const address = e.email ? undefined : outbounceAddress(e, i);
      return address && !freshEmails.has(address) ? [address] : [];
    }))];

    // Stage 2: campaign mailings of the clients found, and the addresses of identity-only outbounces.
    const mailingKey = (clientRowId: string, mailingId: string) => `${clientRowId}|${mailingId}`;
    const mailingWants = [...new Map(events.flatMap((e, i) => {
      const client = clients.get(e.clientId);
      return needs[i]!.mailing && client && e.mailingId ? [[mailingKey(client.id, e.mailingId), { clientRowId: client.id, mailingId: e.mailingId }] as const] : [];
    })).entries()];
    const [mailingList, identityMatches] = await Promise.all([
      Promise.all(mailingWants.map(([, w]) => lookups.campaignMailingOf(w.clientRowId, w.mailingId))),
      identityEmails.length > 0 ? lookups.personsByEmails(identityEmails, { fresh: true }) : Promise.resolve(new Map<string, Person[]>()),
    ]);
    for (const [address, persons] of identityMatches) byEmail.set(address, persons);
    const mailings = new Map<string, MailingRow | undefined>(mailingWants.map(([key], i) => [key, mailingList[i]]));

    // Stage 3 (rare): a consent event whose newsletter the cached rows do not name. Its resolution would
    // fall back to other newsletters (R3), so it must not rest on a copy older than a change in CRM.
    const unnamed = events.flatMap((e, i) => {
      const client = clients.get(e.clientId);
      if (!needs[i]!.newsletters || !client) return [];
      const mailing = e.mailingId ? mailings.get(mailingKey(client.id, e.mailingId)) : undefined;
      return newsletterNamed(e, { client, mailing, newsletters }) ? [] : [{ client, mailingId: e.mailingId }];
    });
    if (unnamed.length > 0) {
      const recheck = [...new Map(unnamed.flatMap(({ client, mailingId }) => (mailingId
        ? [[mailingKey(client.id, mailingId), { clientRowId: client.id, mailingId }] as const] : []))).entries()];
      const [reloaded, recheckedList] = await Promise.all([
        lookups.allNewsletters({ recheck: true }),
        Promise.all(recheck.map(([, w]) => lookups.campaignMailingOf(w.clientRowId, w.mailingId, { recheck: true }))),
      ]);
      newsletters = reloaded;
      recheck.forEach(([key], i) => mailings.set(key, recheckedList[i]));
    }

    return events.map((event, i): EventFacts => {
      const need = needs[i]!;
      const facts: EventFacts = { persons: [], newsletters: [] };
      const identity = identityOf(event, i);
      const emailMatches = event.email ? byEmail.get(event.email.trim().toLowerCase()) ?? [] : [];
      if (need.client || need.mailing || need.newsletters) facts.client = clients.get(event.clientId);
      if (need.mailing && facts.client && event.mailingId) facts.mailing = mailings.get(mailingKey(facts.client.id, event.mailingId));
      if (need.newsletters && facts.client) facts.newsletters = newsletters.filter((n) => n.clientRowId === facts.client?.id);
      // R8: the identity carried in the event wins; else every contact and lead with the address.
      if (need.persons) facts.persons = identity ? [identity] : emailMatches;
      if (need.outbounce) {
        const learned = outbounces[i]!;
        facts.outbounceLearned = learned.outbounce;
        facts.outbounceAt = learned.at;
        const address = outbounceAddress(event, i);
        const atAddress = address ? byEmail.get(address) ?? [] : [];
        facts.outbouncePersons = facts.outbounceLearned ? dedupe([...(identity ? [identity] : []), ...atAddress]) : [];
      }
      return facts;
    });
  }

  /**
   * R5 for the events that need it (undefined entries are skipped), first match wins: the event says so;
   * else the Campaign REST threshold; else local counting.
   */
  private async learnOutbounces(events: (NormalizedEvent | undefined)[]): Promise<({ outbounce: boolean; at?: string } | undefined)[]> {
    const { store } = this.options;
    const verdicts = await Promise.all(events.map((e) => (e ? this.outbounceVerdict(e) : undefined)));
    // The bounce series of each address (idempotent per event), recorded for the whole batch in one store
    // call: its first bounce dates the outbounce, whatever order the bounces arrive and are processed in.
    const seriesKey = (e: NormalizedEvent) => `bounces|${e.clientId}|${e.email!.toLowerCase()}`;
    const counted = events.filter((e, i): e is NormalizedEvent => verdicts[i] === 'count');
    const series = await store.addToAggregates(
      counted.map((e) => ({ responseKey: seriesKey(e), eventKey: e.key, occurredAt: canonicalTime(e.occurredAt) })),
    );
    return Promise.all(events.map(async (event, i) => {
      const verdict = verdicts[i];
      if (!event || verdict === undefined) return undefined;
      if (verdict !== 'count') return verdict;
      const counts = await store.countBounces(event.clientId, event.email!);
      const outbounce = counts.hard >= this.options.bounceLimits.hard || counts.soft >= this.options.bounceLimits.soft;
      return outbounce ? { outbounce, at: series.get(seriesKey(event))!.firstAt } : { outbounce };
    }));
  }

  /** The outbounce verdict without local counting, or 'count' when the store's bounce count decides. */
  private async outbounceVerdict(event: NormalizedEvent): Promise<{ outbounce: boolean } | 'count'> {
    if (event.type === 'outbounce' || event.thresholdExceeded === true) return { outbounce: true };
    if (event.type !== 'bounce') return { outbounce: false };
    const recipient = event.recipientId ?? event.email;
    if (this.options.checkBounceThreshold && recipient) {
      const verdict = await this.options.checkBounceThreshold(event.clientId, recipient);
      if (verdict !== undefined) return { outbounce: verdict };
    }
    return event.email ? 'count' : { outbounce: false };
  }

  /**
   * The facts of the whole batch. The fresh Dataverse reads — consents and existing responses, one
   * tick, so one `$batch`; then the history entries of those consents — start before the store's
   * bookkeeping (R10 aggregates, outbounced addresses) and run alongside it.
   */
  private async gatherBatchFacts(decided: DecidedEvent[], work: { stored: StoredEvent; event: NormalizedEvent }[]): Promise<BatchFacts> {
    const { store } = this.options;
    const eventById = new Map(work.map((w) => [w.stored.id, w.event]));
    const persons: Person[] = [];
    const responseIds: string[] = [];
    const aggregates = new Map<string, Aggregate>();
    const outbounced = new Map<string, string>();
    const aggregateCalls = new Map<string, { naturalKey: string; eventKey: string; occurredAt: string }[]>();
    const outbounceStates: { address: string; occurredAt: string }[] = [];

    for (const { eventId, decision } of decided) {
      for (const e of decision.entries) persons.push(e.person);
      if (decision.outbounce) {
        persons.push(...decision.outbounce.persons);
        const addresses = new Set([decision.outbounce.email, ...decision.outbounce.persons.map((p) => p.email)].filter((a): a is string => Boolean(a)));
        for (const address of addresses) outbounceStates.push({ address: address.toLowerCase(), occurredAt: decision.outbounce.occurredAt });
      }
      for (const r of decision.responses) {
        responseIds.push(r.id);
        if (this.options.plan.granularity === 'aggregate') {
          const event = eventById.get(eventId)!;
          const list = aggregateCalls.get(r.id) ?? [];
          list.push({ naturalKey: r.naturalKey, eventKey: event.key, occurredAt: canonicalTime(event.occurredAt) });
          aggregateCalls.set(r.id, list);
        }
      }
    }
    // Dataverse reads first (same tick: one $batch), so they travel while the store works.
    const reads = Promise.all([
      persons.length > 0 ? this.lookups.consentsOf(persons) : Promise.resolve([]),
      responseIds.length > 0 ? this.lookups.responsesByIds(responseIds) : Promise.resolve([]),
      this.lookups.allNewsletters(),
    ]);
    reads.catch(() => undefined); // awaited below; don't let a failure go unhandled meanwhile
    // Remember outbounces durably (earliest date wins), so consents created later for the address start with it.
    for (const { address, occurredAt } of outbounceStates) {
      const key = OUTBOUNCE_STATE_PREFIX + address;
      const known = await store.getState(key);
      if (!known || Date.parse(occurredAt) < Date.parse(known)) await store.setState(key, occurredAt);
    }
    // Every response's events in one store call (one transaction); the answer per response includes all
    // of them. The outbounce look-ups run at the same time.
    const emails = [...new Set(persons.map((p) => p.email?.toLowerCase()).filter((a): a is string => Boolean(a)))];
    await Promise.all([
      (async () => {
        const calls = [...aggregateCalls].flatMap(([, list]) => list);
        if (calls.length === 0) return;
        const byKey = await store.addToAggregates(calls.map((c) => ({ responseKey: c.naturalKey, eventKey: c.eventKey, occurredAt: c.occurredAt })));
        for (const [id, list] of aggregateCalls) aggregates.set(id, byKey.get(list[0]!.naturalKey)!);
      })(),
      ...emails.map(async (email) => {
        const known = await store.getState(OUTBOUNCE_STATE_PREFIX + email);
        if (known) outbounced.set(email, known);
      }),
    ]);
    const [consents, responses, newsletters] = await reads;
    return { consents, responses, newsletters, aggregates, outbouncedAddresses: outbounced };
  }
}

function dedupe(persons: Person[]): Person[] {
  return [...new Map(persons.map((p) => [`${p.type}:${p.id.toLowerCase()}`, p])).values()];
}
