/**
 * Prometheus metrics (prom-client). One registry per service instance (tests start several apps in
 * one process). Everyone increments these; names are crs_*. Queue gauges are computed at scrape time
 * from the store, so they are never stale.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EventStore } from './store/types.js';
import { EVENT_STATES } from './store/types.js';

export interface Metrics {
  registry: Registry;
  /** Events by type and outcome: accepted, duplicate, quarantined (ingest); applied, ignored, unmatched, deadLetter, failed (worker). */
  events: Counter<'type' | 'outcome'>;
  /** Webhook requests by HTTP status. */
  webhookRequests: Counter<'status'>;
  /** Webhook request duration, from body received to answer. */
  webhookDuration: Histogram<'status'>;
  /** Dataverse requests by HTTP status (`error` for network failures). */
  dataverseRequests: Counter<'status'>;
  /** Times the client waited because of Dataverse service protection (429 / Retry-After). */
  throttlingWaits: Counter;
  /** Total seconds spent waiting because of throttling. */
  throttlingWaitSeconds: Counter;
  /** Seconds the client held requests back to stay under the service-protection budgets (pacing, before any 429). */
  pacingWaitSeconds: Counter;
  /** Current allowed concurrency of Dataverse requests. */
  dataverseConcurrency: Gauge;
  /** Pending events (set at scrape time when a store is bound). */
  queueDepth: Gauge;
  /** Age of the oldest pending event in seconds (0 when none). */
  oldestPendingAge: Gauge;
  /** Events per store state. */
  eventsInState: Gauge<'state'>;
  /** Campaign poll runs by outcome. */
  pollRuns: Counter<'outcome'>;
  /** Finished events deleted by the retention purge (CRS_EVENT_RETENTION). */
  eventsPurged: Counter;
  /** Advertising consents whose crs_status / crs_statuschangedon the consent-status task set back to R4. */
  consentStatusRepairs: Counter;
  /**
   * Records the end of validity of the served TLS certificate (CRS_TLS_CERT_PATH). The gauge exists
   * only once set, so a service without TLS does not report an "expired" 0.
   */
  setTlsCertificateExpiry(validTo: Date): void;
  /** Binds the store the queue gauges read at scrape time. */
  bindStore(store: EventStore): void;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: 'crs_process_' });
  let store: EventStore | undefined;
  let tlsExpiry: Gauge | undefined;
  // One store read per scrape, shared by the three queue gauges.
  let snapshot: Promise<{ counts: Awaited<ReturnType<EventStore['counts']>>; oldest: Date | null }> | undefined;
  const readStore = () => {
    if (!store) return undefined;
    if (!snapshot) {
      const s = store;
      snapshot = Promise.all([s.counts(), s.oldestPendingReceivedAt()]).then(([counts, oldest]) => ({ counts, oldest }));
      snapshot.finally(() => setTimeout(() => (snapshot = undefined), 0)).catch(() => undefined);
    }
    return snapshot;
  };

  const queueDepth = new Gauge({
    name: 'crs_queue_depth',
    help: 'Events waiting to be delivered to Dataverse (state pending)',
    registers: [registry],
    async collect() {
      const s = await readStore()?.catch(() => undefined);
      if (s) this.set(s.counts.pending);
    },
  });
  const oldestPendingAge = new Gauge({
    name: 'crs_oldest_pending_age_seconds',
    help: 'Age of the oldest pending event in seconds (0 when the queue is empty)',
    registers: [registry],
    async collect() {
      const s = await readStore()?.catch(() => undefined);
      if (s) this.set(s.oldest ? Math.max(0, (Date.now() - s.oldest.getTime()) / 1000) : 0);
    },
  });
  const eventsInState = new Gauge({
    name: 'crs_events_in_state',
    help: 'Stored events per state',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const s = await readStore()?.catch(() => undefined);
      if (s) for (const state of EVENT_STATES) this.set({ state }, s.counts[state]);
    },
  });

  return {
    registry,
    events: new Counter({
      name: 'crs_events_total',
      help: 'Campaign events by type and outcome',
      labelNames: ['type', 'outcome'] as const,
      registers: [registry],
    }),
    webhookRequests: new Counter({
      name: 'crs_webhook_requests_total',
      help: 'Webhook requests by HTTP status',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    webhookDuration: new Histogram({
      name: 'crs_webhook_request_duration_seconds',
      help: 'Webhook handling time including the durable commit',
      labelNames: ['status'] as const,
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    dataverseRequests: new Counter({
      name: 'crs_dataverse_requests_total',
      help: 'Dataverse Web API requests by HTTP status',
      labelNames: ['status'] as const,
      registers: [registry],
    }),
    throttlingWaits: new Counter({
      name: 'crs_dataverse_throttling_waits_total',
      help: 'Waits caused by Dataverse service protection limits (429)',
      registers: [registry],
    }),
    throttlingWaitSeconds: new Counter({
      name: 'crs_dataverse_throttling_wait_seconds_total',
      help: 'Seconds spent waiting because of Dataverse service protection limits',
      registers: [registry],
    }),
    pacingWaitSeconds: new Counter({
      name: 'crs_dataverse_pacing_wait_seconds_total',
      help: 'Seconds requests were held back to stay under the Dataverse service protection budgets (client-side pacing)',
      registers: [registry],
    }),
    dataverseConcurrency: new Gauge({
      name: 'crs_dataverse_concurrency',
      help: 'Current allowed concurrency of Dataverse requests',
      registers: [registry],
    }),
    queueDepth,
    oldestPendingAge,
    eventsInState,
    pollRuns: new Counter({
      name: 'crs_campaign_poll_runs_total',
      help: 'Campaign reconciliation runs by outcome',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    eventsPurged: new Counter({
      name: 'crs_events_purged_total',
      help: 'Applied and ignored events deleted from the store by the retention purge (CRS_EVENT_RETENTION)',
      registers: [registry],
    }),
    consentStatusRepairs: new Counter({
      name: 'crs_consent_status_repairs_total',
      help: 'Advertising consents whose crs_status / crs_statuschangedon were repaired to the latest opt-in history entry (R4; entries by CRM users or imports)',
      registers: [registry],
    }),
    setTlsCertificateExpiry(validTo: Date) {
      tlsExpiry ??= new Gauge({
        name: 'crs_tls_certificate_expiry_timestamp_seconds',
        help: 'End of validity of the TLS certificate the service serves (CRS_TLS_CERT_PATH), Unix time; alert well before it',
        registers: [registry],
      });
      tlsExpiry.set(validTo.getTime() / 1000);
    },
    bindStore(s: EventStore) {
      store = s;
    },
  };
}
