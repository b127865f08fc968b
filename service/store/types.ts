/**
 * The durable event store: one interface, two engines (SQLite embedded, PostgreSQL scale-out).
 * Every raw event is kept so a mapping fix can re-derive it (replay), until the retention purge deletes
 * finished ones (CRS_EVENT_RETENTION, purge()).
 */
import type { NormalizedEvent } from '../events.js';

export const EVENT_STATES = ['pending', 'applied', 'ignored', 'unmatched', 'quarantined', 'deadLetter'] as const;
export type EventState = (typeof EVENT_STATES)[number];

export interface IncomingEvent {
  clientId: string;
  /** The raw element exactly as received (JSON text). */
  raw: string;
  /** Set when the element normalized; absent when quarantined. */
  normalized?: NormalizedEvent;
  /** Set when the element is quarantined. */
  quarantineReason?: string;
}

export interface AppendResult {
  accepted: number;
  duplicates: number;
  quarantined: number;
}

export interface StoredEvent {
  id: string; // store sequence number as string (bigint-safe)
  clientId: string;
  dedupKey: string | null;
  raw: string;
  normalized: NormalizedEvent | null;
  state: EventState;
  priority: number;
  attempts: number;
  lastError: string | null;
  receivedAt: string; // ISO
  nextAttemptAt: string; // ISO
  firstUnmatchedAt: string | null; // ISO; start of the 30-day unmatched window
  /** Added for admin listings and metrics (optional so hand-made test doubles need not set them). */
  eventType?: string | null;
  appliedAt?: string | null; // ISO
  leaseOwner?: string | null;
  leaseExpiresAt?: string | null; // ISO
}

export interface LeaseOptions {
  owner: string;
  limit: number;
  leaseMs: number;
}

export interface Outcome {
  id: string;
  state: EventState;
  error?: string;
  /** For `unmatched` (and retryable failures left `pending`): when to try again. */
  nextAttemptAt?: Date;
}

export interface StoreCounts {
  received: number;
  pending: number;
  applied: number;
  ignored: number;
  unmatched: number;
  quarantined: number;
  deadLetter: number;
}

/** What purge() may delete: finished events older than `before`, at most `limit` of them. */
export interface PurgeOptions {
  before: Date;
  limit: number;
}

/** One (response, event) pair of R10 aggregation. */
export interface AggregateItem {
  responseKey: string;
  eventKey: string;
  /** Normalized ISO text (UTC, whole seconds, `Z`); compared as text and returned exactly as given. */
  occurredAt: string;
}

/** The aggregate over all events recorded for one response key. */
export interface AggregateValue {
  count: number;
  firstAt: string;
  lastAt: string;
}

export interface EventStore {
  readonly engine: 'sqlite' | 'postgres';
  /** Runs schema migrations (idempotent). */
  migrate(): Promise<void>;
  /** Stores events durably (committed when the promise resolves); duplicates by dedup key are counted, not stored twice. */
  append(events: IncomingEvent[]): Promise<AppendResult>;
  /**
   * Leases due events (pending, or unmatched whose retry time has come) whose lease is free or expired,
   * compliance first (priority), then oldest first. No event is leased to two owners at once.
   */
  lease(opts: LeaseOptions): Promise<StoredEvent[]>;
  /**
   * Records outcomes of leased events and frees their leases — only for events whose lease `owner` still
   * holds (not expired, not taken over). Returns how many outcomes were recorded (the rest were stale).
   */
  complete(owner: string, outcomes: Outcome[]): Promise<number>;
  /** Frees every lease held by `owner` (graceful shutdown). */
  releaseAll(owner: string): Promise<void>;
  counts(): Promise<StoreCounts>;
  oldestPendingReceivedAt(): Promise<Date | null>;
  lastReceivedAt(): Promise<Date | null>;
  lastAppliedAt(): Promise<Date | null>;
  list(state: EventState, limit: number, offset?: number): Promise<StoredEvent[]>;
  get(ids: string[]): Promise<StoredEvent[]>;
  /** Replay: set new normalized forms (or quarantine reasons) and make the events pending again. */
  requeue(items: { id: string; normalized?: NormalizedEvent; quarantineReason?: string }[]): Promise<number>;
  /** R5 local counting: distinct bounce events of this address in this client (any state but quarantined). */
  countBounces(clientId: string, email: string): Promise<{ hard: number; soft: number }>;
  /**
   * R10 aggregation, idempotent: records that event `eventKey` belongs to response `responseKey`
   * (a second call with the same pair changes nothing) and returns the aggregate over all its events.
   * The worker writes these absolute values to Dataverse, so a retry never double-counts.
   */
  addToAggregate(responseKey: string, eventKey: string, occurredAt: string): Promise<AggregateValue>;
  /**
   * addToAggregate for many pairs in ONE transaction (one commit): every pair is recorded (idempotent,
   * as above), then the aggregate of each distinct response key is returned — over all its events,
   * including every pair of this call. An empty list writes nothing and returns an empty map.
   */
  addToAggregates(items: AggregateItem[]): Promise<Map<string, AggregateValue>>;
  /**
   * Retention: deletes up to `limit` events in state `applied` or `ignored` that finished before `before`
   * (finished = applied_at, else received_at: ignored outcomes record no time; see the engines). Never deletes
   * pending, unmatched, deadLetter or quarantined events, nor bounces (countBounces, R5), nor aggregate pairs
   * or key/value state. One bounded statement per call (callers loop); returns how many were deleted.
   * A purged event's dedup key is gone: a re-delivery of it is stored and processed again as new.
   */
  purge(opts: PurgeOptions): Promise<number>;
  /** Simple key/value state (poller watermarks, local bounce counters). */
  getState(key: string): Promise<string | null>;
  setState(key: string, value: string): Promise<void>;
  /** True when a write can be committed now (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}
