/**
 * Over HTTP: the preflight is answered without credentials, and every response, errors
 * included, carries the CORS headers supabase-js needs (the browser test proves they suffice).
 * @module
 */
import assert from 'node:assert/strict';
import { corsHeaders } from '@supabase/supabase-js/cors';
import { signDevAccessToken } from '../../local/dev-keys.ts';
import { freshDatabase } from '../helpers/db.ts';
import { startTestStack } from '../helpers/stack.ts';
import { insertAuthUser } from '../helpers/users.ts';
import { syncProfileUrl, userHeaders } from './helpers.ts';

const ORIGIN = 'http://localhost:3000';

Deno.test('sync-profile CORS: preflight without auth, headers on every response', async (t) => {
  const db = await freshDatabase('sp_cors');
  const stack = await startTestStack(db.url);
  try {
    const url = syncProfileUrl(stack);
    const assertCors = (res: Response) => {
      for (const [name, value] of Object.entries(corsHeaders)) {
        assert.equal(res.headers.get(name), value, name);
      }
    };

    await t.step('OPTIONS preflight: 2xx, CORS headers, no credentials needed', async () => {
      const res = await fetch(url, {
        method: 'OPTIONS',
        headers: {
          origin: ORIGIN,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization, x-client-info, apikey, content-type',
        },
      });
      await res.body?.cancel();
      assert.ok(res.ok, `preflight status ${res.status}`);
      assertCors(res);
      const allowed = res.headers.get('access-control-allow-headers')!.split(',').map((h) => h.trim());
      for (const h of ['authorization', 'x-client-info', 'apikey', 'content-type']) {
        assert.ok(allowed.includes(h), h);
      }
      assert.match(res.headers.get('access-control-allow-methods')!, /\bPOST\b/);
    });

    const id = await insertAuthUser(db.sql);
    const other = await insertAuthUser(db.sql);
    const token = await signDevAccessToken(stack.supabaseUrl, id);
    const cases: [string, RequestInit, number][] = [
      ['200 success', { method: 'POST', headers: userHeaders(token) }, 200],
      ['400 invalid JSON', { method: 'POST', headers: userHeaders(token), body: '{' }, 400],
      ['401 missing token', { method: 'POST' }, 401],
      ['401 invalid token', { method: 'POST', headers: { authorization: 'Bearer x.y.z' } }, 401],
      ['403 another user', {
        method: 'POST',
        headers: userHeaders(token),
        body: JSON.stringify({ user_id: other }),
      }, 403],
      ['405 GET', { method: 'GET' }, 405],
      ['404 another path', { method: 'POST', headers: userHeaders(token) }, 404],
    ];
    for (const [name, init, status] of cases) {
      await t.step(`${name} carries the CORS headers`, async () => {
        const target = status === 404 ? `${url}/elsewhere` : url;
        const res = await fetch(target, { ...init, headers: { origin: ORIGIN, ...init.headers } });
        await res.body?.cancel();
        assert.equal(res.status, status);
        assertCors(res);
      });
    }
  } finally {
    await stack.close();
    await db.drop();
  }
});
