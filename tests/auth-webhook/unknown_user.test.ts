/**
 * A signed event naming a user that auth.users does not hold: INSERT/UPDATE get 404
 * user_not_found and write nothing; a DELETE means the user is already gone: 200 deleted.
 */
import assert from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { startTestStack } from '../helpers/stack.ts';
import { minimalEvent, postWebhook } from './helpers.ts';

Deno.test('auth-webhook answers an unknown user by event type', async (t) => {
  const db = await freshDatabase('webhook_unknown');
  const stack = await startTestStack(db.url);
  try {
    for (const type of ['INSERT', 'UPDATE'] as const) {
      await t.step(`${type} of an unknown user: 404 user_not_found`, async () => {
        const { status, json } = await postWebhook(stack, minimalEvent(type, crypto.randomUUID()));
        assert.equal(status, 404);
        assert.equal((json.error as { code: string }).code, 'user_not_found');
      });
    }
    await t.step('DELETE of an unknown user: 200 deleted', async () => {
      const id = crypto.randomUUID();
      const { status, json } = await postWebhook(stack, minimalEvent('DELETE', id));
      assert.deepEqual([status, json], [200, { user_id: id, outcome: 'deleted' }]);
    });
    const [{ profiles, states }] = await db.sql`
      select (select count(*)::int from public.profiles) as profiles,
             (select count(*)::int from profile_sync.profile_state) as states`;
    assert.deepEqual([profiles, states], [0, 0], 'nothing may be written for an unknown user');
  } finally {
    await stack.close();
    await db.drop();
  }
});
