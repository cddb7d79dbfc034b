/**
 * A signed-in user calling sync-profile in a loop cannot make the database sync over and over: a
 * user's own call within 10 s of their last sync, with their auth.users row unchanged since, is
 * answered from the row (200 {"profile"}, header Profile-Sync-Served-From: row). An auth change,
 * a missing row or an admin call syncs as before. The window is in the database
 * (profile_sync.recent_syncs), so two instances of the function agree on it.
 */
import assert from 'node:assert/strict';
import { DEV_SECRET_KEY, signDevAccessToken } from '../../local/dev-keys.ts';
import { freshDatabase } from '../helpers/db.ts';
import { insertAuthUser, provider, updateAuthUser } from '../helpers/users.ts';
import { inProcessApp, SUPABASE_URL, userHeaders } from './helpers.ts';

Deno.test('sync-profile: a user\'s calls within the window are answered from the row', async (t) => {
  const db = await freshDatabase('sp_recent_sync');
  try {
    const id = await insertAuthUser(db.sql, provider.github('ada', 'Ada Lovelace'));
    const token = await signDevAccessToken(SUPABASE_URL, id);
    // two instances of the function, as two isolates would be
    const one = inProcessApp(db);
    const two = inProcessApp(db);
    const outcomes = () =>
      [...one.logs, ...two.logs].map((l) => JSON.parse(l)).filter((l) => l.msg === 'profile synced').map((l) => l.outcome);

    await t.step('200 calls at concurrency 8: at most the first wave syncs', async () => {
      let next = 0;
      const answers: { status: number; servedFrom: string | null; name: unknown }[] = [];
      await Promise.all(Array.from({ length: 8 }, async (_, worker) => {
        while (next < 200) {
          next++;
          const res = await (worker % 2 ? one : two).post(userHeaders(token));
          answers.push({ status: res.status, servedFrom: res.headers.get('profile-sync-served-from'), name: res.json.profile?.full_name });
        }
      }));
      assert.equal(answers.length, 200);
      assert.ok(answers.every((a) => a.status === 200 && a.name === 'Ada Lovelace'), JSON.stringify(answers.slice(0, 3)));
      const synced = outcomes().filter((o) => o !== 'served_from_row').length;
      assert.ok(synced <= 8, `${synced} of 200 calls synced`);
      assert.equal(answers.filter((a) => a.servedFrom === 'row').length, 200 - synced);
      assert.equal(answers.filter((a) => a.servedFrom === 'sync').length, synced);
    });

    await t.step('an auth change within the window syncs at once', async () => {
      await updateAuthUser(db.sql, id, { raw_user_meta_data: { full_name: 'Ada King' } });
      const res = await one.post(userHeaders(token));
      assert.deepEqual([res.status, res.json.profile?.full_name, res.headers.get('profile-sync-served-from')], [200, 'Ada King', 'sync']);
      const again = await two.post(userHeaders(token));
      assert.deepEqual([again.json.profile?.full_name, again.headers.get('profile-sync-served-from')], ['Ada King', 'row']);
    });

    await t.step('a missing row within the window is synced, not answered 404', async () => {
      await db.sql`delete from public.profiles where id = ${id}`;
      const res = await one.post(userHeaders(token));
      assert.deepEqual([res.status, res.headers.get('profile-sync-served-from')], [200, 'sync']);
    });

    await t.step('an admin call always syncs', async () => {
      const res = await one.post({ apikey: DEV_SECRET_KEY, 'content-type': 'application/json' }, JSON.stringify({ user_id: id }));
      assert.deepEqual([res.status, res.headers.get('profile-sync-served-from')], [200, 'sync']);
    });

    await t.step('after the window the next call syncs again', async () => {
      await db.sql`update profile_sync.recent_syncs set synced_at = now() - interval '11 seconds' where user_id = ${id}`;
      const res = await two.post(userHeaders(token));
      assert.deepEqual([res.status, res.headers.get('profile-sync-served-from')], [200, 'sync']);
    });

    await t.step('the header is readable from a browser', async () => {
      const res = await one.post(userHeaders(token));
      assert.match(res.headers.get('access-control-expose-headers') ?? '', /Profile-Sync-Served-From/i);
    });

    await t.step('deleting the auth user removes their window row', async () => {
      const [{ n: before }] = await db.sql`select count(*)::int as n from profile_sync.recent_syncs where user_id = ${id}`;
      assert.equal(before, 1);
      await db.sql`delete from auth.users where id = ${id}`;
      const [{ n }] = await db.sql`select count(*)::int as n from profile_sync.recent_syncs where user_id = ${id}`;
      assert.equal(n, 0);
    });
  } finally {
    await db.drop();
  }
});
