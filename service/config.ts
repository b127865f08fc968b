/**
 * Service configuration from the environment (spec §5), validated once at start with zod.
 * A missing or wrong value throws a ConfigError whose message is ONE line naming the variable;
 * secret values never appear in those messages.
 *
 * CONFIG_VARIABLES is the single list of variables (name, default, description); the docs test
 * (tests/unit/config-docs.test.ts) checks README.md's "## Configuration" table against it.
 */
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { z } from 'zod';
import { readTlsMaterial, TlsFileError, type TlsFiles } from './http/tls.js';

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`);
    this.name = 'ConfigError';
  }
}

interface VariableSpec {
  default?: string;
  description: string;
  /** Secret values are never echoed in errors or logs. */
  secret?: boolean;
  schema: z.ZodType<unknown>;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const text = z.string().trim().min(1, 'must not be empty');
const httpUrl = z
  .string()
  .trim()
  .refine((v) => {
    try {
      const u = new URL(v);
      return u.protocol === 'https:' || u.protocol === 'http:';
    } catch {
      return false;
    }
  }, 'must be an http(s) URL')
  .transform((v) => v.replace(/\/+$/, ''));
const intIn = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `must be a whole number between ${min} and ${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be a whole number between ${min} and ${max}`);
const bool = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'].includes(v), 'must be true or false')
  .transform((v) => ['true', '1', 'yes', 'on'].includes(v));

/** `<n>s`, `<n>m`, `<n>h` or plain seconds; `0` disables. Result in milliseconds. */
export function parseInterval(value: string): number | null {
  const m = /^(\d+)\s*([smh]?)$/i.exec(value.trim());
  if (!m) return null;
  const n = Number(m[1]);
  const unit = (m[2] ?? '').toLowerCase();
  const factor = unit === 'h' ? 3_600_000 : unit === 'm' ? 60_000 : 1_000;
  return n * factor;
}

const DAY_MS = 86_400_000;
/** The shortest retention besides 0: dedup of re-deliveries and the poller's 1-hour overlap need at least a day. */
export const MIN_EVENT_RETENTION_MS = DAY_MS;
/** Upper bound, so `now - retention` stays a valid date. */
export const MAX_EVENT_RETENTION_MS = 36_500 * DAY_MS;

/** parseInterval's syntax plus days (`<n>d`). Result in milliseconds; `0` = keep everything. */
export function parseRetention(value: string): number | null {
  const days = /^(\d+)\s*d$/i.exec(value.trim());
  return days ? Number(days[1]) * DAY_MS : parseInterval(value);
}

export interface IpRule {
  /** Network address (for a single address: the address itself). */
  address: string;
  /** Prefix length; 32 / 128 for a single address. */
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** Parses a comma/space separated list of IPv4/IPv6 addresses and CIDRs; null + reason when invalid. */
export function parseIpList(value: string): { rules: IpRule[] } | { error: string } {
  const rules: IpRule[] = [];
  for (const entry of value.split(/[\s,;]+/).filter(Boolean)) {
    const [addr = '', prefixText, extra] = entry.split('/');
    const v = isIP(addr);
    if (v === 0 || extra !== undefined) return { error: `"${entry}" is not an IP address or CIDR` };
    const max = v === 4 ? 32 : 128;
    let prefix = max;
    if (prefixText !== undefined) {
      if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > max) {
        return { error: `"${entry}" has an invalid prefix length (0-${max})` };
      }
      prefix = Number(prefixText);
    }
    rules.push({ address: addr, prefix, family: v === 4 ? 'ipv4' : 'ipv6' });
  }
  return { rules };
}

const ipList = z
  .string()
  .transform((v, ctx) => {
    const parsed = parseIpList(v);
    if ('error' in parsed) {
      ctx.addIssue({ code: 'custom', message: parsed.error });
      return z.NEVER;
    }
    return parsed.rules;
  });

const storeUrl = z
  .string()
  .trim()
  .refine(
    (v) => /^sqlite:.+/.test(v) || /^postgres(ql)?:\/\/.+/.test(v),
    'must be sqlite:<path> or postgres://…',
  );

/** Every environment variable the service reads. Order = order of the docs table. */
export const CONFIG_VARIABLES = {
  CRS_PORT: { default: '8080', description: 'HTTP port (`0` = any free port; the chosen port is logged)', schema: intIn(0, 65535) },
  CRS_HOST: { default: '0.0.0.0', description: 'bind address', schema: text },
  CRS_TLS_CERT_PATH: {
    description: 'PEM certificate (then its intermediates) to serve HTTPS itself, with `CRS_TLS_KEY_PATH`; reloaded on SIGHUP. Unset = plain HTTP (behind a TLS-terminating proxy)',
    schema: text.refine((p) => existsSync(p), 'file does not exist'),
  },
  CRS_TLS_KEY_PATH: {
    description: 'unencrypted PEM private key of `CRS_TLS_CERT_PATH`',
    schema: text.refine((p) => existsSync(p), 'file does not exist'),
  },
  CRS_STORE: {
    default: 'sqlite:./data/crs.sqlite',
    description: 'durable event store: `sqlite:<path>` or `postgres://…`',
    secret: true, // a postgres URL may carry a password
    schema: storeUrl,
  },
  CRS_DATAVERSE_URL: {
    description: 'Dataverse environment URL, e.g. `https://contoso.crm4.dynamics.com`; unset = demo mode',
    schema: httpUrl,
  },
  CRS_TENANT_ID: { description: 'Entra ID tenant of the app registration (client credentials)', schema: text },
  CRS_CLIENT_ID: { description: 'Entra ID application (client) id', schema: text },
  CRS_CLIENT_SECRET: { description: 'client secret of the app registration', secret: true, schema: text },
  CRS_CLIENT_CERT_PATH: {
    description: 'PEM file with certificate and private key, instead of the secret',
    schema: text.refine((p) => existsSync(p), 'file does not exist'),
  },
  CRS_AUTHORITY_HOST: {
    default: 'https://login.microsoftonline.com',
    description: 'token authority host (sovereign clouds, tests)',
    schema: httpUrl,
  },
  CRS_WEBHOOK_TOKEN: { description: 'accept `Authorization: Bearer <token>` on webhooks', secret: true, schema: text },
  CRS_WEBHOOK_USER: { description: 'user name accepted with HTTP Basic on webhooks', schema: text },
  CRS_WEBHOOK_PASSWORD: { description: 'password accepted with HTTP Basic on webhooks', secret: true, schema: text },
  CRS_WEBHOOK_ALLOWED_IPS: {
    description: 'optional comma-separated addresses/CIDRs, IPv4 and IPv6 (Campaign sends from 193.169.180.1)',
    schema: ipList,
  },
  CRS_WEBHOOK_AUTH: {
    description: '`none` runs without webhook authentication (explicit opt-out, logged as a warning)',
    schema: z.string().trim().toLowerCase().refine((v) => v === 'none', 'the only accepted value is none'),
  },
  CRS_ADMIN_TOKEN: { description: 'Bearer token for `/admin/*`; unset = admin API off (404)', secret: true, schema: text },
  CRS_CAMPAIGN_API_URL: {
    default: 'https://api.campaign.episerver.net/rest',
    description: 'Campaign REST base URL',
    schema: httpUrl,
  },
  CRS_CAMPAIGN_API_USER: { description: 'Campaign REST API user (Basic auth)', schema: text },
  CRS_CAMPAIGN_API_PASSWORD: { description: 'Campaign REST API password', secret: true, schema: text },
  CRS_POLL_INTERVAL: {
    default: '1h',
    description: 'reconciliation interval: `<n>s`, `<n>m`, `<n>h` or plain seconds; `0` disables',
    schema: z.string().transform((v, ctx) => {
      const ms = parseInterval(v);
      if (ms === null) {
        ctx.addIssue({ code: 'custom', message: 'must be <n>s, <n>m, <n>h or plain seconds (0 disables)' });
        return z.NEVER;
      }
      return ms;
    }),
  },
  CRS_EVENT_RETENTION: {
    default: '30d',
    description: 'how long applied and ignored events (raw payloads hold e-mail addresses) are kept: `<n>d`, `<n>h`, `<n>m`, `<n>s` or plain seconds, at least `1d`; `0` keeps everything',
    schema: z.string().transform((v, ctx) => {
      const ms = parseRetention(v);
      if (ms === null) {
        ctx.addIssue({ code: 'custom', message: 'must be <n>d, <n>h, <n>m, <n>s or plain seconds (0 keeps everything)' });
        return z.NEVER;
      }
      if (ms > 0 && ms < MIN_EVENT_RETENTION_MS) {
        ctx.addIssue({
          code: 'custom',
          message: "must be 0 or at least 1d: dedup of re-deliveries and the reconciliation poller's 1-hour overlap need a day of stored events",
        });
        return z.NEVER;
      }
      if (ms > MAX_EVENT_RETENTION_MS) {
        ctx.addIssue({ code: 'custom', message: 'must be at most 36500d (use 0 to keep everything)' });
        return z.NEVER;
      }
      return ms;
    }),
  },
  CRS_RESPONSE_GRANULARITY: {
    default: 'aggregate',
    description: '`aggregate` (one campaign response per person, mailing, category[, link]) or `event` (R10)',
    schema: z.string().trim().toLowerCase().pipe(z.enum(['aggregate', 'event'], { error: 'must be aggregate or event' })),
  },
  CRS_LOG_LEVEL: {
    default: 'info',
    description: 'log level: fatal, error, warn, info, debug, trace or silent',
    schema: z.string().trim().toLowerCase().pipe(z.enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(', ')}` })),
  },
  CRS_SPAM_COMPLAINT_OPTOUT: {
    default: 'true',
    description: 'a spam complaint appends an opt-out entry (R7); `false` switches that off',
    schema: bool,
  },
  CRS_BOUNCE_HARD_LIMIT: {
    default: '3',
    description: 'R5 local counting: distinct hard bounces of an address in a client that mean outbounce',
    schema: intIn(1, 1000),
  },
  CRS_BOUNCE_SOFT_LIMIT: {
    default: '5',
    description: 'R5 local counting: distinct soft bounces of an address in a client that mean outbounce',
    schema: intIn(1, 1000),
  },
  CRS_DATAVERSE_MAX_CONCURRENCY: {
    default: '52',
    description: 'upper bound of concurrent Dataverse requests (also capped by `x-ms-dop-hint`)',
    schema: intIn(1, 52),
  },
  CRS_WORKER_BATCH_SIZE: {
    default: '100',
    description: 'events leased and planned per sync worker round',
    schema: intIn(1, 1000),
  },
  CRS_WORKER_POLL_MS: {
    default: '1000',
    description: 'sync worker: milliseconds between queue polls while the queue is empty',
    schema: intIn(10, 60000),
  },
  CRS_WORKER_LEASE_SECONDS: {
    default: '300',
    description: 'sync worker: seconds a leased batch is held before another process may take it over (after a crash)',
    schema: intIn(2, 3600),
  },
} satisfies Record<string, VariableSpec>;

export type ConfigVariableName = keyof typeof CONFIG_VARIABLES;

/** The variable list for docs and `crs --help`: name, default, description. */
export function describeVariables(): { name: ConfigVariableName; default?: string; description: string; secret: boolean }[] {
  return (Object.entries(CONFIG_VARIABLES) as [ConfigVariableName, VariableSpec][]).map(([name, spec]) => ({
    name,
    ...(spec.default !== undefined ? { default: spec.default } : {}),
    description: spec.description,
    secret: spec.secret === true,
  }));
}

export interface Config {
  port: number;
  host: string;
  /** Serve HTTPS with these files (checked at start); unset = plain HTTP. */
  tls?: TlsFiles;
  /** `sqlite:<path>` or `postgres://…` */
  storeUrl: string;
  /** True when CRS_DATAVERSE_URL is unset: embedded store, Dataverse emulator / no delivery. */
  demoMode: boolean;
  dataverse: {
    url?: string;
    tenantId?: string;
    clientId?: string;
    clientSecret?: string;
    clientCertPath?: string;
    authorityHost: string;
    maxConcurrency: number;
  };
  webhook: {
    token?: string;
    user?: string;
    password?: string;
    /** Empty = no IP restriction. */
    allowedIps: IpRule[];
    /** `required`: Bearer and/or Basic configured; `none`: accept without auth (explicit, or demo mode). */
    auth: 'required' | 'none';
  };
  /** Unset = admin API off. */
  adminToken?: string;
  campaign: {
    apiUrl: string;
    apiUser?: string;
    apiPassword?: string;
  };
  /** Reconciliation interval in ms; 0 disables. */
  pollIntervalMs: number;
  /** How long applied / ignored events are kept, in ms; 0 = forever (no purge). */
  eventRetentionMs: number;
  responseGranularity: 'aggregate' | 'event';
  logLevel: LogLevel;
  spamComplaintOptOut: boolean;
  bounceHardLimit: number;
  bounceSoftLimit: number;
  workerBatchSize: number;
  workerPollMs: number;
  workerLeaseMs: number;
  /** Start-up warnings the caller logs (e.g. running without webhook auth). */
  warnings: string[];
}

type Env = Record<string, string | undefined>;

function parseVariable<N extends ConfigVariableName>(env: Env, name: N): unknown {
  const spec: VariableSpec = CONFIG_VARIABLES[name];
  const rawValue = env[name];
  // An empty value (e.g. `FOO=` in a compose file) counts as unset.
  const value = rawValue === undefined || rawValue.trim() === '' ? spec.default : rawValue;
  if (value === undefined) return undefined;
  const result = spec.schema.safeParse(value);
  if (!result.success) {
    const message = result.error.issues[0]?.message ?? 'invalid value';
    const shown = spec.secret ? '' : ` (got "${value.length > 60 ? `${value.slice(0, 60)}…` : value}")`;
    throw new ConfigError(name, `${message}${shown}`);
  }
  return result.data;
}

/** Both TLS files or neither; a pair that cannot be served stops the start, naming the file at fault. */
function tlsFiles(certPath: string | undefined, keyPath: string | undefined): TlsFiles | undefined {
  if (certPath === undefined && keyPath === undefined) return undefined;
  if (keyPath === undefined) throw new ConfigError('CRS_TLS_KEY_PATH', 'required when CRS_TLS_CERT_PATH is set');
  if (certPath === undefined) throw new ConfigError('CRS_TLS_CERT_PATH', 'required when CRS_TLS_KEY_PATH is set');
  try {
    readTlsMaterial({ certPath, keyPath });
  } catch (err) {
    if (err instanceof TlsFileError) throw new ConfigError(err.file === 'cert' ? 'CRS_TLS_CERT_PATH' : 'CRS_TLS_KEY_PATH', err.message);
    throw err;
  }
  return { certPath, keyPath };
}

/** Reads and validates the configuration; throws ConfigError (one line) on the first problem. */
export function loadConfig(env: Env = process.env): Config {
  const v = <N extends ConfigVariableName>(name: N) => parseVariable(env, name);
  const str = (name: ConfigVariableName) => v(name) as string | undefined;

  const dataverseUrl = str('CRS_DATAVERSE_URL');
  const demoMode = dataverseUrl === undefined;
  const warnings: string[] = [];

  const dataverse: Config['dataverse'] = {
    url: dataverseUrl,
    tenantId: str('CRS_TENANT_ID'),
    clientId: str('CRS_CLIENT_ID'),
    clientSecret: str('CRS_CLIENT_SECRET'),
    clientCertPath: str('CRS_CLIENT_CERT_PATH'),
    authorityHost: v('CRS_AUTHORITY_HOST') as string,
    maxConcurrency: v('CRS_DATAVERSE_MAX_CONCURRENCY') as number,
  };
  if (!demoMode) {
    if (!dataverse.tenantId) throw new ConfigError('CRS_TENANT_ID', 'required when CRS_DATAVERSE_URL is set');
    if (!dataverse.clientId) throw new ConfigError('CRS_CLIENT_ID', 'required when CRS_DATAVERSE_URL is set');
    if (!dataverse.clientSecret && !dataverse.clientCertPath) {
      throw new ConfigError('CRS_CLIENT_SECRET', 'required when CRS_DATAVERSE_URL is set (or CRS_CLIENT_CERT_PATH)');
    }
  }

  const token = str('CRS_WEBHOOK_TOKEN');
  const user = str('CRS_WEBHOOK_USER');
  const password = str('CRS_WEBHOOK_PASSWORD');
  const authNone = v('CRS_WEBHOOK_AUTH') !== undefined;
  if (user && !password) throw new ConfigError('CRS_WEBHOOK_PASSWORD', 'required when CRS_WEBHOOK_USER is set');
  if (password && !user) throw new ConfigError('CRS_WEBHOOK_USER', 'required when CRS_WEBHOOK_PASSWORD is set');
  const authConfigured = Boolean(token || user);
  if (authNone && authConfigured) {
    throw new ConfigError('CRS_WEBHOOK_AUTH', 'is none but CRS_WEBHOOK_TOKEN or CRS_WEBHOOK_USER is also set; choose one');
  }
  let auth: Config['webhook']['auth'] = 'required';
  if (!authConfigured) {
    if (authNone) {
      auth = 'none';
      warnings.push('CRS_WEBHOOK_AUTH=none: webhooks are accepted without authentication');
    } else if (demoMode) {
      auth = 'none';
      warnings.push('demo mode without CRS_WEBHOOK_TOKEN or CRS_WEBHOOK_USER: webhooks are accepted without authentication (demo only)');
    } else {
      throw new ConfigError(
        'CRS_WEBHOOK_TOKEN',
        'no webhook authentication configured: set CRS_WEBHOOK_TOKEN or CRS_WEBHOOK_USER/CRS_WEBHOOK_PASSWORD, or CRS_WEBHOOK_AUTH=none to run without',
      );
    }
  }

  const tls = tlsFiles(str('CRS_TLS_CERT_PATH'), str('CRS_TLS_KEY_PATH'));

  const campaignUser = str('CRS_CAMPAIGN_API_USER');
  const campaignPassword = str('CRS_CAMPAIGN_API_PASSWORD');
  if (campaignUser && !campaignPassword) {
    throw new ConfigError('CRS_CAMPAIGN_API_PASSWORD', 'required when CRS_CAMPAIGN_API_USER is set');
  }
  if (campaignPassword && !campaignUser) {
    throw new ConfigError('CRS_CAMPAIGN_API_USER', 'required when CRS_CAMPAIGN_API_PASSWORD is set');
  }

  return {
    port: v('CRS_PORT') as number,
    host: v('CRS_HOST') as string,
    ...(tls ? { tls } : {}),
    storeUrl: v('CRS_STORE') as string,
    demoMode,
    dataverse,
    webhook: {
      token,
      user,
      password,
      allowedIps: (v('CRS_WEBHOOK_ALLOWED_IPS') as IpRule[] | undefined) ?? [],
      auth,
    },
    adminToken: str('CRS_ADMIN_TOKEN'),
    campaign: {
      apiUrl: v('CRS_CAMPAIGN_API_URL') as string,
      apiUser: campaignUser,
      apiPassword: campaignPassword,
    },
    pollIntervalMs: v('CRS_POLL_INTERVAL') as number,
    eventRetentionMs: v('CRS_EVENT_RETENTION') as number,
    responseGranularity: v('CRS_RESPONSE_GRANULARITY') as Config['responseGranularity'],
    logLevel: v('CRS_LOG_LEVEL') as LogLevel,
    spamComplaintOptOut: v('CRS_SPAM_COMPLAINT_OPTOUT') as boolean,
    bounceHardLimit: v('CRS_BOUNCE_HARD_LIMIT') as number,
    bounceSoftLimit: v('CRS_BOUNCE_SOFT_LIMIT') as number,
    workerBatchSize: v('CRS_WORKER_BATCH_SIZE') as number,
    workerPollMs: v('CRS_WORKER_POLL_MS') as number,
    workerLeaseMs: (v('CRS_WORKER_LEASE_SECONDS') as number) * 1000,
    warnings,
  };
}
