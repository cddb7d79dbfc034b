/**
 * The test databases are shaped like a hosted project, so what passes here passes there: the
 * owner `postgres` is no superuser (the migrations were applied as it, the functions and the CLI
 * connect as it); auth.users has GoTrue's defaults, generated column and unique indexes (a
 * fixture that gave every user the same token would fail here, as a third of the suite once did
 * on GoTrue's real schema); pg_net's http_post is security invoker and open to PUBLIC; and the
 * fixtures write auth.users as supabase_auth_admin, the role GoTrue writes with.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { freshDatabase } from '../helpers/db.ts';
import { insertAuthUser } from '../helpers/users.ts';

Deno.test('test databases look like a hosted project', async (t) => {
  const db = await freshDatabase('hosted_shape');
  const owner = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    await t.step('the URL the functions get is postgres, not a superuser, owning the migrated objects', async () => {
      const [me] = await owner`
        select current_user as name, r.rolsuper, r.rolbypassrls, r.rolcreaterole,
          (select count(*)::int from supabase_migrations.schema_migrations) as migrations,
          pg_get_userbyid((select relowner from pg_class where oid = 'public.profiles'::regclass)) as profiles_owner,
          pg_get_userbyid((select relowner from pg_class where oid = 'auth.users'::regclass)) as users_owner
        from pg_roles r where r.rolname = current_user`;
      assert.deepEqual({ ...me, migrations: me.migrations > 0 }, {
        name: 'postgres', rolsuper: false, rolbypassrls: true, rolcreaterole: true, migrations: true,
        profiles_owner: 'postgres', users_owner: 'supabase_auth_admin',
      });
      await assert.rejects(owner`alter table auth.users add column x int`, /must be owner of table users/);
    });

    await t.step("auth.users rejects what GoTrue's indexes reject", async () => {
      const insert = (token: string, email: string) =>
        db.sql`insert into auth.users (id, email, confirmation_token) values (gen_random_uuid(), ${email}, ${token})`;
      await insert('', 'a1@example.com');
      await insert('', 'a2@example.com'); // no token: GoTrue's '' may repeat
      await insert('123456', 'a3@example.com');
      await insert('123456', 'a4@example.com'); // numeric OTPs may repeat too
      await insert('tok-x', 'a5@example.com');
      await assert.rejects(insert('tok-x', 'a6@example.com'), /confirmation_token_idx/);
      await assert.rejects(insert('', 'a1@example.com'), /users_email_partial_key/);
      const [row] = await db.sql`
        insert into auth.users (id, email_confirmed_at, phone_confirmed_at, phone)
        values (gen_random_uuid(), '2026-01-02', '2026-01-01', '15550000001')
        returning confirmed_at, phone_change, phone_change_token, email_change_token_current, reauthentication_token,
          email_change_confirm_status, is_sso_user, is_anonymous`;
      assert.deepEqual({ ...row, confirmed_at: row.confirmed_at.toISOString().slice(0, 10) }, {
        confirmed_at: '2026-01-01', phone_change: '', phone_change_token: '', email_change_token_current: '',
        reauthentication_token: '', email_change_confirm_status: 0, is_sso_user: false, is_anonymous: false,
      });
      await assert.rejects(
        db.sql`insert into auth.users (id, phone) values (gen_random_uuid(), '15550000001')`,
        /users_phone_key/,
      );
    });

    await t.step('pg_net: http_post security invoker, executable by PUBLIC', async () => {
      const [fn] = await db.sql`
        select p.prosecdef, has_function_privilege('anon', p.oid, 'execute') as anon_may_call
        from pg_proc p where p.oid = 'net.http_post(text, jsonb, jsonb, jsonb, integer)'::regprocedure`;
      assert.deepEqual({ ...fn }, { prosecdef: false, anon_may_call: true });
    });

    await t.step('fixtures write as supabase_auth_admin, and the triggers run for it', async () => {
      await db.sql`create table public.writers (role text)`;
      await db.sql`create function public.note_writer() returns trigger language plpgsql as
        $$ begin insert into public.writers values (current_user); return new; end $$`;
      await db.sql`grant insert on public.writers to supabase_auth_admin`;
      await db.sql`create trigger note_writer after insert on auth.users for each row execute function public.note_writer()`;
      const id = await insertAuthUser(db.sql);
      assert.deepEqual((await db.sql`select role from public.writers`).map((r) => r.role), ['supabase_auth_admin']);
      assert.equal((await db.sql`select 1 from auth.users where id = ${id}`).length, 1);
    });
  } finally {
    await owner.end();
    await db.drop();
  }
});
