/**
 * Structured JSON logging (pino). Secrets never reach the output: known secret fields and auth
 * headers are redacted by path, and URLs carrying credentials are masked before they are logged.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
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
