/**
 * R4 — the latest entry wins: a consent's current state is its history entry with the latest
 * occurredOn; on a tie an opt-out wins. Pure, shared by the planner, the consent gate (R6) and the
 * opt-in history panel (bundled into the web resource), so the rule exists once.
 */

export type EntryType = 'optin' | 'optout';

export interface HistoryEntryLike {
  entryType: EntryType;
  /** ISO 8601 timestamp. */
  occurredOn: string;
}

export interface ConsentVerdict<E extends HistoryEntryLike> {
  state: EntryType | 'none';
  /** The entry that decides the state (undefined when the history is empty). */
  decidingEntry?: E;
}

/** Orders entries newest first; on equal time an opt-out comes first (it wins ties). */
export function compareNewestFirst(a: HistoryEntryLike, b: HistoryEntryLike): number {
  const ta = Date.parse(a.occurredOn);
  const tb = Date.parse(b.occurredOn);
  if (ta !== tb) return tb - ta;
  if (a.entryType === b.entryType) return 0;
  return a.entryType === 'optout' ? -1 : 1;
}

export function currentConsentState<E extends HistoryEntryLike>(entries: readonly E[]): ConsentVerdict<E> {
  let best: E | undefined;
  for (const e of entries) {
    if (Number.isNaN(Date.parse(e.occurredOn))) continue; // an entry without a valid time cannot decide
    if (!best || compareNewestFirst(e, best) < 0) best = e;
  }
  return best ? { state: best.entryType, decidingEntry: best } : { state: 'none' };
}

/**
 * A consent's opted-out `crs_status` at its `crs_statuschangedon`, as an entry (undefined otherwise).
 * A status set in CRM or by an import may have no history row behind it. An opt-out status counts, so
 * an older event can never undo it (R4). An opted-in status does not: an opt-in needs a history entry
 * as its evidence, and a status flipped to opted in by hand must not make a person eligible again.
 */
export function statusEntry(status: EntryType | undefined, statusChangedOn: string | undefined): HistoryEntryLike | undefined {
  if (status !== 'optout' || !statusChangedOn || Number.isNaN(Date.parse(statusChangedOn))) return undefined;
  return { entryType: status, occurredOn: statusChangedOn };
}
