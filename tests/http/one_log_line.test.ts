/**
 * Logging: one line per request, refused ones included, in every function; a request id is kept
 * only when it is short and plain (≤ 128 of A-Z a-z 0-9 . _ : -), else replaced by a uuid.
 */
import assert from 'node:assert/strict';
import { DEV_SECRET_KEY } from '../../local/dev-keys.ts';
import { minimalEvent, signHeaders } from '../auth-webhook/helpers.ts';
import { freshDatabase } from '../helpers/db.ts';
import { inProcess } from '../helpers/in_process.ts';
import { insertAuthUser } from '../helpers/users.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

Deno.test('one log line per request, refused ones included; request ids bounded and validated', async (t) => {
  const db = await freshDatabase('one_log_line');
  try {
    const userId = await insertAuthUser(db.sql);
    const body = JSON.stringify(minimalEvent('INSERT', userId));
    const requests: [string, { method?: string; headers?: Record<string, string>; body?: unknown }, number][] = [
      ['auth-webhook', { body }, 401],
      ['auth-webhook', { body, headers: signHeaders(body) }, 200],
      ['auth-webhook', { method: 'GET' }, 405],
      ['sync-profile', { body: {} }, 401],
      ['sync-profile', { body: { user_id: userId }, headers: { apikey: DEV_SECRET_KEY } }, 200],
      ['reconcile', { method: 'GET' }, 401],
      ['reconcile', { body: '{', headers: { apikey: DEV_SECRET_KEY } }, 400],
      ['reconcile', { method: 'GET', headers: { apikey: DEV_SECRET_KEY } }, 200],
    ];
    for (const [i, [fn, init, status]] of requests.entries()) {
      await t.step(`${fn} ${init.method ?? 'POST'} → ${status}: one line`, async () => {
        const { call, logs } = inProcess(fn, db);
        const requestId = `req-${i}`;
        const res = await call({ ...init, headers: { ...init.headers, 'x-request-id': requestId } });
        assert.equal(res.status, status);
        const lines = logs.map((l) => JSON.parse(l)).filter((l) => l.request_id === requestId);
        assert.equal(lines.length, 1, JSON.stringify(lines));
        if (init.method !== 'OPTIONS') assert.equal(lines[0].status, status);
        if (status >= 400) assert.equal(lines[0].code, res.json.error?.code);
        assert.equal(logs.length, 1, 'no line without the request id either');
      });
    }

    await t.step('a CORS preflight: one line too', async () => {
      const { app, logs } = inProcess('sync-profile', db);
      const res = await app.fetch(new Request('http://functions.local/sync-profile', {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example', 'x-request-id': 'preflight' },
      }));
      assert.equal(res.status, 200);
      assert.deepEqual(logs.map((l) => JSON.parse(l)).map((l) => [l.request_id, l.method, l.status]), [['preflight', 'OPTIONS', 200]]);
    });

    await t.step('a request id that is too long, or not plain, is replaced by a uuid', async () => {
      const bad = ['x'.repeat(60_000), 'x'.repeat(129), 'a b', 'a\u001b[31mred', '<script>', 'ü'];
      for (const id of bad) {
        const { call, logs } = inProcess('reconcile', db);
        await call({ method: 'GET', headers: { 'x-request-id': id } });
        const [line] = logs.map((l) => JSON.parse(l));
        assert.match(line.request_id, UUID, JSON.stringify(id.slice(0, 20)));
        assert.equal(line.request_id_replaced, true);
        assert.ok(logs[0].length < 1000, 'the line does not carry the id');
      }
    });

    await t.step('a plain id is kept; the platform id (sb-request-id) wins over the caller one', async () => {
      const { call, logs } = inProcess('reconcile', db);
      await call({ method: 'GET', headers: { 'x-request-id': 'a'.repeat(128) } });
      await call({ method: 'GET', headers: { 'sb-request-id': 'sb-1:2.3_4', 'x-request-id': 'caller' } });
      await call({ method: 'GET', headers: { 'sb-request-id': 'bad id', 'x-request-id': 'caller-2' } });
      const ids = logs.map((l) => JSON.parse(l)).map((l) => [l.request_id, l.request_id_replaced ?? false]);
      assert.deepEqual(ids, [['a'.repeat(128), false], ['sb-1:2.3_4', false], ['caller-2', true]]);
    });
  } finally {
    await db.drop();
  }
});
