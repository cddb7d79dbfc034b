/**
 * Admin credentials: a secret key (SUPABASE_SECRET_KEYS values) or the legacy service-role key,
 * sent as `apikey` or `Authorization: Bearer`, compared in constant time.
 * @module
 */
import { createHash, timingSafeEqual } from 'node:crypto';

type Headers = { get(name: string): string | null | undefined };

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/** The Bearer token of an Authorization header, if there is one. */
export function bearerToken(headers: Headers): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(headers.get('authorization') ?? '');
  return m ? m[1] : undefined;
}

/** True when `key` equals one of `adminKeys`; every key is compared, each in constant time. */
export function isAdminKey(key: string | undefined, adminKeys: readonly string[]): boolean {
  if (!key) return false;
  const presented = digest(key);
  let match = false;
  for (const k of adminKeys) match = timingSafeEqual(presented, digest(k)) || match;
  return match;
}

/** Whether the request carries an admin credential on `apikey` or as a Bearer token. */
export function hasAdminCredential(headers: Headers, adminKeys: readonly string[]): boolean {
  const apikey = headers.get('apikey')?.trim() || undefined;
  return isAdminKey(apikey, adminKeys) || isAdminKey(bearerToken(headers), adminKeys);
}

/** Whether the request presents any credential at all (to tell 401 missing from 401 invalid). */
export function hasAnyCredential(headers: Headers): boolean {
  return Boolean(headers.get('apikey')?.trim() || bearerToken(headers));
}
