/**
 * Structured JSON logging (pino). Secrets never reach the output: known secret fields and auth
 * headers are redacted by path, and URLs carrying credentials are masked before they are logged.
 */
import { pino, type ChildLoggerOptions, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config.js';

export type { Logger } from 'pino';

/** Paths pino censors wherever they appear (one level of nesting under any key, and the top level). */
export const REDACT_PATHS = [
  'authorization',
  'password',
  'token',
  'secret',
  'clientSecret',
  'adminToken',
  'apiPassword',
  'accessToken',
  'storeUrl',
  'req.headers.authorization',
  'req.headers.cookie',
  'headers.authorization',
  'headers.Authorization',
  '*.authorization',
  '*.Authorization',
  '*.password',
  '*.token',
  '*.secret',
  '*.clientSecret',
  '*.adminToken',
  '*.apiPassword',
  '*.accessToken',
  '*.access_token',
  '*.client_secret',
  '*.storeUrl',
  'config.webhook.token',
  'config.webhook.password',
  'config.dataverse.clientSecret',
  'config.campaign.apiPassword',
  'config.adminToken',
  'config.storeUrl',
];

export function createLogger(options: { level?: LogLevel; destination?: DestinationStream; name?: string } = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      name: options.name ?? 'crs',
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    },
    options.destination,
  );
}

/** `postgres://user:secret@host/db` → `postgres://user:***@host/db`; other strings unchanged. */
export function maskUrlCredentials(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)([^/@:]*)(:[^/@]*)?@/i, (_m, scheme: string, user: string, pw?: string) =>
    `${scheme}${user}${pw ? ':***' : ''}@`,
  );
}

type LogMethod = (...args: unknown[]) => void;
type ChildOptions = ChildLoggerOptions<never> | undefined;

/**
 * A request's child logger that becomes a real pino child only when something is logged. Fastify
 * makes one child per request; with redaction configured, pino's child() cost more main-thread time
 * than parsing a webhook, and nearly every request logs nothing (request logging is off).
 */
export class DeferredChildLogger {
  private real: Logger | undefined;

  constructor(
    private readonly parent: Logger,
    private readonly bindings: Record<string, unknown>,
    private readonly options: ChildOptions,
  ) {}

  private get logger(): Logger {
    return (this.real ??= this.parent.child(this.bindings, this.options));
  }

  get level(): string {
    return this.real?.level ?? this.options?.level ?? this.parent.level;
  }

  set level(level: string) {
    this.logger.level = level;
  }

  // Prototype methods, not per-instance closures: this object is made for every request.
  fatal(...args: unknown[]): void {
    (this.logger.fatal as LogMethod)(...args);
  }
  error(...args: unknown[]): void {
    (this.logger.error as LogMethod)(...args);
  }
  warn(...args: unknown[]): void {
    (this.logger.warn as LogMethod)(...args);
  }
  info(...args: unknown[]): void {
    (this.logger.info as LogMethod)(...args);
  }
  debug(...args: unknown[]): void {
    (this.logger.debug as LogMethod)(...args);
  }
  trace(...args: unknown[]): void {
    (this.logger.trace as LogMethod)(...args);
  }
  silent(): void {}

  child(bindings: Record<string, unknown>, options?: ChildOptions): Logger {
    return this.logger.child(bindings, options);
  }
}
