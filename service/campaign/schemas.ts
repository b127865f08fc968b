/**
 * Campaign REST response shapes (Optimizely's OpenAPI 3.0.1, components/schemas), validated at the
 * edge with zod. Lenient on purpose: unknown fields pass, optional fields may be absent or null,
 * ids that the OpenAPI types as int64 may come as numbers or strings.
 */
import { z } from 'zod';

/** int64 ids and numeric fields: a JSON number or a numeric string; kept as a string (no precision loss). */
const idString = z.union([z.number(), z.string()]).transform((v) => String(v));
const optionalId = z.union([z.number(), z.string(), z.null()]).optional().transform((v) => (v === null || v === undefined || v === '' ? undefined : String(v)));
const optionalString = z.string().nullish().transform((v) => v ?? undefined);

/** Event types a webhook can be created for (WebhookRequestData.type). */
export const WEBHOOK_REQUEST_TYPES = [
  'open', 'click', 'sent', 'bounce', 'unsubscribe', 'spamcomplaint', 'singleoptin', 'confirmedoptin',
  'doubleoptin', 'blocklist', 'archive', 'filteredbyblocklist',
] as const;
export type WebhookRequestType = (typeof WEBHOOK_REQUEST_TYPES)[number];

export const WEBHOOK_STATUSES = ['created', 'activated', 'deactivated', 'deleted', 'suspended'] as const;
export type WebhookStatus = (typeof WEBHOOK_STATUSES)[number];

/** RestWebhook. `type` may read `archived` (response enum) where the request said `archive`. */
export const restWebhookSchema = z.looseObject({
  id: idString,
  type: z.string(),
  status: z.string(),
  format: optionalString,
  targetUrl: z.string(),
  authentication: z.looseObject({ type: z.string() }).nullish().transform((v) => v ?? undefined),
  created: optionalString,
  modified: optionalString,
});
export type RestWebhook = z.infer<typeof restWebhookSchema>;

/** The request enum says `archive`, the response enum `archived`: compare webhook types through this. */
export function canonicalWebhookType(type: string): string {
  const t = type.toLowerCase();
  return t === 'archived' ? 'archive' : t;
}

export const restWebhookVerifySchema = z.looseObject({
  id: optionalId,
  httpStatusCode: z.number().int(),
  responseBody: optionalString,
  numberOfEvents: z.number().int().nullish().transform((v) => v ?? undefined),
  targetUrl: optionalString,
});
export type RestWebhookVerify = z.infer<typeof restWebhookVerifySchema>;

export const authenticatedUserSchema = z.looseObject({
  id: optionalId,
  username: optionalString,
  email: optionalString,
});
export type AuthenticatedUser = z.infer<typeof authenticatedUserSchema>;

export const restUnsubscribeSchema = z.looseObject({
  recipientId: z.string(),
  recipientListId: optionalId,
  mailingId: optionalId,
  reason: optionalString,
  created: z.string(),
  mediaType: optionalString,
});
export type RestUnsubscribe = z.infer<typeof restUnsubscribeSchema>;

export const RESPONSE_CATEGORIES = ['hardbounce', 'softbounce', 'autoresponder', 'unknown'] as const;
export type ResponseCategory = (typeof RESPONSE_CATEGORIES)[number];

export const restResponseSchema = z.looseObject({
  mailId: optionalString,
  mailingId: optionalId,
  recipientListId: optionalId,
  recipientId: z.string(),
  category: optionalString,
  subject: optionalString,
  ruleName: optionalString,
  mediaType: optionalString,
  created: z.string(),
});
export type RestResponse = z.infer<typeof restResponseSchema>;

export const restCountSchema = z.looseObject({ count: z.number() });
export const restThresholdExceededSchema = z.looseObject({ exceeded: z.boolean() });

export const restRecipientListSchema = z.looseObject({
  id: idString,
  name: optionalString,
  description: optionalString,
  recipients: z.number().nullish().transform((v) => v ?? undefined),
  mediaTypes: z.array(z.string()).nullish().transform((v) => v ?? undefined),
  testList: z.boolean().nullish().transform((v) => v ?? undefined),
  created: optionalString,
  modified: optionalString,
});
export type RestRecipientList = z.infer<typeof restRecipientListSchema>;

/**
 * A page of a collection: the API answers `{elements, count, offset, limit}` (…StreamingCollection),
 * some operations (selectWebhooks) a bare array. Both are accepted.
 */
export function pageOf<T extends z.ZodType>(item: T) {
  return z.union([
    z.array(item),
    z.looseObject({ elements: z.array(item).nullish() }).transform((v) => v.elements ?? []),
  ]);
}

/** One element of a page read with `tolerantPageOf`: the validated record, or the raw element and why it failed. */
export type PageElement<T> = { ok: true; record: T; raw: unknown } | { ok: false; raw: unknown; reason: string };

/**
 * Like `pageOf`, but only the envelope must match: each element is validated on its own, so one
 * malformed element does not fail the page (spec §4: keep and quarantine it, never lose the good ones).
 */
export function tolerantPageOf<T extends z.ZodType>(item: T) {
  return z.union([
    z.array(z.unknown()),
    z.looseObject({ elements: z.array(z.unknown()).nullish() }).transform((v) => v.elements ?? []),
  ]).transform((elements) => elements.map((raw): PageElement<z.output<T>> => {
    const parsed = item.safeParse(raw);
    return parsed.success ? { ok: true, record: parsed.data, raw } : { ok: false, raw, reason: issueText(parsed.error) };
  }));
}

/** The records of a tolerantly read page that passed validation. */
export function validRecords<T>(page: readonly PageElement<T>[]): T[] {
  return page.flatMap((e) => (e.ok ? [e.record] : []));
}

/** The first issue of a failed validation in one line: `field.path: message`. */
export function issueText(error: z.ZodError): string {
  const issue = error.issues[0];
  return issue ? `${issue.path.join('.') || '(root)'}: ${issue.message}` : 'invalid';
}

/** Authentication JSON (WebhookRequestData.authentication) our webhooks are created with. */
export type WebhookAuthentication =
  | { type: 'none' }
  | { type: 'basicAuth'; userName: string; password: string }
  | { type: 'keyAuth'; key: string; passphrase: string };
