/**
 * Upgrading a database that runs the row-trigger push (one signed webhook per row, before the
 * queue): the upgrade migration (the core restated, as `generate` writes it) replaces the
 * triggers in its own transaction. A signup in flight during the push commits through the old
 * trigger (its webhook is a single-record payload the new auth-webhook still takes); every
 * change after it is queued. The old trigger, which `postgres` may not drop on hosted Supabase
 * (not the owner of auth.users), is left firing on truncate only.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { freshDatabase } from '../helpers/db.ts';
import { asAuth, insertAuthUser } from '../helpers/users.ts';
import { waitFor } from '../helpers/wait.ts';

const CORE = new URL('../../supabase/migrations/20261130000000_profile_sync_core.sql', import.meta.url);

Deno.test('the upgrade migration moves a row-trigger install to the queue without losing a change', async () => {
  const db = await freshDatabase('dlv_upgrade');
  const owner = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    // the earlier install: row triggers calling a function that sends one request per row
    await db.sql`drop trigger profile_sync_auth_users_inserted on auth.users`;
    await db.sql`drop trigger profile_sync_auth_users_deleted on auth.users`;
    await db.sql`drop trigger profile_sync_auth_user_updated on auth.users`;
    await db.sql`alter function profile_sync.notify_auth_user_change() rename to notify_auth_user_change_now`;
    await db.sql.unsafe(`
      create function profile_sync.notify_auth_user_change() returns trigger language plpgsql security definer
      set search_path = '' as $$
      begin
        insert into net.http_request_queue (method, url, headers, body, timeout_milliseconds)
        values ('POST', 'http://old', '{}', convert_to(coalesce(new.id, old.id)::text, 'UTF8'), 5000);
        return null;
      end $$;
      alter function profile_sync.notify_auth_user_change() owner to postgres;
      create trigger profile_sync_auth_user_inserted_or_deleted after insert or delete on auth.users
        for each row execute function profile_sync.notify_auth_user_change();
      create trigger profile_sync_auth_user_updated after update on auth.users
        for each row when (old.email is distinct from new.email) execute function profile_sync.notify_auth_user_change();`);
    await db.sql`drop function profile_sync.notify_auth_user_change_now()`;

    // a signup in flight when the push starts: it holds auth.users until it commits
    const inFlight = crypto.randomUUID();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const signup = asAuth(db.sql, async (tx) => {
      await insertAuthUser(tx as never, { id: inFlight });
      await held;
    });
    await waitFor('the signup to hold its lock', async () =>
      (await db.sql`select 1 from pg_locks l join pg_class c on c.oid = l.relation where c.relname = 'users' and l.mode = 'RowExclusiveLock' and l.granted`).length > 0 ? true : undefined);
    const push = owner.unsafe(await Deno.readTextFile(CORE)); // the upgrade migration, as the owner
    await new Promise((r) => setTimeout(r, 300));
    release();
    await signup;
    await push;

    const sent = await db.sql`select convert_from(body, 'UTF8') as body from net.http_request_queue where url = 'http://old'`;
    assert.deepEqual(sent.map((r) => r.body), [inFlight], 'the in-flight signup went out through the old trigger');
    const after = await insertAuthUser(db.sql);
    const queued = await db.sql`select user_id from profile_sync.deliveries`;
    assert.deepEqual(queued.map((r) => r.user_id), [after], 'the next signup is queued');
    assert.equal((await db.sql`select count(*)::int as n from net.http_request_queue where url = 'http://old'`)[0].n, 1,
      'and sent no old webhook');

    const triggers = await db.sql`select tgname, pg_get_triggerdef(oid) as def from pg_trigger
      where tgrelid = 'auth.users'::regclass and tgname like 'profile_sync_%' order by 1`;
    const defs = Object.fromEntries(triggers.map((t) => [t.tgname, t.def]));
    assert.match(defs.profile_sync_auth_user_inserted_or_deleted, /AFTER TRUNCATE ON auth\.users FOR EACH STATEMENT/);
    assert.match(defs.profile_sync_auth_user_updated, /REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed_new FOR EACH STATEMENT/);
    assert.match(defs.profile_sync_auth_users_inserted, /FOR EACH STATEMENT/);
    assert.match(defs.profile_sync_auth_users_deleted, /FOR EACH STATEMENT/);
  } finally {
    await owner.end();
    await db.drop();
  }
});
