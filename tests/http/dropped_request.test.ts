/**
 * A client that goes away in the middle of its body (a dropped connection, or anyone inflating
 * error alerts on purpose) is no server error: each function logs one info line with the code
 * request_aborted, and nothing at error level.
 */
import assert from 'node:assert/strict';
import { DEV_SECRET_KEY, signDevAccessToken } from '../../local/dev-keys.ts';
import { signHeaders } from '../auth-webhook/helpers.ts';
import { waitFor } from '../helpers/wait.ts';
import { freshDatabase } from '../helpers/db.ts';
import { startTestStack } from '../helpers/stack.ts';
import { insertAuthUser } from '../helpers/users.ts';

/** Sends the head of a POST announcing 100,000 bytes, then 1,000 of them, then closes the socket. */
async function postAndHangUp(port: number, path: string, headers: Record<string, string>, requestId: string) {
  const conn = await Deno.connect({ hostname: '127.0.0.1', port });
  const head = [
    `POST ${path} HTTP/1.1`,
    `host: 127.0.0.1:${port}`,
    'content-type: application/json',
    'content-length: 100000',
    `x-request-id: ${requestId}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    '',
    '',
  ].join('\r\n');
  await conn.write(new TextEncoder().encode(head + '{"pad":"' + 'x'.repeat(1000)));
  await new Promise((r) => setTimeout(r, 50)); // the server is reading the body now
  conn.close();
}

Deno.test('a client that disconnects mid-body: one info line, code request_aborted, in every function', async () => {
  const db = await freshDatabase('dropped_request');
  const stack = await startTestStack(db.url);
  try {
    const userId = await insertAuthUser(db.sql);
    const token = await signDevAccessToken(stack.supabaseUrl, userId);
    const cases: [string, Record<string, string>][] = [
      // headers that pass every check made before the body is read
      ['auth-webhook', signHeaders('{}')],
      ['sync-profile', { authorization: `Bearer ${token}` }],
      ['sync-profile', { apikey: DEV_SECRET_KEY }],
      ['reconcile', { apikey: DEV_SECRET_KEY }],
    ];
    for (const [i, [fn, headers]] of cases.entries()) {
      const requestId = `dropped-${i}-${fn}`;
      await postAndHangUp(stack.port, `/functions/v1/${fn}`, headers, requestId);
      const lines = await waitFor(`the log line of ${requestId}`, () => {
        const mine = stack.logs.map((l) => JSON.parse(l)).filter((l) => l.request_id === requestId);
        return Promise.resolve(mine.length > 0 ? mine : undefined);
      });
      await new Promise((r) => setTimeout(r, 50)); // no second line follows
      const all = stack.logs.map((l) => JSON.parse(l)).filter((l) => l.request_id === requestId);
      assert.equal(all.length, 1, `one line for ${fn}: ${JSON.stringify(all)}`);
      assert.deepEqual(
        [lines[0].level, lines[0].msg, lines[0].code, lines[0].fn],
        ['info', 'request aborted', 'request_aborted', fn],
      );
    }
    assert.ok(stack.logs.every((l) => !l.includes('"level":"error"')), 'nothing logged at error level');
    const [{ n }] = await db.sql`select count(*)::int as n from public.profiles`;
    assert.equal(n, 0, 'nothing was synced');
  } finally {
    await stack.close();
    await db.drop();
  }
});
