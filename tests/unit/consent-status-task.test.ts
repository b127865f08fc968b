/**
 * The consent-status task (R4 upkeep) against the Dataverse emulator over HTTPS with the real client:
 * history entries written by "CRM users" straight through the Web API, the task repairs crs_status.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../../service/config.js';
import { createLogger } from '../../service/log.js';
import type { EventStore } from '../../service/store/types.js';
import { createBackgroundTasks } from '../../service/tasks.js';
import { createDataverseClient } from '../../service/dataverse/index.js';
import type { HttpDataverseClient } from '../../service/dataverse/client.js';
import type { DataverseClient } from '../../service/dataverse/types.js';
import { createMetrics } from '../../service/metrics.js';
import {
  CHECKED_UNTIL_KEY, checkConsentStatuses, consentStatusTaskFromConfig, createConsentStatusTask, expectedStatus, WATERMARK_OVERLAP_MS,
  type ConsentStatusDeps, type ConsentStatusTask,
} from '../../service/sync/consent-status-task.js';
import { CONSENT_STATUS, ENTRY_SOURCE, ENTRY_TYPE } from '../../solution/model/index.js';
import { DEMO_IDS, demoSeed } from '../emulators/dataverse/demo-seed.js';
import { startHarness, type Harness } from '../emulators/dataverse/helpers.js';

const I = DEMO_IDS;

function memoryState() {
  const map = new Map<string, string>();
  return {
    map,
    async getState(key: string) {
      return map.get(key) ?? null;
    },
    async setState(key: string, value: string) {
      map.set(key, value);
    },
  };
}

function dataverseConfig(h: Harness): Pick<Config, 'dataverse'> {
  const { emu } = h;
  return {
    dataverse: {
      url: emu.url, tenantId: emu.tenantId, clientId: emu.clientId, clientSecret: emu.clientSecret,
      authorityHost: emu.authorityHost, maxConcurrency: 8,
    } as Config['dataverse'],
  };
}

let h: Harness;
let client: HttpDataverseClient;
let state: ReturnType<typeof memoryState>;

beforeAll(async () => {
  h = await startHarness({ seed: demoSeed() });
});
afterAll(async () => {
  await h.emu.close();
});
beforeEach(() => {
  h.emu.reset();
  client = createDataverseClient(dataverseConfig(h), { backoffMinMs: 5, backoffMaxMs: 20 });
  state = memoryState();
});
afterEach(async () => {
  await client.close();
});

let entrySeq = 0;
/** A history entry as a CRM user (or an import) writes it: straight through the Web API, not through the service. */
async function crmEntry(consentId: string, type: 'optin' | 'optout', occurredOn: string): Promise<void> {
  entrySeq += 1;
  const r = await h.api('POST', 'crs_optinhistories', {
    body: {
      crs_name: `CRM entry ${entrySeq}`,
      'crs_advertisingconsentid@odata.bind': `/crs_advertisingconsents(${consentId})`,
      crs_entrytype: type === 'optin' ? ENTRY_TYPE.OptIn : ENTRY_TYPE.OptOut,
      crs_occurredon: occurredOn,
      crs_source: ENTRY_SOURCE.Crm,
    },
  });
  expect(r.status, r.text).toBe(204);
}

async function patchConsent(consentId: string, body: Record<string, unknown>): Promise<void> {
  const r = await h.api('PATCH', `crs_advertisingconsents(${consentId})`, { body, headers: { 'If-Match': '*' } });
  expect(r.status, r.text).toBe(204);
}

const consent = (id: string) => h.emu.rows('crs_advertisingconsent').find((c) => c.crs_advertisingconsentid === id)!;
const statusOf = (id: string) => ({ status: consent(id).crs_status, on: consent(id).crs_statuschangedon });
/** Row versions of every consent: unchanged = nothing written to any consent. */
const consentVersions = () => Object.fromEntries(h.emu.rows('crs_advertisingconsent').map((c) => [c.crs_advertisingconsentid, c.versionnumber]));
const run = (extra: Partial<ConsentStatusDeps> = {}) => checkConsentStatuses({ dataverse: client, state, ...extra });

describe('consent-status run against the emulator', () => {
  it('repairs an opted-in status to an opt-out entry a CRM user wrote later (date of the entry), counted in the metric', async () => {
    const metrics = createMetrics({ defaultMetrics: false });
    expect(statusOf(I.consentAnnaEmail)).toEqual({ status: CONSENT_STATUS.OptedIn, on: '2026-03-02T08:15:00Z' });
    await crmEntry(I.consentAnnaEmail, 'optout', '2026-10-01T09:00:00Z');

    const r = await run({ metrics });
    expect(r.errors).toEqual([]);
    expect(statusOf(I.consentAnnaEmail)).toEqual({ status: CONSENT_STATUS.OptedOut, on: '2026-10-01T09:00:00Z' });
    // The demo's other consents are consistent: checked, not written.
    expect(r).toMatchObject({ consentsChecked: 4, repaired: 1, conflicts: 0 });
    expect(statusOf(I.consentBenEmail)).toEqual({ status: CONSENT_STATUS.OptedOut, on: '2026-09-18T17:40:00Z' });
    expect(await metrics.registry.getSingleMetric('crs_consent_status_repairs_total')!.get()).toMatchObject({ values: [{ value: 1 }] });

    // A second run finds nothing to do.
    const again = await run({ metrics });
    expect(again).toMatchObject({ repaired: 0, errors: [] });
  });

  it('a tie of opt-in and opt-out at the same time is an opt-out; a status flipped to opted in by hand does not count', async () => {
    await crmEntry(I.consentAnnaEmail, 'optin', '2026-10-01T09:00:00Z');
    await crmEntry(I.consentAnnaEmail, 'optout', '2026-10-01T09:00:00Z');
    // Ben's email consent: opted out (2026-09-18) — someone sets it to opted in by hand, later, without an entry.
    await patchConsent(I.consentBenEmail, { crs_status: CONSENT_STATUS.OptedIn, crs_statuschangedon: '2026-11-01T10:00:00Z' });
    await crmEntry(I.consentBenEmail, 'optin', '2026-01-01T00:00:00Z'); // an old import line touches its history

    expect(await run()).toMatchObject({ repaired: 2, errors: [] });
    expect(statusOf(I.consentAnnaEmail)).toEqual({ status: CONSENT_STATUS.OptedOut, on: '2026-10-01T09:00:00Z' });
    expect(statusOf(I.consentBenEmail)).toEqual({ status: CONSENT_STATUS.OptedOut, on: '2026-09-18T17:40:00Z' });
  });

  it('an older entry does not change a newer status', async () => {
    const before = { benSms: statusOf(I.consentBenSms), benEmail: statusOf(I.consentBenEmail) };
    await crmEntry(I.consentBenSms, 'optout', '2026-02-01T00:00:00Z'); // older than the opt-in of 2026-05-05
    await crmEntry(I.consentBenEmail, 'optin', '2026-06-01T00:00:00Z'); // older than the opt-out of 2026-09-18
    const versions = consentVersions();
    const r = await run();
    expect(r).toMatchObject({ repaired: 0, errors: [] });
    expect(r.consentsChecked).toBeGreaterThanOrEqual(2);
    expect({ benSms: statusOf(I.consentBenSms), benEmail: statusOf(I.consentBenEmail) }).toEqual(before);
    expect(consentVersions()).toEqual(versions);
  });

  it('keeps an opted-out status newer than the latest opt-in entry (statusEntry), e.g. set by an import without history', async () => {
    await patchConsent(I.consentAnnaEmail, { crs_status: CONSENT_STATUS.OptedOut, crs_statuschangedon: '2026-10-05T00:00:00Z' });
    await crmEntry(I.consentAnnaEmail, 'optin', '2026-04-01T00:00:00Z');
    expect(await run()).toMatchObject({ repaired: 0, errors: [] });
    expect(statusOf(I.consentAnnaEmail)).toEqual({ status: CONSENT_STATUS.OptedOut, on: '2026-10-05T00:00:00Z' });
  });

  it('skips a consent changed meanwhile (412 on If-Match) without error, holds the watermark, and repairs it next run', async () => {
    // Anna's new entry was modified 10 minutes ago, the demo's entries just now: without holding the
    // watermark for the skipped consent, it would move past her entry.
    h.emu.seed({
      crs_optinhistory: [{
        crs_optinhistoryid: '1b3a7c1e-0008-4d2a-9c11-0000000000a1', crs_name: 'CRM', _crs_advertisingconsentid_value: I.consentAnnaEmail,
        crs_entrytype: ENTRY_TYPE.OptOut, crs_occurredon: '2026-10-01T09:00:00Z', crs_source: ENTRY_SOURCE.Crm,
        modifiedon: new Date(Date.now() - 600_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      }],
    });
    // Between the run's read and its write, a CRM user edits the consent (its version moves on).
    const racing: Pick<DataverseClient, 'query' | 'execute'> = {
      query: (set, q, o) => client.query(set, q, o),
      async execute(ops) {
        for (const op of ops) await patchConsent(op.id, { crs_name: 'renamed meanwhile' });
        return client.execute(ops);
      },
    };
    const first = await run({ dataverse: racing });
    expect(first).toMatchObject({ repaired: 0, conflicts: 1, errors: [] });
    expect(statusOf(I.consentAnnaEmail).status).toBe(CONSENT_STATUS.OptedIn);
    expect(consent(I.consentAnnaEmail).crs_name).toBe('renamed meanwhile');
    // The watermark did not pass Anna's new entry: the next run reads it again and repairs.
    const entry = h.emu.rows('crs_optinhistory').find((e) => e.crs_occurredon === '2026-10-01T09:00:00Z')!;
    expect(Date.parse(state.map.get(CHECKED_UNTIL_KEY)!)).toBeLessThan(Date.parse(String(entry.modifiedon)));
    const second = await run();
    expect(second).toMatchObject({ repaired: 1, conflicts: 0, errors: [] });
    expect(statusOf(I.consentAnnaEmail)).toEqual({ status: CONSENT_STATUS.OptedOut, on: '2026-10-01T09:00:00Z' });
  });

  it('moves the watermark only after a run without errors; entries modified before it are not read again', async () => {
    // First run: no watermark, looks back 30 days; paged (2 rows per page, nextLink followed).
    const failing = h.emu.faults;
    failing.failNext(1, 400, { match: 'crs_advertisingconsents' });
    const failed = await run({ pageSize: 2 });
    expect(failed.errors).toHaveLength(1);
    expect(failed.changedEntries).toBe(5); // the demo's five entries
    expect(state.map.has(CHECKED_UNTIL_KEY)).toBe(false);
    expect(h.emu.journal().filter((j) => j.path.includes('crs_optinhistories') && j.path.includes('skiptoken')).length).toBeGreaterThan(0);

    const ok = await run({ pageSize: 2 });
    expect(ok).toMatchObject({ errors: [], changedEntries: 5, consentsChecked: 4 });
    const newest = Math.max(...h.emu.rows('crs_optinhistory').map((e) => Date.parse(String(e.modifiedon))));
    const watermark = state.map.get(CHECKED_UNTIL_KEY)!;
    expect(Date.parse(watermark)).toBe(Math.min(newest - WATERMARK_OVERLAP_MS, Date.parse(ok.startedAt) - (Date.parse(ok.startedAt) % 1000)));
    expect(ok.checkedUntil).toBe(watermark);

    // Clara's consent and its entries were all modified (per modifiedon) before the watermark, among them an
    // opt-out newer than her status: they are not read again, so the consent is not looked at.
    const beforeWatermark = new Date(Date.parse(watermark) - 3_600_000).toISOString().replace('.000Z', 'Z');
    const CLARA = '1b3a7c1e-0007-4d2a-9c11-0000000000c1';
    h.emu.seed({
      crs_advertisingconsent: [{
        crs_advertisingconsentid: CLARA, crs_name: 'Clara – SMS', _crs_contactid_value: I.contactClara, _crs_newsletterid_value: I.newsletterSms,
        crs_status: CONSENT_STATUS.OptedIn, crs_statuschangedon: '2026-05-01T00:00:00Z', modifiedon: beforeWatermark,
      }],
      crs_optinhistory: [
        { crs_optinhistoryid: '1b3a7c1e-0008-4d2a-9c11-0000000000f1', crs_name: 'Import', _crs_advertisingconsentid_value: CLARA,
          crs_entrytype: ENTRY_TYPE.OptIn, crs_occurredon: '2026-05-01T00:00:00Z', crs_source: ENTRY_SOURCE.Import, modifiedon: beforeWatermark },
        { crs_optinhistoryid: '1b3a7c1e-0008-4d2a-9c11-0000000000f2', crs_name: 'Import', _crs_advertisingconsentid_value: CLARA,
          crs_entrytype: ENTRY_TYPE.OptOut, crs_occurredon: '2026-10-10T10:00:00Z', crs_source: ENTRY_SOURCE.Import, modifiedon: beforeWatermark },
      ],
    });
    const later = await run();
    expect(later.since).toBe(watermark);
    expect(later.errors).toEqual([]);
    // Only the entries inside the overlap (the demo's, modified a moment ago) are read again.
    expect(later.changedEntries).toBe(h.emu.rows('crs_optinhistory').filter((e) => Date.parse(String(e.modifiedon)) > Date.parse(watermark)).length);
    expect(statusOf(CLARA)).toEqual({ status: CONSENT_STATUS.OptedIn, on: '2026-05-01T00:00:00Z' });
    expect(h.emu.journal().some((j) => decodeURIComponent(j.path).includes(`modifiedon gt ${watermark}`))).toBe(true);
    // A failed run leaves the watermark where it was.
    failing.failNext(1, 400, { match: 'crs_optinhistories' });
    const failedAgain = await run();
    expect(failedAgain.errors).toHaveLength(1);
    expect(state.map.get(CHECKED_UNTIL_KEY)).toBe(later.checkedUntil);
  });
});

describe('expectedStatus (R4 with the current status)', () => {
  it('leaves a consent with only a status (no history) alone', () => {
    expect(expectedStatus({ status: 'optout', statusChangedOn: '2026-01-01T00:00:00Z' }, [])).toBeUndefined();
    expect(expectedStatus({ status: 'optin' }, [])).toBeUndefined();
  });
  it('sets a missing status and compares dates as instants', () => {
    expect(expectedStatus({}, [{ entryType: 'optin', occurredOn: '2026-01-01T00:00:00Z' }])).toEqual({ status: 'optin', statusChangedOn: '2026-01-01T00:00:00Z' });
    expect(expectedStatus({ status: 'optin', statusChangedOn: '2026-01-01T00:00:00.000Z' }, [{ entryType: 'optin', occurredOn: '2026-01-01T00:00:00Z' }])).toBeUndefined();
  });
});

describe('consent-status task', () => {
  it('is one of the service background tasks, off without Dataverse, and says why', async () => {
    const tasks = await createBackgroundTasks({
      config: loadConfig({}), store: memoryState() as unknown as EventStore, logger: createLogger({ level: 'silent' }), metrics: createMetrics({ defaultMetrics: false }),
    });
    const task = tasks.find((t) => t.name === 'consent-status') as ConsentStatusTask;
    expect(task).toBeDefined();
    await task.start();
    expect(task.name).toBe('consent-status');
    expect(task.status!()).toMatchObject({ enabled: false, disabledReason: expect.stringContaining('CRS_DATAVERSE_URL'), nextRunAt: null });
    expect(await task.runNow()).toBeUndefined();
    await task.stop();
  });

  it('with Dataverse: scheduled every 15 minutes, a run shows in status(), errors in lastError, stop() ends it', async () => {
    const errors: string[] = [];
    const infos: string[] = [];
    const logger = { info: (_o: object, m?: string) => void infos.push(m ?? ''), error: (_o: object, m?: string) => void errors.push(m ?? ''), debug: () => undefined };
    const task = createConsentStatusTask({ deps: { dataverse: client, state }, logger });
    await task.start();
    expect(task.status!()).toMatchObject({ enabled: true, intervalSeconds: 900, running: false });
    expect(Date.parse(task.status!().nextRunAt as string)).toBeGreaterThan(Date.now());

    await crmEntry(I.consentAnnaEmail, 'optout', '2026-10-01T09:00:00Z');
    const r = await task.runNow();
    expect(r).toMatchObject({ repaired: 1 });
    expect(task.status!()).toMatchObject({ runs: 1, totalRepaired: 1, lastError: null, lastRun: { repaired: 1, consentsChecked: 4 } });
    expect(infos.some((m) => /4 consent\(s\) checked, 1 repaired/.test(m))).toBe(true);

    h.emu.faults.failNext(1, 400, { match: 'crs_optinhistories' });
    await task.runNow();
    expect(task.status!().lastError).toMatch(/crs_optinhistories/);
    expect(errors).toHaveLength(1);

    await task.stop();
    expect(task.status!().nextRunAt).toBeNull();
  });

  it('from the configuration with a Dataverse URL it is on (its own client, closed on stop)', async () => {
    const task = consentStatusTaskFromConfig({ config: dataverseConfig(h), store: state });
    expect(task.status!()).toMatchObject({ enabled: true });
    expect(await task.runNow()).toMatchObject({ errors: [], consentsChecked: 4 });
    await task.stop();
  });
});
