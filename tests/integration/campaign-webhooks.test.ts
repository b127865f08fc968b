/**
 * Webhook registration against the Campaign REST emulator, with our real webhook receiver as the
 * target (verify makes the emulator POST sample events to it, with the auth header we registered).
 */
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CampaignApiError, CampaignClient } from '../../service/campaign/client.js';
import {
  CONSUMED_WEBHOOK_TYPES, listWebhooks, parseWebhookTypes, planRegistration, registerWebhooks, removeWebhooks,
  resolveTargetUrl, verifyWebhooks, webhookAuthentication,
} from '../../service/campaign/webhooks.js';
import type { RestWebhook } from '../../service/campaign/schemas.js';
import { buildApp } from '../../service/http/app.js';
import { createLogger } from '../../service/log.js';
import { createMetrics } from '../../service/metrics.js';
import { openStore } from '../../service/store/index.js';
import type { EventStore } from '../../service/store/types.js';
import { startCampaignEmulator, type CampaignEmulator } from '../emulators/campaign/index.js';

const TOKEN = 'receiver-token-123';
let emu: CampaignEmulator;
let campaign: CampaignClient;
let store: EventStore;
let receiver: FastifyInstance;
let receiverBase: string;
const auth = webhookAuthentication({ webhookToken: TOKEN });

beforeAll(async () => {
  emu = await startCampaignEmulator();
  campaign = new CampaignClient({ baseUrl: emu.url, user: emu.user, password: emu.password, minBackoffMs: 0, retries: 1 });
  store = await openStore('sqlite::memory:');
  receiver = await buildApp({
    config: { webhook: { token: TOKEN, allowedIps: [], auth: 'required' }, demoMode: false },
    store, logger: createLogger({ level: 'silent' }), metrics: createMetrics({ defaultMetrics: false }),
  });
  await receiver.listen({ port: 0, host: '127.0.0.1' });
  const addr = receiver.server.address();
  receiverBase = `http://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});
afterAll(async () => {
  await receiver.close();
  await store.close();
  await emu.close();
});
beforeEach(() => {
  emu.state.webhooks.clear();
  emu.state.requests.length = 0;
  emu.state.deliveries.length = 0;
  emu.clearFaults();
});

const target = (clientId = '100') => `${receiverBase}/webhooks/campaign/${clientId}`;

describe('webhookAuthentication', () => {
  it('registers our bearer token as keyAuth, else Basic, else none only when said explicitly', () => {
    expect(webhookAuthentication({ webhookToken: 't', webhookUser: 'u', webhookPassword: 'p' })).toEqual({ type: 'keyAuth', key: 'Authorization', passphrase: 'Bearer t' });
    expect(webhookAuthentication({ webhookUser: 'u', webhookPassword: 'p' })).toEqual({ type: 'basicAuth', userName: 'u', password: 'p' });
    expect(webhookAuthentication({ webhookAuthNone: true })).toEqual({ type: 'none' });
    expect(() => webhookAuthentication({})).toThrow(/no webhook authentication configured/);
  });
});

describe('resolveTargetUrl', () => {
  it('appends the client id to …/webhooks/campaign and refuses another client\'s URL', () => {
    expect(resolveTargetUrl('https://crs.example.com/webhooks/campaign', '100').url).toBe('https://crs.example.com/webhooks/campaign/100');
    expect(resolveTargetUrl('https://crs.example.com/webhooks/campaign/100/', '100')).toEqual({ url: 'https://crs.example.com/webhooks/campaign/100', warnings: [] });
    expect(() => resolveTargetUrl('https://crs.example.com/webhooks/campaign/200', '100')).toThrow('--target-url names client 200, but --client is 100');
    expect(resolveTargetUrl('http://localhost:8080/webhooks/campaign/100', '100').warnings[0]).toMatch(/HTTPS/);
    expect(() => resolveTargetUrl('https://u:p@crs.example.com/hook', '100')).toThrow(/credentials/);
    expect(() => resolveTargetUrl('not a url', '100')).toThrow(/not a valid URL/);
  });
});

describe('planRegistration (pure)', () => {
  const hook = (id: string, type: string, status: string, targetUrl = 'https://a/webhooks/campaign/1'): RestWebhook =>
    ({ id, type, status, targetUrl, format: 'json', authentication: { type: 'none' }, created: undefined, modified: undefined });
  it('keeps an activated one, activates an inactive one, creates the missing ones, matches archive/archived', () => {
    const plan = planRegistration(
      [hook('1', 'open', 'activated'), hook('2', 'click', 'deactivated'), hook('3', 'click', 'created'), hook('4', 'archived', 'suspended'), hook('5', 'sent', 'activated', 'https://other/x')],
      'https://a/webhooks/campaign/1/', ['open', 'click', 'archive', 'sent'],
    );
    expect(plan.map((p) => [p.type, p.action, 'webhook' in p ? p.webhook.id : undefined])).toEqual([
      ['open', 'keep', '1'], ['click', 'activate', '3'], ['archive', 'activate', '4'], ['sent', 'create', undefined],
    ]);
  });
});

describe('crs webhooks register', () => {
  it('creates, activates and verifies one webhook per consumed type with our auth header', async () => {
    const results = await registerWebhooks(campaign, '100', { targetUrl: target(), authentication: auth, verifyMailingId: '4711' });
    expect(results.map((r) => r.type)).toEqual([...CONSUMED_WEBHOOK_TYPES]);
    expect(results.every((r) => r.outcome === 'created' && r.status === 'activated' && r.verify?.ok === true)).toBe(true);
    const hooks = [...emu.state.webhooks.values()];
    expect(hooks).toHaveLength(12);
    expect(hooks.every((h) => h.status === 'activated' && h.clientId === '100' && h.targetUrl === target())).toBe(true);
    expect(hooks[0]!.authentication).toEqual({ type: 'keyAuth', key: 'Authorization', passphrase: `Bearer ${TOKEN}` });
    // Order per type: create → activate → verify.
    const forFirst = emu.state.requests.filter((r) => r.method === 'POST' || r.path.endsWith('/verify')).slice(0, 3).map((r) => `${r.method} ${r.path.replace(/\d{4}/, 'ID')}`);
    expect(forFirst).toEqual(['POST /rest/100/webhooks', 'POST /rest/100/webhooks/ID/activate', 'GET /rest/100/webhooks/ID/verify']);
    // The sample events reached our receiver through its authentication and were stored.
    expect(emu.state.deliveries.every((d) => d.httpStatusCode === 200)).toBe(true);
    const stored = await store.list('pending', 100);
    expect(stored.filter((e) => e.normalized?.origin === 'webhook' && e.clientId === '100').length).toBeGreaterThanOrEqual(12);
  });

  it('is idempotent: a second run changes nothing and creates no duplicates', async () => {
    await registerWebhooks(campaign, '100', { targetUrl: target(), authentication: auth });
    const ids = [...emu.state.webhooks.keys()].sort();
    emu.state.requests.length = 0;
    const again = await registerWebhooks(campaign, '100', { targetUrl: target(), authentication: auth });
    expect(again.every((r) => r.outcome === 'unchanged')).toBe(true);
    expect([...emu.state.webhooks.keys()].sort()).toEqual(ids);
    expect(emu.state.requests.every((r) => r.method === 'GET')).toBe(true);
  });

  it('finishes an interrupted run (created, not activated) and re-activates a suspended webhook', async () => {
    emu.seed({ clientId: '100', webhooks: [{ type: 'open', targetUrl: target(), status: 'created' }, { type: 'click', targetUrl: target(), status: 'suspended' }] });
    const results = await registerWebhooks(campaign, '100', { targetUrl: target(), authentication: auth, types: ['open', 'click', 'bounce'] });
    expect(results.map((r) => [r.type, r.outcome, r.status])).toEqual([['open', 'activated', 'activated'], ['click', 'activated', 'activated'], ['bounce', 'created', 'activated']]);
    expect(emu.state.webhooks.size).toBe(3);
  });

  it('reports a failed verify with Campaign\'s httpStatusCode and responseBody (wrong token at the receiver)', async () => {
    const results = await registerWebhooks(campaign, '100', {
      targetUrl: target(), authentication: webhookAuthentication({ webhookToken: 'wrong' }), types: ['open'], verifyMailingId: '4711',
    });
    expect(results[0]!.verify).toMatchObject({ ok: false, httpStatusCode: 401 });
    expect(results[0]!.verify!.responseBody).toContain('authentication required');
  });

  it('leaves other clients\' webhooks alone and reports per type failures', async () => {
    emu.fail({ method: 'POST', pathIncludes: '/rest/100/webhooks', status: 500 });
    const results = await registerWebhooks(campaign, '100', { targetUrl: target(), authentication: auth, types: ['open', 'click'] });
    expect(results[0]).toMatchObject({ type: 'open', outcome: 'failed' });
    expect(results[0]!.error).toMatch(/HTTP 500/);
    expect(results[1]).toMatchObject({ type: 'click', outcome: 'created' });
  });
});

describe('emulator deliveries', () => {
  it('POSTs events to the activated webhooks of that type with the registered header, skipping suspended ones', async () => {
    await registerWebhooks(campaign, '100', { targetUrl: target(), authentication: auth, types: ['open', 'click'] });
    const event = { type: 'open', mailingGroupId: 100, mailingId: 4711, recipientId: 'deliver@example.com', timestamp: '2026-11-26T10:00:00Z' };
    expect(await emu.deliver('100', 'open', [event])).toEqual([{ webhookId: expect.any(Number), status: 200 }]);
    const click = [...emu.state.webhooks.values()].find((w) => w.type === 'click')!;
    emu.suspend(click.id);
    expect(await emu.deliver('100', 'click', [{ ...event, type: 'click', url: 'https://x' }])).toEqual([]);
    const stored = await store.list('pending', 1000);
    expect(stored.some((e) => e.normalized?.recipientId === 'deliver@example.com' && e.normalized.type === 'open')).toBe(true);
  });
});

describe('crs webhooks list', () => {
  it('shows status, flags suspended ones and names missing types', async () => {
    await registerWebhooks(campaign, '100', { targetUrl: target(), authentication: auth, types: ['open', 'click'] });
    const click = [...emu.state.webhooks.values()].find((w) => w.type === 'click')!;
    emu.suspend(click.id);
    const listing = await listWebhooks(campaign, '100', target());
    expect(listing.suspendedCount).toBe(1);
    expect(listing.webhooks.map((w) => [w.type, w.status, w.suspended, w.ours])).toEqual([['open', 'activated', false, true], ['click', 'suspended', true, true]]);
    expect(listing.missingTypes).toContain('click');
    expect(listing.missingTypes).not.toContain('open');
  });
});

describe('crs webhooks remove', () => {
  it('deactivates then deletes each of our webhooks, and only ours', async () => {
    await registerWebhooks(campaign, '100', { targetUrl: target(), authentication: auth, types: ['open', 'click'] });
    emu.seed({ clientId: '100', webhooks: [{ type: 'open', targetUrl: 'https://someone-else.example.com/hook', status: 'activated' }] });
    const open = [...emu.state.webhooks.values()].find((w) => w.type === 'open' && w.targetUrl === target())!;
    const click = [...emu.state.webhooks.values()].find((w) => w.type === 'click')!;
    emu.suspend(click.id);
    emu.state.requests.length = 0;
    const results = await removeWebhooks(campaign, '100', { targetUrl: target() });
    expect(results.map((r) => [r.type, r.outcome])).toEqual([['open', 'deleted'], ['click', 'deleted']]);
    const calls = emu.state.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path.split('/').slice(4).join('/')}`);
    // Active: deactivate, then delete. Suspended: not active, so deleted directly.
    expect(calls).toEqual([`POST ${open.id}/deactivate`, `DELETE ${open.id}`, `DELETE ${click.id}`]);
    expect([...emu.state.webhooks.values()].map((w) => w.targetUrl)).toEqual(['https://someone-else.example.com/hook']);
  });
});

describe('crs webhooks verify', () => {
  it('asks Campaign to POST sample events through each active webhook to our receiver', async () => {
    await registerWebhooks(campaign, '100', { targetUrl: target(), authentication: auth, types: ['unsubscribe', 'click'] });
    const before = (await store.counts()).received;
    const results = await verifyWebhooks(campaign, '100', { targetUrl: target(), mailingId: '4711', numberOfEvents: 3 });
    expect(results.map((r) => [r.type, r.ok, r.httpStatusCode])).toEqual([['unsubscribe', true, 200], ['click', true, 200]]);
    expect((await store.counts()).received - before).toBe(6);
    const body = JSON.parse(emu.state.deliveries.at(-1)!.responseBody) as { received: number; accepted: number };
    expect(body).toMatchObject({ received: 3, accepted: 3 });
  });
});

describe('emulator webhook lifecycle errors', () => {
  it('409 for another client\'s webhook, 400 for deleting an active one, 400 for a wrong type', async () => {
    const hook = await campaign.createWebhook('100', { type: 'open', targetUrl: target(), authentication: auth });
    const foreign = await campaign.activateWebhook('200', hook.id).catch((e: unknown) => e);
    expect((foreign as CampaignApiError).status).toBe(409);
    await campaign.activateWebhook('100', hook.id);
    const active = await campaign.deleteWebhook('100', hook.id).catch((e: unknown) => e);
    expect((active as CampaignApiError).status).toBe(400);
    expect((active as Error).message).toMatch(/activated/);
    const again = await campaign.activateWebhook('100', hook.id).catch((e: unknown) => e);
    expect((again as CampaignApiError).status).toBe(400);
    const bad = await campaign.createWebhook('100', { type: 'nonsense' as 'open', targetUrl: target(), authentication: auth }).catch((e: unknown) => e);
    expect((bad as CampaignApiError).status).toBe(400);
    const verifyNoMailing = await campaign.verifyWebhook('100', hook.id, { mailingId: '' }).catch((e: unknown) => e);
    expect((verifyNoMailing as CampaignApiError).status).toBe(400);
  });
});

describe('parseWebhookTypes', () => {
  it('accepts known types (archived = archive) and names unknown ones', () => {
    expect(parseWebhookTypes('open, click,archived,open')).toEqual(['open', 'click', 'archive']);
    expect(parseWebhookTypes(undefined)).toBeUndefined();
    expect(() => parseWebhookTypes('open,reply')).toThrow('unknown webhook type(s): reply');
  });
});
