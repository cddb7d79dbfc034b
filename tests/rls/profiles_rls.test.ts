// RLS on public.profiles from every side: anon sees nothing; user A reads and edits only their own
// row and only full_name/avatar_url; never role, email or bookkeeping; service_role sees all.
import { deepStrictEqual as assertEquals, rejects } from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { asRole } from '../helpers/rls.ts';
import { insertAuthUser, provider } from '../helpers/users.ts';
import { syncUsers } from '../../shared/sync.ts';

const denied = { code: '42501' };

Deno.test('RLS on profiles from every side', async (t) => {
  const db = await freshDatabase('rls');
  try {
    const a = await insertAuthUser(db.sql, { email: 'a@example.com', ...provider.google('Alice') });
    const b = await insertAuthUser(db.sql, { email: 'b@example.com', ...provider.github('bob') });
    await syncUsers(db.sql, [a, b]);

    await t.step('anon reads nothing and writes nothing', async () => {
      await rejects(asRole(db.sql, { role: 'anon' }, (tx) => tx`select * from public.profiles`), denied);
      await rejects(asRole(db.sql, { role: 'anon' }, (tx) => tx`update public.profiles set full_name = 'x'`), denied);
    });

    await t.step('user A reads only their own row', async () => {
      const rows = await asRole(db.sql, { role: 'authenticated', sub: a }, (tx) => tx`select id, email from public.profiles`);
      assertEquals(rows.map((r) => r.id), [a]);
    });

    await t.step('user A edits their full_name and avatar_url', async () => {
      const rows = await asRole(db.sql, { role: 'authenticated', sub: a }, (tx) =>
        tx`update public.profiles set full_name = 'Al', avatar_url = 'https://img.example/al.png' where id = ${a} returning full_name`);
      assertEquals(rows.map((r) => r.full_name), ['Al']);
    });

    await t.step("user A cannot touch user B's row", async () => {
      const rows = await asRole(db.sql, { role: 'authenticated', sub: a }, (tx) =>
        tx`update public.profiles set full_name = 'pwned' where id = ${b} returning id`);
      assertEquals(rows.length, 0);
      const [bRow] = await db.sql`select full_name from public.profiles where id = ${b}`;
      assertEquals(bRow.full_name, 'bob');
    });

    await t.step('user A cannot change their own role, email or bookkeeping', async () => {
      for (const column of ['role', 'email', 'deleted_at', 'id', 'provider', 'updated_at']) {
        await rejects(
          asRole(db.sql, { role: 'authenticated', sub: a }, (tx) =>
            tx.unsafe(`update public.profiles set ${column} = ${column} where id = $1`, [a])),
          denied,
          column,
        );
      }
      await rejects(asRole(db.sql, { role: 'authenticated', sub: a }, (tx) => tx`delete from public.profiles where id = ${a}`), denied);
      await rejects(asRole(db.sql, { role: 'authenticated', sub: a }, (tx) =>
        tx`insert into public.profiles (id, role) values (${crypto.randomUUID()}, 'admin')`), denied);
      await rejects(asRole(db.sql, { role: 'authenticated', sub: a }, (tx) => tx`select * from profile_sync.profile_state`), denied);
      await rejects(asRole(db.sql, { role: 'authenticated', sub: a }, (tx) =>
        tx`select * from profile_sync.sync_users(array[${a}]::uuid[])`), denied);
    });

    await t.step('service_role reads and writes every row', async () => {
      const rows = await asRole(db.sql, { role: 'service_role' }, (tx) => tx`select id from public.profiles order by id`);
      assertEquals(rows.length, 2);
      const updated = await asRole(db.sql, { role: 'service_role' }, (tx) =>
        tx`update public.profiles set role = 'admin' where id = ${b} returning role`);
      assertEquals(updated.map((r) => r.role), ['admin']);
    });
  } finally {
    await db.drop();
  }
});
