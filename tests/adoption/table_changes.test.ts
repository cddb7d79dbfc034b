/**
 * Table changes are noticed (#20.6): the sync core records the table definition it was compiled
 * for; a column added is returned by sync-profile without a manual recompile; a mapped column
 * renamed or dropped makes every sync fail with a coded error naming the mapping field and the
 * command, and profile_sync.table_changes() (doctor) names the field, the real table and the fix.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { signDevAccessToken } from '../../local/dev-keys.ts';
import type { Sql } from '../../shared/db.ts';
import { coreDatabase } from '../helpers/db.ts';
import { inProcess, SUPABASE_URL } from '../helpers/in_process.ts';
import { asRole } from '../helpers/rls.ts';
import { insertAuthUser, provider } from '../helpers/users.ts';

Deno.test('a table change is compiled in, or named with the mapping field to fix', async (t) => {
  const db = await coreDatabase('table_changes');
  const { sql } = db;
  const owner = postgres(db.url, { max: 1, prepare: false, onnotice: () => {} }) as unknown as Sql;
  const syncProfile = inProcess('sync-profile', db);
  const changes = async () => (await sql`select level, field, message, fix from profile_sync.table_changes()`).map((r) => ({ ...r }));
  try {
    await owner.unsafe(`create table public.user_profiles (
      id uuid primary key default gen_random_uuid(),
      user_id uuid unique references auth.users (id) on delete cascade,
      display_name text,
      plan text)`);
    await owner.unsafe('grant select, update on public.user_profiles to authenticated');
    await owner`select profile_sync.apply_mapping(${owner.json({
      table: 'public.user_profiles', key: 'user_id', columns: { display_name: 'full_name' }, soft_delete: null, user_editable: ['display_name'],
    } as never)})`;
    const me = await insertAuthUser(sql, provider.github('octocat', 'Octo Cat'));
    const signIn = async () => {
      const answer = await syncProfile.call({ headers: { authorization: `Bearer ${await signDevAccessToken(SUPABASE_URL, me)}` } });
      assert.equal(answer.status, 200, JSON.stringify(answer.json));
      return answer.json.profile as Record<string, unknown>;
    };
    const sync = () => sql`select outcome from profile_sync.sync_isolated(${[me]}::uuid[], 'test')`;
    assert.deepEqual(await changes(), []);
    assert.equal('bio' in await signIn(), false);

    await t.step('a catalog change that leaves the definition as it was compiles nothing', async () => {
      const decisions = async () => (await sql`select 'profile_sync.sync_decisions(uuid[])'::regprocedure::oid as oid`)[0].oid;
      const before = await decisions();
      await owner.unsafe('alter table public.user_profiles alter column plan set statistics 200');
      assert.deepEqual((await sync()).map((r) => r.outcome), ['unchanged']);
      assert.equal(await decisions(), before, 'not compiled again');
      assert.deepEqual(await changes(), []);
    });

    await t.step('a column added: doctor says so; sync-profile returns it without a recompile', async () => {
      await owner.unsafe('alter table public.user_profiles add column bio text');
      assert.deepEqual(await changes(), [{
        level: 'info', field: null, message: 'column bio was added to public.user_profiles since the sync core was compiled',
        fix: 'nothing: the next sync compiles it again (or: select profile_sync.recompile();)',
      }]);
      const profile = await signIn();
      assert.deepEqual([profile.display_name, profile.bio], ['Octo Cat', null]);
      assert.deepEqual(await changes(), []);
    });

    await t.step('a mapped column renamed: every sync fails naming the field and the command; doctor names the new name', async () => {
      await owner.unsafe('alter table public.user_profiles rename column display_name to name');
      await assert.rejects(sync(), (err: { code?: string; message: string; hint?: string }) => {
        assert.equal(err.code, '55000');
        assert.equal(err.message, 'profile_sync: public.user_profiles changed since the sync core was compiled for it, and the mapping no longer fits: ' +
          'mapping.columns.display_name: column display_name does not exist in public.user_profiles; ' +
          'fix it in supabase/profile-sync.json, then run npx profile-sync generate and supabase db push');
        return true;
      });
      assert.deepEqual(await changes(), [{
        level: 'error', field: 'mapping.columns.display_name',
        message: 'column display_name of public.user_profiles was renamed to name; mapping.columns.display_name still names display_name',
        fix: 'rename it to name in mapping.columns.display_name in supabase/profile-sync.json, then run `npx profile-sync generate` and `supabase db push`',
      }, {
        level: 'error', field: 'mapping.user_editable',
        message: 'column display_name of public.user_profiles was renamed to name; mapping.user_editable still names display_name',
        fix: 'rename it to name in mapping.user_editable in supabase/profile-sync.json, then run `npx profile-sync generate` and `supabase db push`',
      }]);
      // users' edits keep their rule under the new name
      await assert.rejects(asRole(sql, { role: 'authenticated', sub: me }, (tx) => tx`update public.user_profiles set name = ${'\u200b'} where user_id = ${me}`),
        (err: { code?: string; column_name?: string }) => err.code === '23514' && err.column_name === 'name');
    });

    await t.step('renamed back: syncs work again; a mapped column dropped is named too', async () => {
      await owner.unsafe('alter table public.user_profiles rename column name to display_name');
      assert.deepEqual((await sync()).map((r) => r.outcome), ['unchanged']);
      await owner.unsafe('alter table public.user_profiles drop column display_name');
      const [first] = await changes();
      assert.deepEqual(first, {
        level: 'error', field: 'mapping.columns.display_name',
        message: 'column display_name of public.user_profiles was dropped; mapping.columns.display_name still names it',
        fix: 'remove or change mapping.columns.display_name in supabase/profile-sync.json, then run `npx profile-sync generate` and `supabase db push`',
      });
      await assert.rejects(sync(), { code: '55000' });
    });
  } finally {
    await owner.end();
    await db.drop();
  }
});
