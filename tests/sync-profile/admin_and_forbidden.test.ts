/**
 * Over HTTP: an admin credential (secret key as apikey or Bearer) may sync any user by user_id;
 * a user token naming someone else is 403; a publishable key is no admin credential.
 * @module
 */
import assert from 'node:assert/strict';
import { DEV_PUBLISHABLE_KEY, DEV_SECRET_KEY, signDevAccessToken } from '../../local/dev-keys.ts';
import { freshDatabase } from '../helpers/db.ts';
import { startTestStack } from '../helpers/stack.ts';
import { insertAuthUser } from '../helpers/users.ts';
import { postStack, userHeaders } from './helpers.ts';

Deno.test('sync-profile admin path and the 403 for another user', async (t) => {
  const db = await freshDatabase('sp_admin');
  const stack = await startTestStack(db.url);
  try {
    const hasProfile = async (id: string) =>
      (await db.sql`select 1 from public.profiles where id = ${id}`).length === 1;

    for (
      const [name, headers] of [
        ['secret key as apikey', { apikey: DEV_SECRET_KEY }],
        ['secret key as Bearer', { authorization: `Bearer ${DEV_SECRET_KEY}` }],
        // A gateway may put its own token in Authorization; with user_id it is not looked at.
        ['secret key as apikey, a foreign Bearer', {
          apikey: DEV_SECRET_KEY,
          authorization: 'Bearer gateway-token',
        }],
      ] as const
    ) {
      await t.step(`${name} + user_id → 200 with that user's profile`, async () => {
        const id = await insertAuthUser(db.sql);
        const res = await postStack(stack, headers, { user_id: id });
        assert.deepEqual([res.status, res.json.profile?.id], [200, id]);
        assert.ok(await hasProfile(id));
      });
    }

    await t.step('admin + user_id not a uuid → 400 invalid_payload', async () => {
      const res = await postStack(stack, { apikey: DEV_SECRET_KEY }, { user_id: 'someone' });
      assert.deepEqual([res.status, res.json.error?.code], [400, 'invalid_payload']);
    });

    await t.step('admin + unknown user → 404 user_not_found', async () => {
      const res = await postStack(stack, { apikey: DEV_SECRET_KEY }, { user_id: crypto.randomUUID() });
      assert.deepEqual([res.status, res.json.error?.code], [404, 'user_not_found']);
    });

    await t.step('a wrong secret key is no admin credential → 401', async () => {
      const id = await insertAuthUser(db.sql);
      const res = await postStack(stack, { apikey: 'sb_secret_wrong' }, { user_id: id });
      assert.deepEqual([res.status, res.json.error?.code], [401, 'missing_token']);
      assert.ok(!(await hasProfile(id)));
    });

    await t.step('the publishable key is no admin credential → 401', async () => {
      const id = await insertAuthUser(db.sql);
      const res = await postStack(stack, { apikey: DEV_PUBLISHABLE_KEY }, { user_id: id });
      assert.deepEqual([res.status, res.json.error?.code], [401, 'missing_token']);
      assert.ok(!(await hasProfile(id)));
    });

    await t.step('a user token naming another user → 403 forbidden, nothing written', async () => {
      const alice = await insertAuthUser(db.sql);
      const bob = await insertAuthUser(db.sql);
      const token = await signDevAccessToken(stack.supabaseUrl, alice);
      const res = await postStack(stack, userHeaders(token), { user_id: bob });
      assert.deepEqual([res.status, res.json.error?.code], [403, 'forbidden']);
      assert.deepEqual([await hasProfile(alice), await hasProfile(bob)], [false, false]);
    });
  } finally {
    await stack.close();
    await db.drop();
  }
});
