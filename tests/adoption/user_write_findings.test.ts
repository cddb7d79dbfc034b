/**
 * What users never need goes, and doctor can name what is left (#24.6): an adopted table keeps no
 * TRUNCATE, TRIGGER or REFERENCES for anon/authenticated; profile_sync.user_write_findings()
 * names a leftover privilege, a write policy that does not check auth.uid(), a role-like column
 * outside the mapping that users may write, and, when the guard trigger is off, every grant that
 * lets a user write a protected column.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import type { Sql } from '../../shared/db.ts';
import { coreDatabase } from '../helpers/db.ts';
import { SHAPE_B } from '../helpers/adoption_shapes.mjs';

Deno.test('leftover privileges and unguarded writes are named for doctor', async (t) => {
  const db = await coreDatabase('write_findings');
  const { sql } = db;
  const owner = postgres(db.url, { max: 1, prepare: false, onnotice: () => {} }) as unknown as Sql;
  const findings = async () =>
    (await sql`select level, subject, message, fix from profile_sync.user_write_findings()`).map((r) => `${r.level}: ${r.subject}: ${r.message} => ${r.fix}`);
  try {
    await owner.unsafe(SHAPE_B);
    await owner.unsafe('grant all on public.users to anon, authenticated; grant references (email) on public.users to anon');
    await owner`select profile_sync.apply_mapping(${owner.json({
      table: 'public.users', columns: { email: 'email', full_name: 'full_name', role: 'role' }, soft_delete: null, user_editable: ['full_name'],
    } as never)})`;

    await t.step('adopted: the app keeps select/insert/update/delete; truncate, trigger and references are gone', async () => {
      const [g] = await sql`
        select has_table_privilege('authenticated', 'public.users', 'select, insert, update, delete') as kept,
          has_table_privilege('authenticated', 'public.users', 'truncate') or has_table_privilege('anon', 'public.users', 'truncate') as truncate,
          has_table_privilege('authenticated', 'public.users', 'trigger') or has_table_privilege('anon', 'public.users', 'trigger') as trigger,
          has_any_column_privilege('anon', 'public.users', 'references') or has_any_column_privilege('authenticated', 'public.users', 'references') as refs`;
      assert.deepEqual(g, { kept: true, truncate: false, trigger: false, refs: false });
      assert.deepEqual(await findings(), []);
    });

    await t.step('a leftover privilege, a policy without auth.uid() and an unmapped role column are named', async () => {
      await owner.unsafe(`grant trigger on public.users to anon;
        create policy "staff edit" on public.users for update to authenticated using (true);
        alter table public.users add column app_role text`);
      assert.deepEqual(await findings(), [
        'warn: grant trigger on public.users to anon: anon holds TRIGGER on public.users, which users never need => revoke trigger on table public.users from anon;',
        'warn: grant on public.users.app_role to anon: anon may write public.users.app_role, which is not in the mapping, so profile-sync does not guard it => map it ("app_role": "role") or revoke insert, update on table public.users from anon and grant only the columns users edit',
        'warn: grant on public.users.app_role to authenticated: authenticated may write public.users.app_role, which is not in the mapping, so profile-sync does not guard it => map it ("app_role": "role") or revoke insert, update on table public.users from authenticated and grant only the columns users edit',
        'warn: policy "staff edit" on public.users: policy "staff edit" lets users write rows of public.users without checking auth.uid() (the guard still refuses other users\' rows) => limit it to the user\'s own row: using ((select auth.uid()) = id)',
      ]);
    });

    await t.step('with the guard off, every grant that lets a user write the role or an auth-owned column is an error', async () => {
      await owner.unsafe('alter table public.users disable trigger profile_sync_user_writes');
      const errors = (await findings()).filter((f) => f.startsWith('error'));
      assert.deepEqual(errors, [
        'error: trigger profile_sync_user_writes on public.users: users\' writes to public.users are not guarded (the trigger is missing or disabled) => select profile_sync.recompile();',
        'error: grant on public.users.email to anon: anon may write public.users.email (it follows auth (auth-owned)) and nothing refuses it => select profile_sync.recompile();',
        'error: grant on public.users.role to anon: anon may write public.users.role (it holds the role, which only the role policy and admins set) and nothing refuses it => select profile_sync.recompile();',
        'error: grant on public.users.email to authenticated: authenticated may write public.users.email (it follows auth (auth-owned)) and nothing refuses it => select profile_sync.recompile();',
        'error: grant on public.users.role to authenticated: authenticated may write public.users.role (it holds the role, which only the role policy and admins set) and nothing refuses it => select profile_sync.recompile();',
      ]);
      await owner`select profile_sync.recompile()`;
      assert.equal((await findings()).filter((f) => f.startsWith('error')).length, 0, 'recompile puts the guard back');
    });
  } finally {
    await owner.end();
    await db.drop();
  }
});
