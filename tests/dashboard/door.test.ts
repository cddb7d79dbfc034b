/**
 * The dashboard's door, in-process (app.request): without the token or the cookie, or with a
 * foreign Host (DNS rebinding), 403 and the database is not touched (a tripwire stands in for
 * the pool: any use of it counts); the token becomes an HttpOnly SameSite=Strict cookie and
 * leaves the URL; a write needs a same-origin Origin and the page's CSRF token.
 */
import assert from 'node:assert/strict';
import type { Sql } from '../../shared/db.ts';
import { createDashboardApp } from '../../cli/dashboard/app.ts';
import { cookieName, newDoorKeys } from '../../cli/dashboard/guard.ts';

const PORT = 54999;
const ORIGIN = `http://127.0.0.1:${PORT}`;

function tripwire() {
  const touched: string[] = [];
  const sql = new Proxy(function () {}, {
    get: (_t, key) => {
      touched.push(String(key));
      throw new Error('the database was touched');
    },
    apply: () => {
      touched.push('query');
      throw new Error('the database was touched');
    },
  }) as unknown as Sql;
  return { sql, touched };
}

Deno.test('dashboard door: token, cookie, Host, Origin and CSRF', async (t) => {
  const keys = newDoorKeys();
  const { sql, touched } = tripwire();
  const app = createDashboardApp({ ctx: { sql, dbUrl: 'postgres://unused', interactive: false }, keys, port: PORT });
  const cookie = `${cookieName(PORT)}=${keys.session}`;
  const get = (path: string, headers: Record<string, string> = {}) =>
    app.request(`${ORIGIN}${path}`, { headers: { host: `127.0.0.1:${PORT}`, ...headers } });

  await t.step('no token, no cookie: 403 on the page, the API and the assets', async () => {
    for (const path of ['/', '/api/state', '/api/runs', '/api/users/00000000-0000-0000-0000-000000000001', '/assets/dashboard.js']) {
      const res = await get(path);
      assert.equal(res.status, 403, path);
      assert.match(await res.text(), /Forbidden/);
    }
    const wrongCookie = await get('/api/state', { cookie: `${cookieName(PORT)}=${keys.token}` });
    assert.equal(wrongCookie.status, 403);
    const otherPortsCookie = await get('/api/state', { cookie: `${cookieName(PORT + 1)}=${keys.session}` });
    assert.equal(otherPortsCookie.status, 403);
  });

  await t.step('a wrong token: 403, no cookie', async () => {
    const res = await get(`/?token=${keys.csrf}`);
    assert.equal(res.status, 403);
    assert.equal(res.headers.get('set-cookie'), null);
  });

  await t.step('the token: a 303 to the same page without it, and the session cookie', async () => {
    const res = await get(`/?token=${keys.token}`);
    assert.equal(res.status, 303);
    assert.equal(res.headers.get('location'), '/');
    const setCookie = res.headers.get('set-cookie') ?? '';
    assert.match(setCookie, new RegExp(`^${cookieName(PORT)}=${keys.session};`));
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /SameSite=Strict/);
    assert.equal(res.headers.get('referrer-policy'), 'no-referrer');
  });

  await t.step('the cookie opens the page (no database read for it), with the CSRF token inside', async () => {
    const res = await get('/', { cookie });
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.ok(html.includes(`content="${keys.csrf}"`));
    assert.ok(!html.includes(keys.token) && !html.includes(keys.session));
    assert.match(res.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/);
    const uplot = await get('/assets/uPlot.iife.min.js', { cookie });
    assert.equal(uplot.status, 200);
    assert.match(await uplot.text(), /uPlot/);
  });

  await t.step('a foreign Host (DNS rebinding) is refused even with the token or the cookie', async () => {
    for (const host of [`evil.example:${PORT}`, `127.0.0.1:${PORT + 1}`, 'localhost', `127.0.0.1.evil.example:${PORT}`]) {
      assert.equal((await get('/api/state', { host, cookie })).status, 403, host);
      assert.equal((await get(`/?token=${keys.token}`, { host })).status, 403, host);
    }
  });

  await t.step('writes: same-origin Origin and the CSRF token, else 403 and nothing starts', async () => {
    const post = (headers: Record<string, string>) =>
      app.request(`${ORIGIN}/api/actions/dry-run`, { method: 'POST', headers: { host: `127.0.0.1:${PORT}`, ...headers } });
    assert.equal((await post({ 'x-csrf-token': keys.csrf, origin: ORIGIN })).status, 403, 'no cookie');
    assert.equal((await post({ cookie, 'x-csrf-token': keys.csrf })).status, 403, 'no Origin');
    assert.equal((await post({ cookie, 'x-csrf-token': keys.csrf, origin: 'http://evil.example' })).status, 403, 'foreign Origin');
    assert.equal((await post({ cookie, origin: ORIGIN })).status, 403, 'no CSRF token');
    assert.equal((await post({ cookie, origin: ORIGIN, 'x-csrf-token': keys.session })).status, 403, 'wrong CSRF token');
    assert.equal((await app.request(`${ORIGIN}/?token=${keys.token}`, { method: 'POST', headers: { host: `127.0.0.1:${PORT}` } })).status, 403,
      'the token is taken by GET only');
  });

  assert.deepEqual(touched, [], 'nothing above reached the database');
});
