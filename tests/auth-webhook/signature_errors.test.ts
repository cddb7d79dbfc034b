/**
 * Unsigned or badly signed requests get 401 (missing_signature / invalid_signature) before the
 * body is parsed, and nothing is written.
 */
import assert from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { startTestStack } from '../helpers/stack.ts';
import { insertAuthUser } from '../helpers/users.ts';
import { minimalEvent, newWebhookSecret, postWebhook, signHeaders } from './helpers.ts';

Deno.test('auth-webhook refuses unsigned and badly signed requests with 401', async (t) => {
  const db = await freshDatabase('webhook_sig');
  const stack = await startTestStack(db.url);
  try {
    const id = await insertAuthUser(db.sql);
    const body = JSON.stringify(minimalEvent('INSERT', id));
    const expect401 = async (code: string, res: Promise<{ status: number; json: Record<string, unknown> }>) => {
      const { status, json } = await res;
      assert.equal(status, 401);
      assert.equal((json.error as { code: string }).code, code);
    };

    for (const header of ['webhook-id', 'webhook-timestamp', 'webhook-signature']) {
      await t.step(`without ${header}: missing_signature`, async () => {
        const headers = signHeaders(body);
        delete headers[header];
        const res = await fetch(`${stack.url}/functions/v1/auth-webhook`, { method: 'POST', body, headers });
        assert.equal(res.status, 401);
        assert.equal((await res.json()).error.code, 'missing_signature');
      });
    }

    await t.step('no signature headers at all: missing_signature', () =>
      expect401('missing_signature', postWebhook(stack, body, { signed: false })));

    await t.step('garbage signature: invalid_signature', () =>
      expect401('invalid_signature', postWebhook(stack, body, { headers: { 'webhook-signature': 'v1,bm90IGEgc2lnbmF0dXJl' } })));

    await t.step('a signature with another version prefix: invalid_signature', async () => {
      const headers = signHeaders(body);
      headers['webhook-signature'] = headers['webhook-signature'].replace(/^v1,/, 'v1a,');
      await expect401('invalid_signature', postWebhook(stack, body, { headers }));
    });

    await t.step('signed with another secret: invalid_signature', () =>
      expect401('invalid_signature', postWebhook(stack, body, { secret: newWebhookSecret() })));

    await t.step('timestamp more than 5 minutes old: invalid_signature', () =>
      expect401('invalid_signature', postWebhook(stack, body, { timestamp: new Date(Date.now() - 5 * 60_000 - 30_000) })));

    await t.step('timestamp more than 5 minutes ahead: invalid_signature', () =>
      expect401('invalid_signature', postWebhook(stack, body, { timestamp: new Date(Date.now() + 5 * 60_000 + 30_000) })));

    await t.step('timestamp 4 minutes old is still accepted (tolerance is 5 minutes)', async () => {
      const { status } = await postWebhook(stack, body, { timestamp: new Date(Date.now() - 4 * 60_000) });
      assert.equal(status, 200);
      await db.sql`delete from public.profiles`;
    });

    await t.step('a valid signature over a different body: invalid_signature', async () => {
      const other = JSON.stringify(minimalEvent('INSERT', crypto.randomUUID()));
      const res = await fetch(`${stack.url}/functions/v1/auth-webhook`, { method: 'POST', body, headers: signHeaders(other) });
      assert.equal(res.status, 401);
      assert.equal((await res.json()).error.code, 'invalid_signature');
    });

    await t.step('the same body re-serialised (other whitespace) no longer matches', async () => {
      const headers = signHeaders(body);
      const spaced = JSON.stringify(JSON.parse(body), null, 2);
      const res = await fetch(`${stack.url}/functions/v1/auth-webhook`, { method: 'POST', body: spaced, headers });
      assert.equal(res.status, 401);
      assert.equal((await res.json()).error.code, 'invalid_signature');
    });

    await t.step('a badly signed body that is not even JSON is refused as unsigned, not as bad JSON', () =>
      expect401('invalid_signature', postWebhook(stack, '{not json', { headers: { 'webhook-signature': 'v1,AAAA' } })));

    const [{ n }] = await db.sql`select count(*)::int as n from public.profiles`;
    assert.equal(n, 0, 'nothing may be written for a refused request');
  } finally {
    await stack.close();
    await db.drop();
  }
});
