/**
 * R11 — the reconciliation: per Campaign client, ask the REST API for what webhooks cannot deliver
 * or may have missed, and feed it through the same normalizer and store as webhook events (R9
 * deduplicates overlaps):
 *  - unsubscribes, newest first, down to a stored watermark minus an overlap;
 *  - per campaign-management mailing created in the last 30 days: responses of category
 *    autoresponder, unknown (→ reply), hardbounce and softbounce;
 *  - for addresses with bounces newer than the mailing's bounce watermark: thresholdExceeded →
 *    an outbounce event (R5).
 * One client failing never stops the others; a watermark only moves after its events are stored, never
 * past the run's start, and not at all when the read may have missed something (list moved while paging,
 * threshold checks failed). A REST element that fails its schema is quarantined, once, not dropped.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { ingestEvents, toIncomingEvents } from '../ingest/ingest.js';
import type { Metrics } from '../metrics.js';
import type { AppendResult, EventStore } from '../store/types.js';
import { CampaignApiError, type CampaignClient } from './client.js';
import type { CampaignDirectory, PolledMailing } from './directory.js';
import { outbounceRaw, REST_SOURCE, responseToRaw, restTime, unsubscribeToRaw, type RawEvent } from './mapping.js';
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
    const events = raws.map((value) => {
      const raw = JSON.stringify(value);
      // Quarantined with the schema's reason; the normalizer would only say that the type is missing.
      if (typeof value.rejected === 'string') return { clientId, raw, quarantineReason: `Campaign REST element rejected: ${value.rejected}` };
      return toIncomingEvents([{ raw, value }], clientId, 'poll')[0]!;
    });
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
  /** Times the unsubscribe list moved while it was paged (entries may have been missed: watermark held). */
  unsubscribeListMoved: number;
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
  /** A malformed REST element already quarantined (by a hash of where it came from and its JSON). */
  rejected: (clientId: string, hash: string) => `campaign.poll.rejected.${clientId}.${hash}`,
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

/**
 * A stored watermark, NaN when there is none. One later than now cannot be right (it was written by a
 * clock running ahead, or before watermarks were capped at the run's start) and would hide everything
 * up to it, so it is ignored: the run reads as on a first run and R9 absorbs the re-read.
 */
async function readWatermark(deps: ReconcileDeps, key: string, now: number): Promise<number> {
  const stored = await deps.state.getState(key);
  const t = stored ? Date.parse(stored) : NaN;
  if (t > now) {
    deps.logger?.warn({ key, watermark: stored }, 'reconciliation: stored watermark lies in the future; ignored');
    return NaN;
  }
  return t;
}

/**
 * Elements REST returned that fail their schema. Each is stored once, quarantined with its JSON and the
 * reason (the store cannot deduplicate what does not normalize, and responses are re-read every run).
 */
class Rejects {
  private readonly pending: string[] = [];
  constructor(
    private readonly deps: ReconcileDeps,
    private readonly clientId: string,
    /** The endpoint, e.g. `unsubscribes`. */
    private readonly source: string,
    /** What was asked for (mailing, category): with the source, part of the element's identity. */
    private readonly scope: string,
    private readonly counts: Counts,
  ) {}

  async push(batch: Batcher, element: { raw: unknown; reason: string }): Promise<void> {
    const text = JSON.stringify(element.raw) ?? String(element.raw);
    const key = watermarkKeys.rejected(this.clientId, createHash('sha256').update(`${this.source}\n${this.scope}\n${text}`).digest('hex').slice(0, 32));
    if (this.pending.includes(key) || (await this.deps.state.getState(key))) {
      this.counts.found += 1;
      this.counts.duplicates += 1;
      return;
    }
    this.pending.push(key);
    this.deps.logger?.warn({ clientId: this.clientId, source: this.source, scope: this.scope, reason: element.reason, element: text.slice(0, 1000) },
      'reconciliation: Campaign REST element does not match its schema; quarantined');
    // No type and no time: whatever normalizes it (now or on a replay) keeps it quarantined.
    await batch.push({ source: `${REST_SOURCE}:${this.source}`, rejected: element.reason, element: element.raw });
  }

  /** Call after the batch holding them is stored. */
  async remember(at: number): Promise<void> {
    for (const key of this.pending.splice(0)) await this.deps.state.setState(key, iso(at));
  }
}

async function reconcileUnsubscribes(deps: ReconcileDeps, clientId: string, s: ClientSummary, o: Required<ReconcileOptions>, now: number): Promise<void> {
  const key = watermarkKeys.unsubscribes(clientId);
  const watermark = await readWatermark(deps, key, now);
  const stopBefore = Number.isNaN(watermark) ? now - o.firstRunLookbackMs : watermark - o.overlapMs;
  let newest = Number.isNaN(watermark) ? -Infinity : watermark;
  const batch = new Batcher(deps.ingest, clientId, s.unsubscribes, o.ingestBatchSize);
  const rejects = new Rejects(deps, clientId, 'unsubscribes', '', s.unsubscribes);
  const onListMoved = (offset: number) => {
    s.unsubscribeListMoved += 1;
    deps.logger?.warn({ clientId, offset }, 'reconciliation: unsubscribe list moved while paging; watermark kept, the next run reads it again');
  };
  for await (const e of deps.campaign.unsubscribesNewestFirst(clientId, o.pageSize, onListMoved)) {
    if (!e.ok) {
      await rejects.push(batch, e); // its date is not trusted: it neither stops the paging nor moves the watermark
      continue;
    }
    const t = restTime(e.record.created);
    if (t < stopBefore) break; // sorted newest first: everything after is older still
    if (!Number.isNaN(t) && t > newest) newest = t;
    await batch.push(unsubscribeToRaw(e.record)); // an unreadable date is stored and quarantined, not dropped
  }
  await batch.flush();
  await rejects.remember(now);
  // Entries may have slid past a page boundary unseen: keep the old watermark so the next run reads them.
  if (s.unsubscribeListMoved) return;
  newest = Math.min(newest, now); // a record dated in the future must not hide later real ones
  if (Number.isFinite(newest) && newest !== watermark) await deps.state.setState(key, iso(newest));
}

/** A bounce watermark to store once the threshold checks of the bounces it covers succeeded. */
type PendingWatermark = { key: string; value: string };

async function reconcileMailing(
  deps: ReconcileDeps, clientId: string, mailingId: string, s: ClientSummary, o: Required<ReconcileOptions>,
  bounced: Map<string, number>, now: number,
): Promise<PendingWatermark | undefined> {
  const bounceKey = watermarkKeys.bounces(clientId, mailingId);
  const bounceWatermark = await readWatermark(deps, bounceKey, now);
  let newestBounce = Number.isNaN(bounceWatermark) ? -Infinity : bounceWatermark;
  for (const category of RESPONSE_CATEGORIES) {
    abortIfStopped(deps.signal);
    let elements;
    try {
      elements = await deps.campaign.responses(clientId, { category, mailingId });
    } catch (err) {
      // 404: Campaign does not know the mailing (yet) — nothing to reconcile, not an error of the run.
      if (err instanceof CampaignApiError && err.status === 404) {
        deps.logger?.debug({ clientId, mailingId }, 'reconciliation: mailing unknown to Campaign');
        return undefined;
      }
      throw err;
    }
    const counts = category === 'autoresponder' ? s.autoresponders : category === 'unknown' ? s.replies : s.bounces;
    const batch = new Batcher(deps.ingest, clientId, counts, o.ingestBatchSize);
    const rejects = new Rejects(deps, clientId, 'responses', `mailing ${mailingId} ${category}`, counts);
    for (const e of elements) {
      if (!e.ok) {
        await rejects.push(batch, e);
        continue;
      }
      const r = e.record;
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
    await rejects.remember(now);
    if (elements.length >= 9999) deps.logger?.warn({ clientId, mailingId, category }, 'reconciliation: response list hit the REST limit of 9999; older records may be missing');
  }
  newestBounce = Math.min(newestBounce, now); // a bounce dated in the future must not hide later real ones
  if (Number.isFinite(newestBounce) && newestBounce !== bounceWatermark) return { key: bounceKey, value: iso(newestBounce) };
  return undefined;
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
    unsubscribes: zero(), autoresponders: zero(), replies: zero(), bounces: zero(), outbounces: zero(), unsubscribeListMoved: 0, errors: [],
  };
  /** Runs one step; false when it failed (reported in `errors`). */
  const step = async (what: string, fn: () => Promise<void>): Promise<boolean> => {
    try {
      abortIfStopped(deps.signal);
      await fn();
      return true;
    } catch (err) {
      s.errors.push(`client ${clientId} ${what}: ${(err as Error).message}`);
      return false;
    }
  };
  await step('unsubscribes', () => reconcileUnsubscribes(deps, clientId, s, o, now));
  const bounced = new Map<string, number>();
  const bounceWatermarks: PendingWatermark[] = [];
  for (const m of mailings) {
    await step(`mailing ${m.mailingId}`, async () => {
      const w = await reconcileMailing(deps, clientId, m.mailingId, s, o, bounced, now);
      if (w) bounceWatermarks.push(w);
    });
  }
  const checked = bounced.size ? await step('bounce thresholds', () => reconcileOutbounces(deps, clientId, s, bounced, o)) : true;
  // Only now: a bounce whose threshold check failed lies above the old watermark and is asked again next run.
  if (checked && bounceWatermarks.length) {
    await step('bounce watermarks', async () => {
      for (const w of bounceWatermarks) await deps.state.setState(w.key, w.value);
    });
  }
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
