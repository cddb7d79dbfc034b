/**
 * The app keeps working after adoption (#20.1): the quickstart Account page's own save — the SQL
 * PostgREST runs for `supabase.from('profiles').upsert({ id, username, website, avatar_url,
 * updated_at })`, as `authenticated` with the user's claims, avatar_url a Storage object path —
 * works before and after the mapping is applied; the app's grants and policies are kept; what
 * users may not write (the role, the key, auth-owned columns, another user's row) is refused per
 * column with a coded error, not by revoking table privileges.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import type { Sql } from '../../shared/db.ts';
import { coreDatabase } from '../helpers/db.ts';
import type { TestDb } from '../helpers/db.ts';
import { asRole } from '../helpers/rls.ts';
import { update, upsert } from '../helpers/postgrest.ts';
import { insertAuthUser, provider } from '../helpers/users.ts';
import { QUICKSTART_MAPPING, SHAPE_A, SHAPE_B } from '../helpers/adoption_shapes.mjs';

const ACCOUNT_TYPES = { id: 'uuid', username: 'text', website: 'text', avatar_url: 'text', updated_at: 'timestamptz' };

const ownerOf = (db: TestDb) => postgres(db.url, { max: 1, prepare: false, onnotice: () => {} }) as unknown as Sql;
const code = (expected: string, message?: RegExp) => (err: { code?: string; message: string }) => {
  assert.equal(err.code, expected, err.message);
  if (message) assert.match(err.message, message);
  return true;
};

Deno.test('the quickstart Account page saves its profile before and after adoption', async (t) => {
  const db = await coreDatabase('app_writes_a');
  const { sql } = db;
  const owner = ownerOf(db);
  try {
    await owner.unsafe(SHAPE_A);
    const me = await insertAuthUser(sql, provider.google('Ada'));
    const other = await insertAuthUser(sql, provider.github('bob'));
    const user = { role: 'authenticated', sub: me } as const;
    const save = (body: Record<string, unknown>) =>
      asRole(sql, user, async (tx) => {
        await upsert(tx, 'public.profiles', body, ACCOUNT_TYPES);
        const [row] = await tx`select username, website, avatar_url, updated_at from public.profiles where id = ${me}`;
        return row;
      });
    const account = { id: me, username: 'ada_l', website: 'https://ada.example', avatar_url: '0.8263.png', updated_at: new Date().toISOString() };

    await t.step('before adoption: the save works', async () => {
      const row = await save(account);
      assert.deepEqual([row.username, row.website, row.avatar_url], ['ada_l', 'https://ada.example', '0.8263.png']);
    });

    await owner`select profile_sync.apply_mapping(${owner.json(QUICKSTART_MAPPING as never)})`;

    await t.step('after adoption: the same save works, grants and policies as the app made them', async () => {
      const row = await save({ ...account, avatar_url: '0.4187.png' });
      assert.deepEqual([row.username, row.website, row.avatar_url], ['ada_l', 'https://ada.example', '0.4187.png']);
      const [g] = await sql`
        select has_table_privilege('authenticated', 'public.profiles', 'insert') as ins,
          has_table_privilege('authenticated', 'public.profiles', 'update') as upd,
          (select count(*)::int from pg_policies where schemaname = 'public' and tablename = 'profiles') as policies`;
      assert.deepEqual(g, { ins: true, upd: true, policies: 3 });
    });

    await t.step('a first save of a row that does not exist yet (an insert) works', async () => {
      await sql`delete from public.profiles where id = ${me}`;
      const row = await save(account);
      assert.equal(row.username, 'ada_l');
      await sql`insert into public.profiles (id) values (${me})`;  // the save above was rolled back
    });

    await t.step("another user's row is refused (42501), even where the app's policy is too wide", async () => {
      await owner`create policy "anyone may update" on public.profiles for update to authenticated using (true)`;
      await assert.rejects(save({ ...account, id: other }), code('42501', /a user may write only their own row of public\.profiles \(id = auth\.uid\(\)\)/));
      await assert.rejects(
        asRole(sql, user, (tx) => update(tx, 'public.profiles', { website: 'https://x.example' }, { website: 'text' }, 'id', other)),
        code('42501', /only their own row/));
      await assert.rejects(
        asRole(sql, user, (tx) => tx`update public.profiles set id = ${other} where id = ${me}`),
        code('42501', /only their own row/));
      await assert.rejects(asRole(sql, { role: 'anon' }, (tx) => upsert(tx, 'public.profiles', account, ACCOUNT_TYPES)), code('42501'));
    });
  } finally {
    await owner.end();
    await db.drop();
  }
});

Deno.test('public.users: the role and auth-owned columns are refused per column; the rest saves', async () => {
  const db = await coreDatabase('app_writes_b');
  const { sql } = db;
  const owner = ownerOf(db);
  try {
    await owner.unsafe(SHAPE_B);
    await owner`select profile_sync.apply_mapping(${owner.json({
      table: 'public.users', columns: { email: 'email', full_name: 'full_name', role: 'role' }, soft_delete: null,
      user_editable: ['full_name'], roles: { default: 'client', self_assignable: ['artist'] },
    } as never)})`;
    const me = await insertAuthUser(sql, provider.email({ full_name: 'Art', role: 'artist' }));
    await sql`select * from profile_sync.sync_isolated(${[me]}::uuid[], 'test')`;
    const user = { role: 'authenticated', sub: me } as const;
    const types = { id: 'uuid', full_name: 'text', role: 'text', email: 'text', updated_at: 'timestamptz' };
    const save = (body: Record<string, unknown>) =>
      asRole(sql, user, async (tx) => {
        await upsert(tx, 'public.users', body, types);
        return (await tx`select full_name, role, email from public.users where id = ${me}`)[0];
      });

    // the app's own columns and the user-editable ones: saved
    const row = await save({ id: me, full_name: 'Art Vandelay', updated_at: new Date().toISOString() });
    assert.deepEqual(row, { full_name: 'Art Vandelay', role: 'artist', email: `${me.slice(0, 8)}@example.com` });
    // the same role as it is: nothing written to it, nothing refused
    assert.equal((await save({ id: me, full_name: 'Art', role: 'artist' })).role, 'artist');
    // the role, an auth-owned column: refused, naming the column
    await assert.rejects(save({ id: me, full_name: 'Art', role: 'admin' }),
      code('42501', /^profile_sync: users may not write public\.users\.role \(it holds the role, which only the role policy and admins set\)$/));
    await assert.rejects(save({ id: me, email: 'me@evil.example' }), code('42501', /users may not write public\.users\.email \(it follows auth/));
    // an insert of a new row with a role: refused too (the row is deleted first; a new one is an insert)
    await sql`delete from public.users where id = ${me}`;
    await assert.rejects(save({ id: me, full_name: 'Art', role: 'admin' }), code('42501', /public\.users\.role/));
    assert.equal((await save({ id: me, full_name: 'Art' })).role, 'client', 'an insert leaves the role to its default');
    // the service role and profile-sync itself are not users
    await asRole(sql, { role: 'service_role' }, (tx) => tx`update public.users set role = 'admin' where id = ${me}`);
  } finally {
    await owner.end();
    await db.drop();
  }
});
