/**
 * R11 — the reconciliation: per Campaign client, ask the REST API for what webhooks cannot deliver
 * or may have missed, and feed it through the same normalizer and store as webhook events (R9
 * deduplicates overlaps):
 *  - unsubscribes, newest first, down to a stored watermark minus an overlap;
 *  - per campaign-management mailing created in the last 30 days: responses of category
 *    autoresponder, unknown (→ reply), hardbounce and softbounce;
 *  - for addresses with bounces newer than the mailing's bounce watermark: thresholdExceeded →
 *    an outbounce event (R5).
 * One client failing never stops the others; a watermark only moves after its events are stored.
 */
import type { Logger } from 'pino';
import { ingestEvents, toIncomingEvents } from '../ingest/ingest.js';
import type { Metrics } from '../metrics.js';
import type { AppendResult, EventStore } from '../store/types.js';
import { CampaignApiError, type CampaignClient } from './client.js';
import type { CampaignDirectory, PolledMailing } from './directory.js';
import { outbounceRaw, responseToRaw, restTime, unsubscribeToRaw, type RawEvent } from './mapping.js';
import type { ResponseCategory } from './schemas.js';

/** Feeds raw events of one client into the pipeline (normalize, store durably); returns the store's counts. */
export type IngestFn = (clientId: string, raws: RawEvent[]) => Promise<AppendResult>;

/**
 * The same path a webhook takes (service/ingest/ingest.ts): normalize with origin `poll`, quarantine
 * what does not normalize, append durably, count in the metrics.
 */
export function storeIngest(store: EventStore, metrics?: Metrics): IngestFn {
  return async (clientId, raws) => {
    if (!raws.length) return { accepted: 0, duplicates: 0, quarantined: 0 };
    const events = toIncomingEvents(raws.map((value) => ({ raw: JSON.stringify(value), value })), clientId, 'poll');
    const { accepted, duplicates, quarantined } = await ingestEvents(store, events, metrics);
    return { accepted, duplicates, quarantined };
  };
}

export interface ReconcileOptions {
  /** Re-read this much before the watermark (late or same-second records). Default 1 h. */
  overlapMs?: number;
  /** How far back the first run reads unsubscribes (no watermark yet). Default 30 days. */
  firstRunLookbackMs?: number;
  /** Mailings polled: crs_campaignmailing rows created within this window. Default 30 days. */
  mailingWindowMs?: number;
  /** Unsubscribes per REST page. Default 500. */
  pageSize?: number;
  /** Events per store append. Default 500. */
  ingestBatchSize?: number;
}

export interface ReconcileDeps {
  campaign: Pick<CampaignClient, 'unsubscribesNewestFirst' | 'responses' | 'bounceThresholdExceeded'>;
  directory: CampaignDirectory;
  state: Pick<EventStore, 'getState' | 'setState'>;
  ingest: IngestFn;
  logger?: Pick<Logger, 'info' | 'warn' | 'debug'>;
  now?: () => Date;
  /** Checked between steps: stop early on shutdown. */
  signal?: AbortSignal;
  options?: ReconcileOptions;
}

export interface Counts {
  /** Records read from Campaign. */
  found: number;
  /** Events the store did not have yet. */
  new: number;
  duplicates: number;
  quarantined: number;
}

export interface ClientSummary {
  clientId: string;
  mailings: number;
  unsubscribes: Counts;
  autoresponders: Counts;
  replies: Counts;
  bounces: Counts;
  outbounces: Counts;
  errors: string[];
}

export interface RunSummary {
  startedAt: string;
  finishedAt: string;
  clients: number;
  mailings: number;
  found: number;
  new: number;
  duplicates: number;
  quarantined: number;
  errors: string[];
  perClient: ClientSummary[];
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const RESPONSE_CATEGORIES: readonly ResponseCategory[] = ['autoresponder', 'unknown', 'hardbounce', 'softbounce'];

export const watermarkKeys = {
  unsubscribes: (clientId: string) => `campaign.poll.unsubscribes.${clientId}`,
  bounces: (clientId: string, mailingId: string) => `campaign.poll.bounces.${clientId}.${mailingId}`,
  outbounced: (clientId: string, recipientId: string) => `campaign.poll.outbounced.${clientId}.${recipientId.toLowerCase()}`,
};

const zero = (): Counts => ({ found: 0, new: 0, duplicates: 0, quarantined: 0 });

function add(into: Counts, r: AppendResult, found: number): void {
  into.found += found;
  into.new += r.accepted;
  into.duplicates += r.duplicates;
  into.quarantined += r.quarantined;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

class Batcher {
  private pending: RawEvent[] = [];
  constructor(
    private readonly ingest: IngestFn,
    private readonly clientId: string,
    private readonly counts: Counts,
    private readonly size: number,
  ) {}
  async push(e: RawEvent): Promise<void> {
    this.pending.push(e);
    if (this.pending.length >= this.size) await this.flush();
  }
  async flush(): Promise<void> {
    if (!this.pending.length) return;
    const batch = this.pending;
    this.pending = [];
    add(this.counts, await this.ingest(this.clientId, batch), batch.length);
  }
}

function abortIfStopped(signal?: AbortSignal): void {
  if (signal?.aborted) throw new Error('reconciliation stopped');
}

async function reconcileUnsubscribes(deps: ReconcileDeps, clientId: string, s: ClientSummary, o: Required<ReconcileOptions>, now: number): Promise<void> {
  const key = watermarkKeys.unsubscribes(clientId);
  const stored = await deps.state.getState(key);
  const watermark = stored ? Date.parse(stored) : NaN;
  const stopBefore = Number.isNaN(watermark) ? now - o.firstRunLookbackMs : watermark - o.overlapMs;
  let newest = Number.isNaN(watermark) ? -Infinity : watermark;
  const batch = new Batcher(deps.ingest, clientId, s.unsubscribes, o.ingestBatchSize);
  for await (const u of deps.campaign.unsubscribesNewestFirst(clientId, o.pageSize)) {
    const t = restTime(u.created);
    if (t < stopBefore) break; // sorted newest first: everything after is older still
    if (!Number.isNaN(t) && t > newest) newest = t;
    await batch.push(unsubscribeToRaw(u)); // an unreadable date is stored and quarantined, not dropped
  }
  await batch.flush();
  if (Number.isFinite(newest) && newest !== watermark) await deps.state.setState(key, iso(newest));
}

async function reconcileMailing(
  deps: ReconcileDeps, clientId: string, mailingId: string, s: ClientSummary, o: Required<ReconcileOptions>,
  bounced: Map<string, number>,
): Promise<void> {
  const bounceKey = watermarkKeys.bounces(clientId, mailingId);
  const storedBounce = await deps.state.getState(bounceKey);
  const bounceWatermark = storedBounce ? Date.parse(storedBounce) : NaN;
  let newestBounce = Number.isNaN(bounceWatermark) ? -Infinity : bounceWatermark;
  for (const category of RESPONSE_CATEGORIES) {
    abortIfStopped(deps.signal);
    let records;
    try {
      records = await deps.campaign.responses(clientId, { category, mailingId });
    } catch (err) {
      // 404: Campaign does not know the mailing (yet) — nothing to reconcile, not an error of the run.
      if (err instanceof CampaignApiError && err.status === 404) {
        deps.logger?.debug({ clientId, mailingId }, 'reconciliation: mailing unknown to Campaign');
        return;
      }
      throw err;
    }
    const counts = category === 'autoresponder' ? s.autoresponders : category === 'unknown' ? s.replies : s.bounces;
    const batch = new Batcher(deps.ingest, clientId, counts, o.ingestBatchSize);
    for (const r of records) {
      const raw = responseToRaw(r, category);
      if (raw) await batch.push(raw);
      if (category === 'hardbounce' || category === 'softbounce') {
        const t = restTime(r.created);
        if (Number.isNaN(t)) continue;
        if (t > newestBounce) newestBounce = t;
        // Only bounces newer than what we already checked (minus the overlap) trigger a threshold check.
        if (Number.isNaN(bounceWatermark) || t >= bounceWatermark - o.overlapMs) {
          const prev = bounced.get(r.recipientId);
          if (prev === undefined || t > prev) bounced.set(r.recipientId, t);
        }
      }
    }
    await batch.flush();
    if (records.length >= 9999) deps.logger?.warn({ clientId, mailingId, category }, 'reconciliation: response list hit the REST limit of 9999; older records may be missing');
  }
  if (Number.isFinite(newestBounce) && newestBounce !== bounceWatermark) await deps.state.setState(bounceKey, iso(newestBounce));
}

async function reconcileOutbounces(deps: ReconcileDeps, clientId: string, s: ClientSummary, bounced: Map<string, number>, o: Required<ReconcileOptions>): Promise<void> {
  const batch = new Batcher(deps.ingest, clientId, s.outbounces, o.ingestBatchSize);
  const found: [string, string][] = [];
  for (const [recipientId, latestBounce] of bounced) {
    abortIfStopped(deps.signal);
    const key = watermarkKeys.outbounced(clientId, recipientId);
    if (await deps.state.getState(key)) continue; // already reported outbounced; Campaign sends it nothing more
    if (!(await deps.campaign.bounceThresholdExceeded(clientId, recipientId))) continue;
    await batch.push(outbounceRaw(recipientId, iso(latestBounce)));
    found.push([key, iso(latestBounce)]);
  }
  await batch.flush();
  for (const [key, at] of found) await deps.state.setState(key, at);
}

async function reconcileClient(deps: ReconcileDeps, clientId: string, mailings: PolledMailing[], o: Required<ReconcileOptions>, now: number): Promise<ClientSummary> {
  const s: ClientSummary = {
    clientId, mailings: mailings.length,
    unsubscribes: zero(), autoresponders: zero(), replies: zero(), bounces: zero(), outbounces: zero(), errors: [],
  };
  const step = async (what: string, fn: () => Promise<void>) => {
    try {
      abortIfStopped(deps.signal);
      await fn();
    } catch (err) {
      s.errors.push(`client ${clientId} ${what}: ${(err as Error).message}`);
    }
  };
  await step('unsubscribes', () => reconcileUnsubscribes(deps, clientId, s, o, now));
  const bounced = new Map<string, number>();
  for (const m of mailings) await step(`mailing ${m.mailingId}`, () => reconcileMailing(deps, clientId, m.mailingId, s, o, bounced));
  if (bounced.size) await step('bounce thresholds', () => reconcileOutbounces(deps, clientId, s, bounced, o));
  return s;
}

/** One reconciliation run over every client. Never throws for a client's failure; see `errors`. */
export async function reconcileOnce(deps: ReconcileDeps): Promise<RunSummary> {
  const o: Required<ReconcileOptions> = {
    overlapMs: HOUR, firstRunLookbackMs: 30 * DAY, mailingWindowMs: 30 * DAY, pageSize: 500, ingestBatchSize: 500,
    ...deps.options,
  };
  const started = (deps.now ?? (() => new Date()))();
  const summary: RunSummary = {
    startedAt: started.toISOString(), finishedAt: '', clients: 0, mailings: 0,
    found: 0, new: 0, duplicates: 0, quarantined: 0, errors: [], perClient: [],
  };
  let clients: string[] = [];
  let mailings: PolledMailing[] = [];
  try {
    clients = await deps.directory.clients();
    mailings = await deps.directory.recentMailings(new Date(started.getTime() - o.mailingWindowMs));
  } catch (err) {
    summary.errors.push(`reading clients and mailings from Dataverse: ${(err as Error).message}`);
  }
  for (const clientId of clients) {
    if (deps.signal?.aborted) break;
    const s = await reconcileClient(deps, clientId, mailings.filter((m) => m.clientId === clientId), o, started.getTime());
    summary.perClient.push(s);
    summary.mailings += s.mailings;
    for (const c of [s.unsubscribes, s.autoresponders, s.replies, s.bounces, s.outbounces]) {
      summary.found += c.found;
      summary.new += c.new;
      summary.duplicates += c.duplicates;
      summary.quarantined += c.quarantined;
    }
    summary.errors.push(...s.errors);
  }
  summary.clients = summary.perClient.length;
  summary.finishedAt = (deps.now ?? (() => new Date()))().toISOString();
  return summary;
}
