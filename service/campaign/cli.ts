/**
 * `crs webhooks register|list|verify|remove` (Campaign REST, CRS_CAMPAIGN_API_*) and
 * `crs eligibility` (R6; reads Dataverse, or asks a running service with --url).
 * Exit codes: 0 done, 1 something failed (Campaign/Dataverse/network), 2 usage or configuration.
 */
import type { Command } from 'commander';
import type { Config } from '../config.js';
import { configOrExit, fail } from '../cli/common.js';
import { CampaignClient } from './client.js';
import { describeVerdict, parseEligibilityRequest, readEligibility, type EligibilityVerdict } from './eligibility.js';
import {
  listWebhooks, parseWebhookTypes, registerWebhooks, removeWebhooks, resolveTargetUrl, verifyWebhooks, webhookAuthentication,
  type RegisterResult, type VerifyOutcome,
} from './webhooks.js';

function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

function campaignClientOrExit(config: Config): CampaignClient {
  const { apiUrl, apiUser, apiPassword } = config.campaign;
  if (!apiUser || !apiPassword) fail('Campaign REST credentials missing: set CRS_CAMPAIGN_API_USER and CRS_CAMPAIGN_API_PASSWORD');
  return new CampaignClient({ baseUrl: apiUrl, user: apiUser, password: apiPassword, retries: 3 });
}

function clientIdOrExit(value: string): string {
  if (!/^\d{1,19}$/.test(value)) fail(`--client must be a numeric Campaign client id, got "${value}"`);
  return value.replace(/^0+(?=\d)/, '');
}

function positiveInt(value: string | undefined, name: string, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > max) fail(`${name} must be a whole number from 1 to ${max}`);
  return Number(value);
}

function usage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    return fail((err as Error).message);
  }
}

/** Runs a Campaign/Dataverse action; its failure is exit code 1 with one line. */
async function act<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    return fail(`${what}: ${(err as Error).message}`, 1);
  }
}

function verifyText(v: VerifyOutcome | undefined): string {
  if (!v) return '';
  if (v.ok) return `verified (HTTP ${v.httpStatusCode})`;
  if (v.error) return `VERIFY FAILED: ${v.error}`;
  return `VERIFY FAILED: target answered HTTP ${v.httpStatusCode}${v.responseBody ? ` ${v.responseBody.replace(/\s+/g, ' ').slice(0, 200)}` : ''}`;
}

export function formatRegisterResults(results: readonly RegisterResult[]): string[] {
  return results.map((r) => [
    r.type.padEnd(20), (r.webhookId ?? '-').padEnd(10), r.outcome.padEnd(10), r.status ?? '', r.error ? `ERROR: ${r.error}` : '', verifyText(r.verify),
  ].filter(Boolean).join(' ').trimEnd());
}

export function formatVerdict(v: EligibilityVerdict): string {
  return `${v.contactId ? `contact ${v.contactId}` : `lead ${v.leadId}`}, newsletter ${v.newsletterId}: ${describeVerdict(v)}`;
}

interface CommonOpts { client: string; targetUrl?: string; types?: string; json?: boolean }

export function registerCampaignCommands(program: Command): void {
  const webhooks = program
    .command('webhooks')
    .description('manage the Campaign webhooks that deliver events to this service (one per event type; uses CRS_CAMPAIGN_API_*)');

  webhooks
    .command('register')
    .description('create, activate (and with --mailing-id verify) one webhook per event type, sending our CRS_WEBHOOK_TOKEN or CRS_WEBHOOK_USER/PASSWORD; safe to run again')
    .requiredOption('--client <id>', 'Campaign client id')
    .requiredOption('--target-url <url>', 'public URL of POST /webhooks/campaign/<client> (…/webhooks/campaign gets the client id appended)')
    .option('--types <list>', 'comma-separated event types (default: all twelve Campaign offers)')
    .option('--mailing-id <id>', 'a mailing of the client to verify with (Campaign POSTs sample events to the target)')
    .option('--events <n>', 'sample events per webhook when verifying (1-100)', '1')
    .option('--json', 'print JSON')
    .action(async (opts: CommonOpts & { targetUrl: string; mailingId?: string; events?: string }) => {
      const config = configOrExit();
      const clientId = clientIdOrExit(opts.client);
      const { url, warnings } = usage(() => resolveTargetUrl(opts.targetUrl, clientId));
      const types = usage(() => parseWebhookTypes(opts.types));
      const authentication = usage(() => webhookAuthentication({
        webhookToken: config.webhook.token, webhookUser: config.webhook.user, webhookPassword: config.webhook.password,
        webhookAuthNone: config.webhook.auth === 'none',
      }));
      if (opts.mailingId !== undefined && !/^\d+$/.test(opts.mailingId)) fail('--mailing-id must be numeric');
      const numberOfEvents = positiveInt(opts.events, '--events', 100);
      for (const w of warnings) process.stderr.write(`crs: warning: ${w}\n`);
      if (authentication.type === 'none') process.stderr.write('crs: warning: registering webhooks WITHOUT authentication (CRS_WEBHOOK_AUTH=none)\n');
      const client = campaignClientOrExit(config);
      const results = await act('webhooks register', () => registerWebhooks(client, clientId, {
        targetUrl: url, authentication, ...(types ? { types } : {}),
        ...(opts.mailingId ? { verifyMailingId: opts.mailingId } : {}), ...(numberOfEvents ? { numberOfEvents } : {}),
      }));
      if (opts.json) out(JSON.stringify({ clientId, targetUrl: url, results }, null, 2));
      else {
        out(`client ${clientId} → ${url}`);
        for (const line of formatRegisterResults(results)) out(`  ${line}`);
        if (!opts.mailingId) out('  (not verified: pass --mailing-id <id> to have Campaign send sample events)');
      }
      if (results.some((r) => r.outcome === 'failed' || (r.verify && !r.verify.ok))) process.exitCode = 1;
    });

  webhooks
    .command('list')
    .description('list the client\'s webhooks with their status; flags suspended ones (and, with --target-url, missing types)')
    .requiredOption('--client <id>', 'Campaign client id')
    .option('--target-url <url>', 'our receiver URL: mark our webhooks and name event types without an active one')
    .option('--json', 'print JSON')
    .action(async (opts: CommonOpts) => {
      const config = configOrExit();
      const clientId = clientIdOrExit(opts.client);
      const url = opts.targetUrl ? usage(() => resolveTargetUrl(opts.targetUrl!, clientId)).url : undefined;
      const listing = await act('webhooks list', () => listWebhooks(campaignClientOrExit(config), clientId, url));
      if (opts.json) out(JSON.stringify({ clientId, ...listing }, null, 2));
      else {
        if (!listing.webhooks.length) out(`client ${clientId}: no webhooks`);
        for (const w of listing.webhooks) {
          out(`${w.id.padEnd(10)} ${w.type.padEnd(20)} ${w.status.padEnd(12)} ${w.targetUrl}${w.suspended ? '   SUSPENDED by Campaign: run `crs webhooks register` to re-activate' : ''}`);
        }
        if (url && listing.missingTypes.length) out(`missing active webhooks for: ${listing.missingTypes.join(', ')}`);
      }
      if (listing.suspendedCount > 0 || (url && listing.missingTypes.length > 0)) process.exitCode = 1;
    });

  webhooks
    .command('verify')
    .description('have Campaign POST sample events through each active webhook (of --target-url) and report the answers')
    .requiredOption('--client <id>', 'Campaign client id')
    .requiredOption('--mailing-id <id>', 'a mailing of the client (e.g. a Smart Campaign test mailing)')
    .option('--target-url <url>', 'only webhooks pointing here')
    .option('--types <list>', 'comma-separated event types')
    .option('--events <n>', 'sample events per webhook (1-100)', '1')
    .option('--json', 'print JSON')
    .action(async (opts: CommonOpts & { mailingId: string; events?: string }) => {
      const config = configOrExit();
      const clientId = clientIdOrExit(opts.client);
      if (!/^\d+$/.test(opts.mailingId)) fail('--mailing-id must be numeric');
      const url = opts.targetUrl ? usage(() => resolveTargetUrl(opts.targetUrl!, clientId)).url : undefined;
      const types = usage(() => parseWebhookTypes(opts.types));
      const numberOfEvents = positiveInt(opts.events, '--events', 100);
      const results = await act('webhooks verify', () => verifyWebhooks(campaignClientOrExit(config), clientId, {
        mailingId: opts.mailingId, ...(url ? { targetUrl: url } : {}), ...(types ? { types } : {}), ...(numberOfEvents ? { numberOfEvents } : {}),
      }));
      if (opts.json) out(JSON.stringify({ clientId, results }, null, 2));
      else {
        if (!results.length) out(`client ${clientId}: no active webhooks to verify`);
        for (const r of results) out(`${r.webhookId.padEnd(10)} ${r.type.padEnd(20)} ${verifyText(r)}`);
      }
      if (!results.length || results.some((r) => !r.ok)) process.exitCode = 1;
    });

  webhooks
    .command('remove')
    .description('deactivate and delete the client\'s webhooks pointing at --target-url')
    .requiredOption('--client <id>', 'Campaign client id')
    .requiredOption('--target-url <url>', 'our receiver URL (only webhooks pointing here are removed)')
    .option('--types <list>', 'comma-separated event types (default: all)')
    .option('--json', 'print JSON')
    .action(async (opts: CommonOpts & { targetUrl: string }) => {
      const config = configOrExit();
      const clientId = clientIdOrExit(opts.client);
      const { url } = usage(() => resolveTargetUrl(opts.targetUrl, clientId));
      const types = usage(() => parseWebhookTypes(opts.types));
      const results = await act('webhooks remove', () => removeWebhooks(campaignClientOrExit(config), clientId, { targetUrl: url, ...(types ? { types } : {}) }));
      if (opts.json) out(JSON.stringify({ clientId, targetUrl: url, results }, null, 2));
      else {
        if (!results.length) out(`client ${clientId}: no webhooks point at ${url}`);
        for (const r of results) out(`${r.webhookId.padEnd(10)} ${r.type.padEnd(20)} ${r.outcome}${r.error ? ` ERROR: ${r.error}` : ''}`);
      }
      if (results.some((r) => r.outcome === 'failed')) process.exitCode = 1;
    });

  program
    .command('eligibility')
    .description('R6 consent gate: may this contact or lead be transmitted to Campaign for this newsletter? (reads Dataverse, or --url of a running service)')
    .requiredOption('--newsletter <id>', 'crs_newsletter id (GUID)')
    .option('--contact <id>', 'contact id (GUID)')
    .option('--lead <id>', 'lead id (GUID)')
    .option('--url <url>', 'ask a running service (GET /admin/eligibility; needs CRS_ADMIN_TOKEN)')
    .option('--json', 'print JSON')
    .action(async (opts: { newsletter: string; contact?: string; lead?: string; url?: string; json?: boolean }) => {
      const request = usage(() => parseEligibilityRequest(opts));
      let verdict: EligibilityVerdict;
      if (opts.url) {
        const token = process.env.CRS_ADMIN_TOKEN;
        if (!token) fail('--url needs CRS_ADMIN_TOKEN (the admin API is off without it)');
        const q = new URLSearchParams({ newsletter: request.newsletterId, [request.person.type]: request.person.id });
        const base = opts.url.endsWith('/') ? opts.url : `${opts.url}/`;
        const res = await fetch(new URL(`admin/eligibility?${q}`, base), { headers: { authorization: `Bearer ${token}` } })
          .catch((err: unknown) => fail(`cannot reach ${opts.url}: ${(err as Error).message}`, 1));
        const text = await res.text();
        if (!res.ok) fail(`GET /admin/eligibility answered ${res.status}: ${text}`, 1);
        verdict = JSON.parse(text) as EligibilityVerdict;
      } else {
        const config = configOrExit();
        if (config.demoMode) fail('eligibility reads Dataverse: set CRS_DATAVERSE_URL (and credentials), or ask a running service with --url');
        const { createDataverseClient } = await import('../dataverse/index.js');
        const dataverse = createDataverseClient(config);
        try {
          verdict = await act('eligibility', () => readEligibility(dataverse, request));
        } finally {
          await dataverse.close();
        }
      }
      out(opts.json ? JSON.stringify(verdict, null, 2) : formatVerdict(verdict));
    });
}
