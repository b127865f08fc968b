/**
 * Request authentication: webhook Bearer/Basic (spec §5), admin Bearer, IP allow-list.
 * Secrets are compared in constant time (sha256 digests of equal length + timingSafeEqual).
 */
import { hash, timingSafeEqual } from 'node:crypto';
import { BlockList, isIPv4 } from 'node:net';
import type { IpRule } from '../config.js';

function digest(value: string): Buffer {
  return hash('sha256', value, 'buffer');
}

/** Constant-time check of `given` against a pre-computed digest of the expected secret. */
function matches(given: string, expected: Buffer): boolean {
  return timingSafeEqual(digest(given), expected);
}

/** Splits `Authorization: <scheme> <credentials>`; the scheme is case-insensitive. */
function parseAuthorization(header: string | undefined): { scheme: string; credentials: string } | undefined {
  if (!header) return undefined;
  const m = /^\s*([A-Za-z]+)\s+(\S.*?)\s*$/.exec(header);
  return m ? { scheme: m[1]!.toLowerCase(), credentials: m[2]! } : undefined;
}

export interface WebhookAuthSettings {
  auth: 'required' | 'none';
  token?: string;
  user?: string;
  password?: string;
}

/** Returns a checker for the Authorization header of webhook requests. */
export function webhookAuthenticator(settings: WebhookAuthSettings): (authorization: string | undefined) => boolean {
  if (settings.auth === 'none') return () => true;
  const token = settings.token !== undefined ? digest(settings.token) : undefined;
  const user = settings.user !== undefined ? digest(settings.user) : undefined;
  const password = settings.password !== undefined ? digest(settings.password) : undefined;
  return (header) => {
    const auth = parseAuthorization(header);
    if (!auth) return false;
    if (auth.scheme === 'bearer' && token) return matches(auth.credentials, token);
    if (auth.scheme === 'basic' && user && password) {
      const decoded = Buffer.from(auth.credentials, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon < 0) return false;
      // Both halves are always compared, so timing does not tell which one was wrong.
      const userOk = matches(decoded.slice(0, colon), user);
      const passwordOk = matches(decoded.slice(colon + 1), password);
      return userOk && passwordOk;
    }
    return false;
  };
}

/** `WWW-Authenticate` challenge for a 401 on webhooks. */
export function webhookChallenge(settings: WebhookAuthSettings): string {
  const parts: string[] = [];
  if (settings.token) parts.push('Bearer realm="crs-webhooks"');
  if (settings.user) parts.push('Basic realm="crs-webhooks", charset="UTF-8"');
  return parts.join(', ');
}

export function bearerAuthenticator(secret: string): (authorization: string | undefined) => boolean {
  const expected = digest(secret);
  return (header) => {
    const auth = parseAuthorization(header);
    return auth !== undefined && auth.scheme === 'bearer' && matches(auth.credentials, expected);
  };
}

/** IP allow-list of addresses and CIDRs; an empty list allows everyone. */
export function ipAllowList(rules: IpRule[]): (address: string | undefined) => boolean {
  if (rules.length === 0) return () => true;
  const list = new BlockList();
  for (const r of rules) list.addSubnet(r.address, r.prefix, r.family);
  return (address) => {
    if (!address) return false;
    // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1];
    if (mapped) return list.check(mapped, 'ipv4') || list.check(address, 'ipv6');
    return isIPv4(address) ? list.check(address, 'ipv4') : list.check(address, 'ipv6');
  };
}
