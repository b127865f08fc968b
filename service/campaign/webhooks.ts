/**
 * Webhook registration in Campaign: one webhook per event type we consume, all pointing at our
 * receiver (`POST /webhooks/campaign/:clientId`) with our Authorization header.
 * Order: create → activate → verify; teardown: deactivate → delete. Planning is pure
 * (`planRegistration`), the shell functions below run the plan through a CampaignClient.
 */
import { CampaignApiError, type CampaignClient } from './client.js';
import { canonicalWebhookType, WEBHOOK_REQUEST_TYPES, type RestWebhook, type WebhookAuthentication, type WebhookRequestType } from './schemas.js';

/**
 * The event types we consume (spec §4 / R7): all twelve Campaign offers. `sent`, `blocklist`,
 * `archive` and `filteredbyblocklist` are only stored and counted, but R7 asks for that.
 */
export const CONSUMED_WEBHOOK_TYPES: readonly WebhookRequestType[] = WEBHOOK_REQUEST_TYPES;

export interface WebhookAuthSettings {
  webhookToken?: string;
  webhookUser?: string;
  webhookPassword?: string;
  /** CRS_WEBHOOK_AUTH=none: explicitly no authentication. */
  webhookAuthNone?: boolean;
}

/** The authentication JSON Campaign will send with each delivery — the same credentials our receiver accepts. */
export function webhookAuthentication(s: WebhookAuthSettings): WebhookAuthentication {
  if (s.webhookToken) return { type: 'keyAuth', key: 'Authorization', passphrase: `Bearer ${s.webhookToken}` };
  if (s.webhookUser && s.webhookPassword) return { type: 'basicAuth', userName: s.webhookUser, password: s.webhookPassword };
  if (s.webhookAuthNone) return { type: 'none' };
  throw new Error('no webhook authentication configured: set CRS_WEBHOOK_TOKEN, or CRS_WEBHOOK_USER and CRS_WEBHOOK_PASSWORD (or CRS_WEBHOOK_AUTH=none)');
}

/**
 * Our receiver's URL for a client. `…/webhooks/campaign` gets the client id appended; a URL naming
 * another client id is refused (its events would be attributed to that client).
 */
export function resolveTargetUrl(targetUrl: string, clientId: string): { url: string; warnings: string[] } {
  let u: URL;
  try {
    u = new URL(targetUrl);
  } catch {
    throw new Error(`--target-url is not a valid URL: ${targetUrl}`);
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error(`--target-url must be http(s): ${targetUrl}`);
  const warnings: string[] = [];
  const path = u.pathname.replace(/\/+$/, '');
  const m = /\/webhooks\/campaign(?:\/([^/]+))?$/.exec(path);
  if (m && m[1] === undefined) u.pathname = `${path}/${clientId}`;
  else if (m && m[1] === clientId) u.pathname = path;
  else if (m) throw new Error(`--target-url names client ${m[1]}, but --client is ${clientId}`);
  if (u.protocol !== 'https:') warnings.push('Campaign delivers only to HTTPS on port 443; an http:// target works with the emulator, not with Campaign');
  if (u.username || u.password) throw new Error('--target-url must not contain credentials; they come from CRS_WEBHOOK_TOKEN or CRS_WEBHOOK_USER/PASSWORD');
  return { url: u.href, warnings };
}

export function sameTarget(a: string, b: string): boolean {
  const norm = (s: string) => {
    try {
      const u = new URL(s);
      u.pathname = u.pathname.replace(/\/+$/, '');
      return u.href;
    } catch {
      return s;
    }
  };
  return norm(a) === norm(b);
}

export type PlannedAction =
  | { type: WebhookRequestType; action: 'create' }
  | { type: WebhookRequestType; action: 'activate'; webhook: RestWebhook }
  | { type: WebhookRequestType; action: 'keep'; webhook: RestWebhook };

const STATUS_PREFERENCE = ['activated', 'suspended', 'created', 'deactivated'];

/** Pure: what to do per type so that exactly one activated webhook per type points at `targetUrl`. */
export function planRegistration(existing: readonly RestWebhook[], targetUrl: string, types: readonly WebhookRequestType[]): PlannedAction[] {
  return types.map((type) => {
    const candidates = existing
      .filter((w) => canonicalWebhookType(w.type) === type && sameTarget(w.targetUrl, targetUrl) && STATUS_PREFERENCE.includes(w.status))
      .sort((a, b) => STATUS_PREFERENCE.indexOf(a.status) - STATUS_PREFERENCE.indexOf(b.status));
    const best = candidates[0];
    if (!best) return { type, action: 'create' };
    return best.status === 'activated' ? { type, action: 'keep', webhook: best } : { type, action: 'activate', webhook: best };
  });
}

export interface VerifyOutcome {
  ok: boolean;
  httpStatusCode?: number;
  responseBody?: string;
  error?: string;
}

export interface RegisterResult {
  type: WebhookRequestType;
  webhookId?: string;
  /** created (new), activated (existed, was not active), unchanged (already active), failed. */
  outcome: 'created' | 'activated' | 'unchanged' | 'failed';
  status?: string;
  error?: string;
  verify?: VerifyOutcome;
}

async function verifyOne(client: CampaignClient, clientId: string, webhookId: string, mailingId: string, numberOfEvents: number): Promise<VerifyOutcome> {
  try {
    const results = await client.verifyWebhook(clientId, webhookId, { mailingId, numberOfEvents });
    const bad = results.find((r) => r.httpStatusCode < 200 || r.httpStatusCode >= 300);
    const first = bad ?? results[0];
    if (!first) return { ok: false, error: 'verify returned no result' };
    return { ok: !bad, httpStatusCode: first.httpStatusCode, responseBody: first.responseBody };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

export async function registerWebhooks(
  client: CampaignClient,
  clientId: string,
  input: { targetUrl: string; authentication: WebhookAuthentication; types?: readonly WebhookRequestType[]; verifyMailingId?: string; numberOfEvents?: number },
): Promise<RegisterResult[]> {
  const types = input.types ?? CONSUMED_WEBHOOK_TYPES;
  const existing = await client.listWebhooks(clientId);
  const plan = planRegistration(existing, input.targetUrl, types);
  const results: RegisterResult[] = [];
  for (const step of plan) {
    let result: RegisterResult;
    try {
      if (step.action === 'keep') {
        result = { type: step.type, webhookId: step.webhook.id, outcome: 'unchanged', status: step.webhook.status };
      } else {
        let hook = step.action === 'create'
          ? await client.createWebhook(clientId, { type: step.type, targetUrl: input.targetUrl, authentication: input.authentication })
          : step.webhook;
        if (hook.status !== 'activated') hook = await activateTolerant(client, clientId, hook.id);
        result = { type: step.type, webhookId: hook.id, outcome: step.action === 'create' ? 'created' : 'activated', status: hook.status };
      }
    } catch (err) {
      results.push({ type: step.type, webhookId: step.action === 'create' ? undefined : step.webhook.id, outcome: 'failed', error: (err as Error).message });
      continue;
    }
    if (input.verifyMailingId && result.webhookId) {
      result.verify = await verifyOne(client, clientId, result.webhookId, input.verifyMailingId, input.numberOfEvents ?? 1);
    }
    results.push(result);
  }
  return results;
}

/** Activate; a 400 "already activated" (e.g. a concurrent run) counts as success. */
async function activateTolerant(client: CampaignClient, clientId: string, webhookId: string): Promise<RestWebhook> {
  try {
    return await client.activateWebhook(clientId, webhookId);
  } catch (err) {
    if (err instanceof CampaignApiError && err.status === 400) {
      const now = (await client.listWebhooks(clientId)).find((w) => w.id === webhookId);
      if (now?.status === 'activated') return now;
    }
    throw err;
  }
}

export interface WebhookListing {
  webhooks: (RestWebhook & { suspended: boolean; ours: boolean })[];
  /** With a target URL: consumed types that have no activated webhook pointing there. */
  missingTypes: WebhookRequestType[];
  suspendedCount: number;
}

export async function listWebhooks(client: CampaignClient, clientId: string, targetUrl?: string): Promise<WebhookListing> {
  const all = await client.listWebhooks(clientId);
  const webhooks = all.map((w) => ({ ...w, suspended: w.status === 'suspended', ours: targetUrl ? sameTarget(w.targetUrl, targetUrl) : false }));
  const missingTypes = targetUrl
    ? CONSUMED_WEBHOOK_TYPES.filter((t) => !webhooks.some((w) => w.ours && w.status === 'activated' && canonicalWebhookType(w.type) === t))
    : [];
  return { webhooks, missingTypes, suspendedCount: webhooks.filter((w) => w.suspended).length };
}

export interface RemoveResult {
  webhookId: string;
  type: string;
  outcome: 'deleted' | 'failed';
  error?: string;
}

/** Deactivates (when active) and then deletes every webhook of the client pointing at `targetUrl`. */
export async function removeWebhooks(client: CampaignClient, clientId: string, input: { targetUrl: string; types?: readonly WebhookRequestType[] }): Promise<RemoveResult[]> {
  const all = await client.listWebhooks(clientId);
  const ours = all.filter((w) => sameTarget(w.targetUrl, input.targetUrl) && w.status !== 'deleted'
    && (!input.types || input.types.includes(canonicalWebhookType(w.type) as WebhookRequestType)));
  const results: RemoveResult[] = [];
  for (const w of ours) {
    try {
      if (w.status === 'activated') {
        try {
          await client.deactivateWebhook(clientId, w.id);
        } catch (err) {
          // 400 "not activated": changed meanwhile (e.g. suspended) — the delete below decides.
          if (!(err instanceof CampaignApiError && err.status === 400)) throw err;
        }
      }
      await client.deleteWebhook(clientId, w.id);
      results.push({ webhookId: w.id, type: canonicalWebhookType(w.type), outcome: 'deleted' });
    } catch (err) {
      results.push({ webhookId: w.id, type: canonicalWebhookType(w.type), outcome: 'failed', error: (err as Error).message });
    }
  }
  return results;
}

export interface VerifyResult extends VerifyOutcome {
  webhookId: string;
  type: string;
}

/** Asks Campaign to POST sample events through each activated webhook of ours. */
export async function verifyWebhooks(
  client: CampaignClient,
  clientId: string,
  input: { targetUrl?: string; mailingId: string; numberOfEvents?: number; types?: readonly WebhookRequestType[] },
): Promise<VerifyResult[]> {
  const all = await client.listWebhooks(clientId);
  const chosen = all.filter((w) => w.status === 'activated'
    && (!input.targetUrl || sameTarget(w.targetUrl, input.targetUrl))
    && (!input.types || input.types.includes(canonicalWebhookType(w.type) as WebhookRequestType)));
  const out: VerifyResult[] = [];
  for (const w of chosen) {
    out.push({ webhookId: w.id, type: canonicalWebhookType(w.type), ...(await verifyOne(client, clientId, w.id, input.mailingId, input.numberOfEvents ?? 1)) });
  }
  return out;
}

/** Parses `--types a,b,c` against the types Campaign accepts. */
export function parseWebhookTypes(value: string | undefined): WebhookRequestType[] | undefined {
  if (!value) return undefined;
  const types = value.split(',').map((s) => canonicalWebhookType(s.trim())).filter(Boolean);
  const bad = types.filter((t) => !(WEBHOOK_REQUEST_TYPES as readonly string[]).includes(t));
  if (bad.length) throw new Error(`unknown webhook type(s): ${bad.join(', ')} (known: ${WEBHOOK_REQUEST_TYPES.join(', ')})`);
  return [...new Set(types)] as WebhookRequestType[];
}
