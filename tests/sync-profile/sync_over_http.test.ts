/**
 * sync-profile over real HTTP on the local stack, called as a frontend does (supabase-js
 * `functions.invoke` with a dev-key access token): creates the profile on the first call,
 * writes nothing on the second, follows auth.users on the next.
 * @module
 */
import assert from 'node:assert/strict';
import { createClient } from '@supabase/supabase-js';
import { DEV_PUBLISHABLE_KEY, signDevAccessToken } from '../../local/dev-keys.ts';
import { freshDatabase } from '../helpers/db.ts';
import { startTestStack } from '../helpers/stack.ts';
import { insertAuthUser, provider, updateAuthUser } from '../helpers/users.ts';

Deno.test('sync-profile over HTTP: created, unchanged, then follows auth.users', async (t) => {
  const db = await freshDatabase('sp_http');
  const stack = await startTestStack(db.url);
  try {
    const id = await insertAuthUser(db.sql, {
      email: 'ada@example.com',
      ...provider.github('ada', 'Ada Lovelace'),
    });
    const token = await signDevAccessToken(stack.supabaseUrl, id);
    const supabase = createClient(stack.supabaseUrl, DEV_PUBLISHABLE_KEY, {
      accessToken: () => Promise.resolve(token),
    });
    const invoke = async () => {
      const { data, error } = await supabase.functions.invoke('sync-profile');
      assert.equal(error, null, `invoke failed: ${error}`);
      return data.profile as Record<string, unknown>;
    };
    const row = async () =>
      (await db
        .sql`select xmin::text as xmin, updated_at, email, full_name from public.profiles where id = ${id}`)[
          0
        ];

    let first: Awaited<ReturnType<typeof row>>;
    await t.step('first call creates the profile and returns it', async () => {
      assert.equal(await row(), undefined);
      const profile = await invoke();
      assert.deepEqual(
        [profile.id, profile.email, profile.full_name, profile.provider],
        [id, 'ada@example.com', 'Ada Lovelace', 'github'],
      );
      first = await row();
      assert.ok(first);
    });

    await t.step('second call writes nothing (same xmin and updated_at)', async () => {
      const profile = await invoke();
      const second = await row();
      assert.deepEqual([second.xmin, second.updated_at], [first.xmin, first.updated_at]);
      assert.equal(profile.updated_at, first.updated_at.toISOString());
    });

    await t.step('an email change in auth.users is reflected on the next call', async () => {
      await updateAuthUser(db.sql, id, { email: 'ada@lovelace.example' });
      const profile = await invoke();
      assert.equal(profile.email, 'ada@lovelace.example');
      const third = await row();
      assert.equal(third.email, 'ada@lovelace.example');
      assert.notEqual(third.xmin, first.xmin);
      assert.ok(third.updated_at > first.updated_at);
    });

    await t.step('each call was logged with its outcome, never with the token', () => {
      const synced = stack.logs.map((l) => JSON.parse(l)).filter((l) => l.msg === 'profile synced');
      // the second came within 10 s of the first, auth unchanged: answered from the row, no sync
      assert.deepEqual(synced.map((l) => l.outcome), ['created', 'served_from_row', 'updated']);
      assert.ok(!stack.logs.join('\n').includes(token.split('.')[2]));
    });
  } finally {
    await stack.close();
    await db.drop();
  }
});
