/** auth-webhook serves POST only: other methods get 405 with Allow: POST; other paths 404. */
import assert from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { startTestStack } from '../helpers/stack.ts';
import { webhookUrl } from './helpers.ts';

Deno.test('auth-webhook answers 405 to methods other than POST', async (t) => {
  const db = await freshDatabase('webhook_method');
  const stack = await startTestStack(db.url);
  try {
    for (const method of ['GET', 'PUT', 'PATCH', 'DELETE']) {
      await t.step(method, async () => {
        const res = await fetch(webhookUrl(stack), { method });
        assert.equal(res.status, 405);
        assert.equal(res.headers.get('allow'), 'POST');
        assert.equal((await res.json()).error.code, 'method_not_allowed');
      });
    }
    await t.step('another path: 404 not_found', async () => {
      const res = await fetch(`${webhookUrl(stack)}/elsewhere`, { method: 'POST', body: '{}' });
      assert.equal(res.status, 404);
      assert.equal((await res.json()).error.code, 'not_found');
    });
  } finally {
    await stack.close();
    await db.drop();
  }
});
