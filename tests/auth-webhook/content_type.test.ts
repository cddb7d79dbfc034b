/**
 * A correctly signed body declared as something other than JSON (text/plain, form data) is refused
 * with 415 unsupported_media_type before it is read, and nothing is synced; application/json with
 * or without a charset, or no Content-Type at all (raw bytes), is accepted.
 */
import assert from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { startTestStack } from '../helpers/stack.ts';
import { insertAuthUser } from '../helpers/users.ts';
import { minimalEvent, signHeaders, webhookUrl } from './helpers.ts';

Deno.test('auth-webhook refuses a signed body whose content type is not JSON with 415', async () => {
  const db = await freshDatabase('webhook_content_type');
  const stack = await startTestStack(db.url);
  try {
    const id = await insertAuthUser(db.sql);
    const body = JSON.stringify(minimalEvent('UPDATE', id));
    const post = async (type: string | null) => {
      const headers: Record<string, string> = signHeaders(body);
      if (type === null) delete headers['content-type'];
      else headers['content-type'] = type;
      // bytes, so fetch adds no content type of its own
      const res = await fetch(webhookUrl(stack), { method: 'POST', body: new TextEncoder().encode(body), headers });
      return { status: res.status, json: await res.json() };
    };
    for (const type of ['text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'application/jsonp']) {
      const { status, json } = await post(type);
      assert.deepEqual([status, json.error?.code], [415, 'unsupported_media_type'], `${type}: ${JSON.stringify(json)}`);
    }
    const [{ n }] = await db.sql`select count(*)::int as n from public.profiles`;
    assert.equal(n, 0, 'nothing was synced');
    for (const type of ['application/json', 'application/json; charset=utf-8', 'Application/JSON', null]) {
      const { status, json } = await post(type);
      assert.equal(status, 200, `${type}: ${JSON.stringify(json)}`);
    }
  } finally {
    await stack.close();
    await db.drop();
  }
});
