/**
 * The dashboard's door: a request passes only with this server's own Host (no DNS rebinding), and
 * with the session cookie, which the one random token in the printed URL is exchanged for (as
 * Jupyter does). Writes also need the page's CSRF token and a same-origin Origin. Nothing is read
 * from the database before this says yes.
 * @module
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie, setCookie } from 'hono/cookie';

export type DoorKeys = {
  /** In the printed URL: exchanged for the cookie. */
  token: string;
  /** The cookie's value (HttpOnly, SameSite=Strict). */
  session: string;
  /** Put into the page; sent back in x-csrf-token on every write. */
  csrf: string;
};

export const newDoorKeys = (): DoorKeys => ({
  token: randomBytes(24).toString('base64url'),
  session: randomBytes(24).toString('base64url'),
  csrf: randomBytes(24).toString('base64url'),
});

/** Cookies are per host, not per port: the name carries the port so two dashboards never mix. */
export const cookieName = (port: number) => `profile_sync_dashboard_${port}`;

const same = (given: string | undefined | null, expected: string) => {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
};

/** The Host values this server answers to: 127.0.0.1 and localhost, on its own port. */
export const allowedHosts = (port: number) => new Set([`127.0.0.1:${port}`, `localhost:${port}`]);

const forbidden = (c: Context, why: string) =>
  c.text(`403 Forbidden: ${why}. Open the URL that \`profile-sync dashboard\` printed.\n`, 403);

export function door(keys: DoorKeys, port: number): MiddlewareHandler {
  const hosts = allowedHosts(port);
  const origins = new Set([...hosts].map((h) => `http://${h}`));
  const cookie = cookieName(port);
  return async (c, next) => {
    const host = (c.req.header('host') ?? '').toLowerCase();
    if (!hosts.has(host)) return forbidden(c, 'this server answers only to its own address');
    const url = new URL(c.req.url);
    const token = url.searchParams.get('token');
    if (token !== null) {
      if (c.req.method !== 'GET' || !same(token, keys.token)) return forbidden(c, 'the token is not this server\'s');
      setCookie(c, cookie, keys.session, { httpOnly: true, sameSite: 'Strict', path: '/' });
      url.searchParams.delete('token');
      // the token leaves the address bar (and the history) at once
      return c.redirect(`${url.pathname}${url.search}`, 303);
    }
    if (!same(getCookie(c, cookie), keys.session)) return forbidden(c, 'no session');
    if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
      if (!origins.has(c.req.header('origin') ?? '')) return forbidden(c, 'a write must come from this page');
      if (!same(c.req.header('x-csrf-token'), keys.csrf)) return forbidden(c, 'a write needs the page\'s CSRF token');
    }
    await next();
  };
}

/** Headers on every answer: no framing, no referrer (the first URL holds the token), no caching. */
export const hardenHeaders: MiddlewareHandler = async (c, next) => {
  await next();
  c.header('content-security-policy',
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
      "base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
  c.header('x-frame-options', 'DENY');
  c.header('x-content-type-options', 'nosniff');
  c.header('referrer-policy', 'no-referrer');
  c.header('cache-control', 'no-store');
};
