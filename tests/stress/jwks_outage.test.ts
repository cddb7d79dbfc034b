// Fault: Auth's JWKS endpoint down while signed-in users call sync-profile. A burst at cold start
// (no keys cached) gets 503 jwks_unavailable with Retry-After — never 401, which would tell a
// signed-in user their session is bad — and writes nothing; when the endpoint returns, the same
// running function serves 200 without a restart, and a later outage is ridden out on cached keys.
import assert from 'node:assert/strict';
import { DEV_JWKS, signDevAccessToken } from '../../local/dev-keys.ts';
import { insertAuthUsers } from '../helpers/bulk.ts';
import { freshDatabase } from '../helpers/db.ts';
import { syncTables } from '../helpers/profiles.ts';
import { freePort, startTestStack } from '../helpers/stack.ts';

type Mode = 'up' | 'error' | 'refused' | 'garbage';

/** Auth's well-known JWKS endpoint, switchable between up, 500, garbage and not listening. */
function jwksHost(port: number) {
  let server: Deno.HttpServer | undefined;
  let mode: Mode = 'refused';
  let fetches = 0;
  const listen = () =>
    Deno.serve({ port, hostname: '127.0.0.1', onListen: () => {} }, (req) => {
      fetches++;
      if (new URL(req.url).pathname !== '/auth/v1/.well-known/jwks.json') {
        return new Response('no', { status: 404 });
      }
      if (mode === 'error') return new Response('upstream unavailable', { status: 500 });
      if (mode === 'garbage') {
        return new Response('<html>maintenance</html>', { headers: { 'content-type': 'text/html' } });
      }
      return Response.json(DEV_JWKS);
    });
  return {
    url: `http://127.0.0.1:${port}`,
    get fetches() {
      return fetches;
    },
    async set(next: Mode) {
      mode = next;
      if (next === 'refused' && server) {
        await server.shutdown();
        server = undefined;
      } else if (next !== 'refused' && !server) server = listen();
    },
  };
}

Deno.test('JWKS endpoint down: 503 with Retry-After, never 401; recovers without a restart', async (t) => {
  const db = await freshDatabase('stress_jwks');
  const host = jwksHost(freePort());
  // SUPABASE_JWKS unset: the function fetches the project's well-known JWKS, here from `host`.
  const stack = await startTestStack(db.url, { env: { SUPABASE_URL: host.url, SUPABASE_JWKS: undefined } });
  try {
    const users = await insertAuthUsers(db.sql, 32, 'jwks');
    const tokens = await Promise.all(users.map((id) => signDevAccessToken(host.url, id)));
    const burst = () =>
      Promise.all(tokens.map(async (token) => {
        const res = await fetch(`${stack.url}/functions/v1/sync-profile`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}` },
        });
        const json = await res.json();
        return {
          status: res.status,
          code: json.error?.code as string | undefined,
          retryAfter: res.headers.get('retry-after'),
        };
      }));
    const before = await syncTables(db.sql);

    for (const mode of ['refused', 'error', 'garbage'] as const) {
      await t.step(`cold start, JWKS ${mode}: every call 503 jwks_unavailable with Retry-After`, async () => {
        await host.set(mode);
        const answers = await burst();
        for (const a of answers) {
          assert.deepEqual([a.status, a.code, Number(a.retryAfter) > 0], [503, 'jwks_unavailable', true]);
        }
        assert.deepEqual(await syncTables(db.sql), before, 'nothing written while keys were unavailable');
      });
    }

    await t.step('JWKS back: the same running function serves 200 to everyone', async () => {
      await host.set('up');
      const answers = await burst();
      assert.deepEqual(answers.map((a) => a.status), tokens.map(() => 200));
    });

    await t.step('JWKS down again: cached keys keep serving', async () => {
      await host.set('refused');
      const fetched = host.fetches;
      const answers = await burst();
      assert.deepEqual(answers.map((a) => a.status), tokens.map(() => 200));
      assert.equal(host.fetches, fetched);
    });
    assert.ok(stack.logs.every((l) => !tokens.some((tok) => l.includes(tok))), 'a token reached the log');
  } finally {
    await host.set('refused');
    await stack.close();
    await db.drop();
  }
});
