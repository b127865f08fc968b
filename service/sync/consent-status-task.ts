/**
 * R4 upkeep as a background task ("consent-status"): keeps crs_status / crs_statuschangedon of the
 * advertising consents equal to the R4 rule also when someone else (a CRM user, an import) adds a
 * history entry — the sync worker recomputes a status only when a Campaign event touches the consent.
 *
 * Every 15 minutes (CONSENT_STATUS_INTERVAL_MS; on whenever a Dataverse is configured, like the sync
 * task) a run:
 * 1. reads the crs_optinhistory rows modified after the stored watermark (CHECKED_UNTIL_KEY; the first
 *    run looks back 30 days), all pages, and collects their consents;
 * 2. reads those consents in chunks — status, date, ETag, and their deciding history entry ($expand
 *    of the history, newest first, an opt-out first on a tie, $top=1: the order of the opt-in panel);
 * 3. computes the expected status with the shared rule (consent/state.ts: currentConsentState over
 *    the deciding entry plus statusEntry of the current status) and PATCHes the consents that differ,
 *    with If-Match. A 412 (changed meanwhile) skips the consent without error; the watermark is held
 *    before its entries so the next run looks at it again. A consent without history is left alone;
 * 4. moves the watermark, only when the run finished without errors, to the newest modifiedon seen
 *    minus WATERMARK_OVERLAP_MS (entries of a transaction still in flight may carry an earlier time),
 *    never past the run start.
 */
import type { Logger } from 'pino';
import { currentConsentState, statusEntry, type EntryType, type HistoryEntryLike } from '../consent/state.js';
import type { Config } from '../config.js';
import { createDataverseClient } from '../dataverse/index.js';
import type { DataverseClient, DataverseOp, DataverseRow } from '../dataverse/types.js';
import type { Metrics } from '../metrics.js';
import { closingOnStop, createPeriodicSchedule } from '../periodic.js';
import type { EventStore } from '../store/types.js';
import type { BackgroundTask } from '../tasks.js';
import { advertisingConsent, column, CONSENT_STATUS, ENTRY_TYPE, optInHistory } from '../../solution/model/index.js';
import { odataQuery } from '../campaign/directory.js';
import { canonicalTime } from './keys.js';

export const CONSENT_STATUS_TASK_NAME = 'consent-status';
/** Between runs: a status left stale by a CRM user's or an import's entry is repaired within this. */
export const CONSENT_STATUS_INTERVAL_MS = 15 * 60_000;
/** Store key of the watermark: history entries modified after it have not been checked yet. */
export const CHECKED_UNTIL_KEY = 'consent.status.checkedUntil';
/** How far back the first run (no watermark yet) looks. */
export const FIRST_RUN_LOOKBACK_MS = 30 * 86_400_000;
/** The watermark stays this far behind the newest modifiedon seen, so late-committed entries are read too. */
export const WATERMARK_OVERLAP_MS = 60_000;
/** Consent ids per `or` query (keeps URLs short, as the sync lookups do). */
export const CONSENT_CHUNK = 40;
/** Chunk queries issued together (the client sends one tick's GETs as one $batch). */
const CHUNKS_PER_ROUND = 10;

/** System column every Dataverse table has (not part of the shipped model). */
const MODIFIED_ON = 'modifiedon';
const lookupValue = (name: string) => `_${name}_value`;

const AC = {
  set: advertisingConsent.entitySetName,
  id: advertisingConsent.primaryIdAttribute,
  status: column(advertisingConsent, 'crs_status').logicalName,
  statusChangedOn: column(advertisingConsent, 'crs_statuschangedon').logicalName,
} as const;
const OH = {
  set: optInHistory.entitySetName,
  id: optInHistory.primaryIdAttribute,
  consent: column(optInHistory, 'crs_advertisingconsentid').logicalName,
  entryType: column(optInHistory, 'crs_entrytype').logicalName,
  occurredOn: column(optInHistory, 'crs_occurredon').logicalName,
} as const;
/** Collection-valued navigation property consent → history (the relationship's schema name). */
const HISTORY_NAV = column(optInHistory, OH.consent).relationshipName!;
/** Newest first; on equal time the opt-out first (it wins ties): the deciding entry comes first (as the opt-in panel orders). */
const HISTORY_ORDER = `${OH.occurredOn} desc,${OH.entryType} ${ENTRY_TYPE.OptOut > ENTRY_TYPE.OptIn ? 'desc' : 'asc'}`;

export interface ConsentStatusRun {
  startedAt: string;
  finishedAt?: string;
  /** History entries modified after this were read. */
  since: string;
  /** History entries modified since `since`. */
  changedEntries: number;
  consentsChecked: number;
  repaired: number;
  /** Consents changed meanwhile (412): skipped, looked at again next run. */
  conflicts: number;
  errors: string[];
  /** The task was stopping: the run ended early and kept the watermark. */
  interrupted?: boolean;
  /** The watermark after the run (unchanged unless the run finished without errors and saw entries). */
  checkedUntil: string;
}

export interface ConsentStatusDeps {
  dataverse: Pick<DataverseClient, 'query' | 'execute'>;
  state: Pick<EventStore, 'getState' | 'setState'>;
  now?: () => Date;
  chunkSize?: number;
  /** Rows per page of the changed-entries query (default: the client's, 5000); the client follows @odata.nextLink. */
  pageSize?: number;
  /** True when the run should end early (the task is stopping); the watermark then stays. */
  stopped?: () => boolean;
  metrics?: Pick<Metrics, 'consentStatusRepairs'>;
}

/** What the consent should say, or undefined when it already does (or there is no history to decide). */
export function expectedStatus(
  stored: { status?: EntryType; statusChangedOn?: string },
  history: readonly HistoryEntryLike[],
): { status: EntryType; statusChangedOn: string } | undefined {
  // Only a status: nothing to compare it with (set in CRM or imported), left alone.
  if (!history.some((e) => !Number.isNaN(Date.parse(e.occurredOn)))) return undefined;
  const current = statusEntry(stored.status, stored.statusChangedOn);
  const verdict = currentConsentState([...history, ...(current ? [current] : [])]);
  if (verdict.state === 'none' || !verdict.decidingEntry) return undefined;
  const statusChangedOn = canonicalTime(verdict.decidingEntry.occurredOn);
  const sameDate = stored.statusChangedOn !== undefined && Date.parse(stored.statusChangedOn) === Date.parse(statusChangedOn);
  if (stored.status === verdict.state && sameDate) return undefined;
  return { status: verdict.state, statusChangedOn };
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const lower = (v: unknown): string | undefined => str(v)?.toLowerCase();
/** OData date-time literal: UTC, whole seconds (rounded down, so never later than `ms`). */
const odataTime = (ms: number): string => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
const statusOf = (v: unknown): EntryType | undefined => (v === CONSENT_STATUS.OptedIn ? 'optin' : v === CONSENT_STATUS.OptedOut ? 'optout' : undefined);
const entryTypeOf = (v: unknown): EntryType | undefined => (v === ENTRY_TYPE.OptIn ? 'optin' : v === ENTRY_TYPE.OptOut ? 'optout' : undefined);

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Consents with their deciding history entry (the first in R4 order; entries without type or time cannot decide). */
function consentsQuery(ids: readonly string[]): string {
  const expand = `${HISTORY_NAV}($select=${OH.entryType},${OH.occurredOn};$filter=${OH.entryType} ne null and ${OH.occurredOn} ne null;` +
    `$orderby=${HISTORY_ORDER};$top=1)`;
  const filter = ids.map((id) => `${AC.id} eq ${id}`).join(' or ');
  return `${odataQuery([AC.id, AC.status, AC.statusChangedOn], filter)}&$expand=${encodeURIComponent(expand)}`;
}

/** One run; resolves with its summary (errors are in it), rejects only if the watermark cannot be read. */
export async function checkConsentStatuses(deps: ConsentStatusDeps): Promise<ConsentStatusRun> {
  const now = deps.now ?? (() => new Date());
  const startedAt = now();
  const stored = await deps.state.getState(CHECKED_UNTIL_KEY);
  const storedMs = stored ? Date.parse(stored) : NaN;
  const sinceMs = Number.isNaN(storedMs) ? startedAt.getTime() - FIRST_RUN_LOOKBACK_MS : storedMs;
  const since = odataTime(sinceMs);
  const run: ConsentStatusRun = {
    startedAt: startedAt.toISOString(), since, changedEntries: 0, consentsChecked: 0, repaired: 0, conflicts: 0, errors: [],
    checkedUntil: stored ?? since,
  };
  const fail = (what: string, err: unknown) => run.errors.push(`${what}: ${(err as Error)?.message ?? String(err)}`);

  // 1. The entries modified since the watermark (the client follows @odata.nextLink).
  let changed: DataverseRow[];
  try {
    changed = await deps.dataverse.query(OH.set, odataQuery([lookupValue(OH.consent), MODIFIED_ON], `${MODIFIED_ON} gt ${since}`),
      deps.pageSize ? { maxPageSize: deps.pageSize } : undefined);
  } catch (err) {
    fail(`reading ${OH.set} modified after ${since}`, err);
    run.finishedAt = now().toISOString();
    return run;
  }
  run.changedEntries = changed.length;
  /** Per consent: the earliest modifiedon of its changed entries (a conflict holds the watermark before it). */
  const firstChange = new Map<string, number>();
  let newest = Number.NEGATIVE_INFINITY;
  for (const r of changed) {
    const consentId = lower(r[lookupValue(OH.consent)]);
    const modified = Date.parse(str(r[MODIFIED_ON]) ?? '');
    if (Number.isNaN(modified)) continue;
    newest = Math.max(newest, modified);
    if (consentId) firstChange.set(consentId, Math.min(firstChange.get(consentId) ?? modified, modified));
  }

  // 2.–3. The consents, chunk by chunk (a round's chunks go out together), and their repairs.
  let hold = Number.POSITIVE_INFINITY;
  let stoppedEarly = false;
  const ids = [...firstChange.keys()].sort();
  for (const round of chunks(chunks(ids, deps.chunkSize ?? CONSENT_CHUNK), CHUNKS_PER_ROUND)) {
    if (deps.stopped?.()) {
      stoppedEarly = true;
      break;
    }
    const pages = await Promise.all(round.map((chunk) => deps.dataverse.query(AC.set, consentsQuery(chunk)).catch((err: unknown) => {
      fail(`reading ${chunk.length} ${AC.set}`, err);
      return [] as DataverseRow[];
    })));
    const ops: DataverseOp[] = [];
    for (const row of pages.flat()) {
      const id = lower(row[AC.id]);
      if (!id) continue;
      const nested = row[HISTORY_NAV];
      if (!Array.isArray(nested)) {
        run.errors.push(`${AC.set}(${id}): the history was not expanded`);
        continue;
      }
      run.consentsChecked += 1;
      const history = (nested as DataverseRow[]).flatMap((h): HistoryEntryLike[] => {
        const entryType = entryTypeOf(h[OH.entryType]);
        const occurredOn = str(h[OH.occurredOn]);
        return entryType && occurredOn ? [{ entryType, occurredOn }] : [];
      });
      const status = statusOf(row[AC.status]);
      const statusChangedOn = str(row[AC.statusChangedOn]);
      const expected = expectedStatus({ ...(status ? { status } : {}), ...(statusChangedOn ? { statusChangedOn } : {}) }, history);
      if (!expected) continue;
      ops.push({
        method: 'update', entitySet: AC.set, id, tag: id,
        body: {
          [AC.status]: expected.status === 'optin' ? CONSENT_STATUS.OptedIn : CONSENT_STATUS.OptedOut,
          [AC.statusChangedOn]: expected.statusChangedOn,
        },
        // Optimistic concurrency: only if the row is still the one the verdict was computed from.
        ifMatch: str(row['@odata.etag']) ?? '*',
      });
    }
    if (ops.length === 0) continue;
    let results;
    try {
      results = await deps.dataverse.execute(ops);
    } catch (err) {
      fail(`updating ${ops.length} ${AC.set}`, err);
      continue;
    }
    for (const r of results) {
      if (r.ok) {
        run.repaired += 1;
        deps.metrics?.consentStatusRepairs.inc();
      } else if (r.status === 412 || r.status === 404) {
        // Changed (or deleted) meanwhile: skipped; the next run reads its entries again.
        run.conflicts += 1;
        hold = Math.min(hold, firstChange.get(r.op.id) ?? hold);
      } else {
        run.errors.push(`${AC.set}(${r.op.id}): HTTP ${r.status} ${r.error?.code ?? ''} ${r.error?.message ?? ''}`.trim());
      }
    }
  }

  // 4. The watermark, only after a complete run without errors.
  if (!stoppedEarly && run.errors.length === 0 && newest > Number.NEGATIVE_INFINITY) {
    const next = Math.max(sinceMs, Math.min(newest - WATERMARK_OVERLAP_MS, startedAt.getTime(), hold - WATERMARK_OVERLAP_MS));
    if (next > sinceMs || Number.isNaN(storedMs)) {
      try {
        await deps.state.setState(CHECKED_UNTIL_KEY, odataTime(next));
        run.checkedUntil = odataTime(next);
      } catch (err) {
        fail('storing the watermark', err);
      }
    }
  }
  if (stoppedEarly) run.interrupted = true;
  run.finishedAt = now().toISOString();
  return run;
}

export interface ConsentStatusTaskOptions {
  /** Both needed for the task to be on. */
  deps?: Omit<ConsentStatusDeps, 'stopped'>;
  /** Why the task does nothing (no Dataverse); shown in status(). */
  disabledReason?: string;
  /** Between runs (default CONSENT_STATUS_INTERVAL_MS). */
  intervalMs?: number;
  /** Delay of the first run after start (default 60 s: let the service come up first). */
  initialDelayMs?: number;
  logger?: Pick<Logger, 'info' | 'error' | 'debug'>;
}

export interface ConsentStatusTask extends BackgroundTask {
  /** Runs now (joins a running run); resolves with the run (undefined when off or the run threw), never rejects. */
  runNow(): Promise<ConsentStatusRun | undefined>;
}

export function createConsentStatusTask(opts: ConsentStatusTaskOptions): ConsentStatusTask {
  const deps = opts.deps;
  const enabled = deps !== undefined && !opts.disabledReason;
  const disabledReason = opts.disabledReason ?? 'no Dataverse';
  const intervalMs = opts.intervalMs ?? CONSENT_STATUS_INTERVAL_MS;
  let runs = 0;
  let totalRepaired = 0;
  let lastRun: ConsentStatusRun | undefined;
  let lastError: string | null = null;
  const schedule = createPeriodicSchedule({ run: execute, intervalMs });

  async function execute(): Promise<ConsentStatusRun | undefined> {
    if (!deps) return undefined;
    try {
      const run = await checkConsentStatuses({ ...deps, stopped: () => schedule.stopped });
      runs += 1;
      lastRun = run;
      totalRepaired += run.repaired;
      const counts = { changedEntries: run.changedEntries, consentsChecked: run.consentsChecked, repaired: run.repaired, conflicts: run.conflicts };
      if (run.errors.length) {
        lastError = run.errors[0]!;
        opts.logger?.error({ ...counts, errors: run.errors.slice(0, 20), checkedUntil: run.checkedUntil },
          `consent status check failed with ${run.errors.length} error(s), watermark kept at ${run.checkedUntil} (retried next run): ${lastError}`);
      } else {
        lastError = null;
        if (run.interrupted) {
          opts.logger?.info({ ...counts, checkedUntil: run.checkedUntil }, `consent status check interrupted by stop after ${run.repaired} repair(s) (watermark kept)`);
        } else if (run.repaired > 0 || run.conflicts > 0) {
          opts.logger?.info({ ...counts, checkedUntil: run.checkedUntil },
            `consent status: ${run.consentsChecked} consent(s) checked, ${run.repaired} repaired to R4` +
            (run.conflicts ? `, ${run.conflicts} changed meanwhile (next run)` : ''));
        } else {
          opts.logger?.debug({ ...counts, checkedUntil: run.checkedUntil }, `consent status: ${run.consentsChecked} consent(s) checked, none stale`);
        }
      }
      return run;
    } catch (err) {
      lastError = (err as Error)?.message ?? String(err);
      opts.logger?.error({ err }, `consent status check failed (retried next run): ${lastError}`);
      return undefined;
    }
  }

  return {
    name: CONSENT_STATUS_TASK_NAME,
    async start() {
      if (!enabled) {
        opts.logger?.info({}, `consent status check off: ${disabledReason}`);
        return;
      }
      opts.logger?.info({ intervalSeconds: intervalMs / 1000 }, 'consent status check scheduled (crs_status kept equal to the latest opt-in history entry, R4)');
      schedule.start(opts.initialDelayMs ?? 60_000);
    },
    stop: () => schedule.stop(),
    runNow: () => (enabled ? schedule.runNow() : Promise.resolve(undefined)),
    status() {
      return {
        enabled,
        ...(enabled ? {} : { disabledReason }),
        intervalSeconds: intervalMs / 1000,
        running: schedule.running,
        runs,
        totalRepaired,
        nextRunAt: schedule.nextRunAt?.toISOString() ?? null,
        lastRun: lastRun ? { ...lastRun, errors: lastRun.errors.slice(0, 20) } : null,
        lastError,
      };
    },
  };
}

/**
 * Builds the task from the service's pieces (service/tasks.ts): on whenever a Dataverse is configured
 * (the sync task's condition, also demo mode's emulator), with its own client; off otherwise.
 */
export function consentStatusTaskFromConfig(ctx: {
  config: Pick<Config, 'dataverse'>;
  store: Pick<EventStore, 'getState' | 'setState'>;
  logger?: Logger;
  metrics?: Metrics;
  dataverse?: Pick<DataverseClient, 'query' | 'execute'>;
}): ConsentStatusTask {
  const logger = ctx.logger?.child({ task: CONSENT_STATUS_TASK_NAME });
  if (!ctx.dataverse && !ctx.config.dataverse.url) {
    return createConsentStatusTask({ disabledReason: 'no Dataverse (CRS_DATAVERSE_URL) to keep consent statuses in', ...(logger ? { logger } : {}) });
  }
  let owned: { close(): Promise<void> } | undefined;
  let dataverse = ctx.dataverse;
  if (!dataverse) {
    const client = createDataverseClient(ctx.config, { ...(logger ? { logger } : {}), ...(ctx.metrics ? { metrics: ctx.metrics } : {}) });
    owned = client;
    dataverse = client;
  }
  const task = createConsentStatusTask({
    deps: { dataverse, state: ctx.store, ...(ctx.metrics ? { metrics: ctx.metrics } : {}) },
    ...(logger ? { logger } : {}),
  });
  return closingOnStop(task, owned);
}
