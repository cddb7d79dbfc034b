/**
 * A body over the limit (PROFILE_SYNC_MAX_BODY_BYTES, 1 MiB by default) gets 413, whether its
 * Content-Length says so or it is streamed without one.
 */
import assert from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { startTestStack } from '../helpers/stack.ts';
import { insertAuthUser } from '../helpers/users.ts';
import { minimalEvent, postWebhook, signHeaders, webhookUrl } from './helpers.ts';

Deno.test('auth-webhook refuses a body over the size limit with 413', async (t) => {
  const db = await freshDatabase('webhook_limit');
  const stack = await startTestStack(db.url, { env: { PROFILE_SYNC_MAX_BODY_BYTES: '4096' } });
  try {
    const id = await insertAuthUser(db.sql);
    const event = minimalEvent('INSERT', id);
    const big = JSON.stringify({ ...event, record: { ...event.record as object, raw_user_meta_data: { bio: 'x'.repeat(5000) } } });

    await t.step('with Content-Length over the limit', async () => {
      const { status, json } = await postWebhook(stack, big);
      assert.equal(status, 413);
      assert.equal((json.error as { code: string }).code, 'payload_too_large');
    });

    await t.step('streamed without Content-Length', async () => {
      const bytes = new TextEncoder().encode(big);
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < bytes.length; i += 1000) controller.enqueue(bytes.slice(i, i + 1000));
          controller.close();
        },
      });
      const res = await fetch(webhookUrl(stack), { method: 'POST', body: stream, headers: signHeaders(big) });
      assert.equal(res.status, 413);
      assert.equal((await res.json()).error.code, 'payload_too_large');
    });

    await t.step('a body just under the limit is accepted', async () => {
      const padded = JSON.stringify({ ...event, record: { ...event.record as object, raw_user_meta_data: { bio: 'x'.repeat(3500) } } });
      const { status, json } = await postWebhook(stack, padded);
      assert.equal(status, 200, JSON.stringify(json));
    });
  } finally {
    await stack.close();
    await db.drop();
  }
});

Deno.test('the default body limit is 1 MiB', async () => {
  const db = await freshDatabase('webhook_limit_default');
  const stack = await startTestStack(db.url);
  try {
    const body = JSON.stringify({ ...minimalEvent('INSERT', crypto.randomUUID()), pad: 'x'.repeat(1024 * 1024) });
    const { status } = await postWebhook(stack, body);
    assert.equal(status, 413);
  } finally {
    await stack.close();
    await db.drop();
  }
});
