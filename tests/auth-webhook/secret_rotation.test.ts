/**
 * Secret rotation: with several secrets configured (`new|old` or space-joined) a delivery signed
 * with any of them is accepted and one signed with neither is refused; the SQL signer signs with
 * every secret in the Vault value, so the trigger keeps working through either order of rotation.
 */
import assert from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { startTestStack } from '../helpers/stack.ts';
import { insertAuthUser } from '../helpers/users.ts';
import { minimalEvent, newWebhookSecret, postWebhook, queuedRequests, setWebhookVault } from './helpers.ts';

Deno.test('auth-webhook accepts any of several configured secrets', async (t) => {
  const db = await freshDatabase('webhook_rotation');
  const oldSecret = newWebhookSecret();
  const newSecret = newWebhookSecret();
  const stack = await startTestStack(db.url, { env: { PROFILE_SYNC_WEBHOOK_SECRET: `${newSecret}|${oldSecret}` } });
  try {
    await t.step('signed with the new secret: accepted', async () => {
      const { status } = await postWebhook(stack, minimalEvent('INSERT', await insertAuthUser(db.sql)), { secret: newSecret });
      assert.equal(status, 200);
    });
    await t.step('signed with the old secret (second in the list): accepted', async () => {
      const { status } = await postWebhook(stack, minimalEvent('INSERT', await insertAuthUser(db.sql)), { secret: oldSecret });
      assert.equal(status, 200);
    });
    await t.step('signed with a third secret: invalid_signature', async () => {
      const { status, json } = await postWebhook(stack, minimalEvent('INSERT', await insertAuthUser(db.sql)), {
        secret: newWebhookSecret(),
      });
      assert.equal(status, 401);
      assert.equal((json.error as { code: string }).code, 'invalid_signature');
    });
    await t.step('the trigger signs with every secret in Vault; a receiver knowing one accepts', async () => {
      const only = await startTestStack(db.url, { env: { PROFILE_SYNC_WEBHOOK_SECRET: oldSecret } });
      try {
        await setWebhookVault(db.sql, 'http://127.0.0.1:9/unused', `${newSecret} ${oldSecret}`);
        await db.sql`delete from net.http_request_queue`;
        await insertAuthUser(db.sql);
        const [queued] = await queuedRequests(db.sql);
        assert.equal(queued.headers['webhook-signature'].split(' ').length, 2);
        const res = await fetch(`${only.url}/functions/v1/auth-webhook`, {
          method: 'POST',
          body: queued.body,
          headers: queued.headers,
        });
        assert.equal(res.status, 200, await res.clone().text());
      } finally {
        await only.close();
      }
    });
  } finally {
    await stack.close();
    await db.drop();
  }
});
