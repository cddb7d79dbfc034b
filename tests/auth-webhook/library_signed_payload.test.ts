/**
 * Payloads signed by the `standardwebhooks` library, as Supabase Auth signs its hooks, are
 * accepted in both shapes: the trigger's minimal row and Supabase's full Database Webhook row
 * (every auth.users column, as jsonb of the row); the profile follows the current auth row.
 */
import assert from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { startTestStack } from '../helpers/stack.ts';
import { insertAuthUser, provider, updateAuthUser } from '../helpers/users.ts';
import { minimalEvent, postWebhook, signHeaders } from './helpers.ts';

Deno.test('auth-webhook accepts library-signed minimal and full-row payloads', async (t) => {
  const db = await freshDatabase('webhook_library');
  const stack = await startTestStack(db.url);
  try {
    const fullRow = async (id: string) =>
      (await db.sql`select to_jsonb(u) as row from auth.users u where id = ${id}`)[0].row as Record<string, unknown>;

    await t.step('minimal INSERT creates, UPDATE after a change updates, repeat is unchanged', async () => {
      const id = await insertAuthUser(db.sql, provider.azure('Ada Lovelace'));
      let res = await postWebhook(stack, minimalEvent('INSERT', id));
      assert.deepEqual([res.status, res.json], [200, { user_id: id, outcome: 'created' }]);
      await updateAuthUser(db.sql, id, { raw_user_meta_data: { full_name: 'Augusta Ada King' } });
      res = await postWebhook(stack, minimalEvent('UPDATE', id));
      assert.deepEqual([res.status, res.json], [200, { user_id: id, outcome: 'updated' }]);
      res = await postWebhook(stack, minimalEvent('UPDATE', id));
      assert.deepEqual([res.status, res.json], [200, { user_id: id, outcome: 'unchanged' }]);
      const [p] = await db.sql`select full_name from public.profiles where id = ${id}`;
      assert.equal(p.full_name, 'Augusta Ada King');
    });

    await t.step('full Supabase Database Webhook rows (secret columns included) are accepted', async () => {
      const id = await insertAuthUser(db.sql, provider.github('octocat', 'The Octocat'));
      const row = await fullRow(id);
      assert.ok('encrypted_password' in row && 'recovery_token' in row, 'the full row carries secret columns');
      let res = await postWebhook(stack, { type: 'INSERT', table: 'users', schema: 'auth', record: row, old_record: null, user_id: null });
      assert.deepEqual([res.status, res.json], [200, { user_id: id, outcome: 'created' }]);

      await updateAuthUser(db.sql, id, { email: 'octo@github.example' });
      res = await postWebhook(stack, { type: 'UPDATE', table: 'users', schema: 'auth', record: await fullRow(id), old_record: row });
      assert.deepEqual([res.status, res.json], [200, { user_id: id, outcome: 'updated' }]);

      const gone = await fullRow(id);
      await db.sql`delete from auth.users where id = ${id}`;
      res = await postWebhook(stack, { type: 'DELETE', table: 'users', schema: 'auth', record: null, old_record: gone });
      assert.deepEqual([res.status, res.json], [200, { user_id: id, outcome: 'deleted' }]);
    });

    await t.step('the payload is only a hint: a forged record cannot change the profile', async () => {
      const id = await insertAuthUser(db.sql, provider.email({ full_name: 'Real Name' }));
      const forged = minimalEvent('INSERT', id);
      (forged.record as Record<string, unknown>).raw_user_meta_data = { full_name: 'Forged', role: 'admin' };
      (forged.record as Record<string, unknown>).raw_app_meta_data = { role: 'admin' };
      const res = await postWebhook(stack, forged);
      assert.equal(res.status, 200);
      const [p] = await db.sql`select full_name, role from public.profiles where id = ${id}`;
      assert.deepEqual({ ...p }, { full_name: 'Real Name', role: 'user' });
    });

    await t.step('an auth webhook signed with several signatures (Auth joins them with ", ") is accepted', async () => {
      const id = await insertAuthUser(db.sql);
      const body = JSON.stringify(minimalEvent('INSERT', id));
      const headers = signHeaders(body);
      headers['webhook-signature'] = `v1,c29tZXRoaW5nIGVsc2U=, ${headers['webhook-signature']}`;
      const res = await postWebhook(stack, body, { headers });
      assert.equal(res.status, 200);
    });
  } finally {
    await stack.close();
    await db.drop();
  }
});
