/**
 * A request whose client has gone away does not start a sync: the client sends a valid call and
 * hangs up while its token is being verified (the project's JWKS answers slowly); sync-profile
 * then finds the request's signal aborted, syncs nothing and logs request_aborted at info.
 * Over real sockets on the local stack.
 */
import assert from 'node:assert/strict';
import { DEV_JWKS, signDevAccessToken } from '../../local/dev-keys.ts';
import { freshDatabase } from '../helpers/db.ts';
import { startTestStack } from '../helpers/stack.ts';
import { insertAuthUser } from '../helpers/users.ts';
import { waitFor } from '../helpers/wait.ts';

Deno.test('sync-profile: a client gone before the sync starts gets no sync', async () => {
  const db = await freshDatabase('sp_client_gone');
  // the project's Auth, publishing its JWKS after 1 s
  const jwks = Deno.serve({ hostname: '127.0.0.1', port: 0, onListen: () => {} }, async () => {
    await new Promise((r) => setTimeout(r, 1000));
    return Response.json(DEV_JWKS);
  });
  const authUrl = `http://127.0.0.1:${jwks.addr.port}`;
  const stack = await startTestStack(db.url, { env: { SUPABASE_URL: authUrl, SUPABASE_JWKS: undefined } });
  try {
    const id = await insertAuthUser(db.sql);
    const token = await signDevAccessToken(authUrl, id);
    const conn = await Deno.connect({ hostname: '127.0.0.1', port: stack.port });
    const head = [
      'POST /functions/v1/sync-profile HTTP/1.1',
      `host: 127.0.0.1:${stack.port}`,
      `authorization: Bearer ${token}`,
      'x-request-id: gone-before-sync',
      'content-length: 0',
      '',
      '',
    ].join('\r\n');
    await conn.write(new TextEncoder().encode(head));
    await new Promise((r) => setTimeout(r, 200)); // the token is being verified
    conn.close();

    const line = await waitFor('the request\'s log line', () =>
      Promise.resolve(stack.logs.map((l) => JSON.parse(l)).find((l) => l.request_id === 'gone-before-sync')), 10_000);
    assert.deepEqual([line.level, line.code], ['info', 'request_aborted'], JSON.stringify(line));
    const [{ n }] = await db.sql`select count(*)::int as n from public.profiles`;
    assert.equal(n, 0, 'no sync was started');

    // the same call from a client that waits is synced
    const res = await fetch(`${stack.url}/functions/v1/sync-profile`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assert.equal(res.status, 200, await res.text());
  } finally {
    await stack.close();
    await jwks.shutdown();
    await db.drop();
  }
});
