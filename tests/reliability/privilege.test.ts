// Privilege: no one gets a role, a row or an operation that is not theirs. `role: admin` in user
// metadata, at signup or later, through the real trigger → pg_net → webhook path; a signed-in user
// through RLS; a user's token at the admin endpoints; and an audit of the catalog that holds for
// every migration, present and future.
import assert from 'node:assert/strict';
import { DEV_PUBLISHABLE_KEY, signDevAccessToken } from '../../local/dev-keys.ts';
import { DEV_WEBHOOK_SECRET, setWebhookVault, webhookUrl } from '../auth-webhook/helpers.ts';
import { waitFor } from '../helpers/wait.ts';
import { freshDatabase } from '../helpers/db.ts';
import { syncTables } from '../helpers/profiles.ts';
import { asRole } from '../helpers/rls.ts';
import { startTestStack } from '../helpers/stack.ts';
import { insertAuthUser, updateAuthUser } from '../helpers/users.ts';

const denied = { code: '42501' };

Deno.test('role: admin in user metadata never reaches the profile, end to end through the webhook', async (t) => {
  const db = await freshDatabase('rel_priv_webhook');
  const stack = await startTestStack(db.url, {
    relay: true,
    env: { PROFILE_SYNC_SELF_ASSIGNABLE_ROLES: 'editor' },
  });
  // Waits until the webhook has delivered the user's current name, then returns the role.
  const roleOnceSynced = async (id: string, fullName: string) =>
    await waitFor(`profile of ${fullName}`, async () => {
      const [row] = await db.sql`select full_name, role from public.profiles where id = ${id}`;
      return row?.full_name === fullName ? row.role as string : undefined;
    });
  try {
    await setWebhookVault(db.sql, webhookUrl(stack), DEV_WEBHOOK_SECRET);

    await t.step('at signup: admin in any spelling or shape → the default role', async () => {
      const claims: unknown[] = [
        'admin',
        'ADMIN',
        ' admin ',
        'service_role',
        ['admin'],
        { role: 'admin' },
        'editor,admin',
      ];
      for (const [i, role] of claims.entries()) {
        const id = await insertAuthUser(db.sql, { user_metadata: { full_name: `mallory-${i}`, role } });
        assert.equal(await roleOnceSynced(id, `mallory-${i}`), 'user', JSON.stringify(role));
      }
    });

    const mallory = await insertAuthUser(db.sql, { user_metadata: { full_name: 'Mallory' } });
    const eve = await insertAuthUser(db.sql, { user_metadata: { full_name: 'Eve', role: 'editor' } });
    await t.step(
      'an allowlisted role is taken at signup (the path does grant what policy allows)',
      async () => {
        assert.equal(await roleOnceSynced(mallory, 'Mallory'), 'user');
        assert.equal(await roleOnceSynced(eve, 'Eve'), 'editor');
      },
    );

    await t.step(
      'via update: role admin, or even an allowlisted role, is never taken after signup',
      async () => {
        await updateAuthUser(db.sql, mallory, {
          raw_user_meta_data: { full_name: 'Mallory 2', role: 'admin' },
        });
        assert.equal(await roleOnceSynced(mallory, 'Mallory 2'), 'user');
        await updateAuthUser(db.sql, mallory, {
          raw_user_meta_data: { full_name: 'Mallory 3', role: 'editor' },
        });
        assert.equal(await roleOnceSynced(mallory, 'Mallory 3'), 'user');
        await updateAuthUser(db.sql, eve, { raw_user_meta_data: { full_name: 'Eve 2', role: 'admin' } });
        assert.equal(await roleOnceSynced(eve, 'Eve 2'), 'editor');
      },
    );

    await t.step('the server-controlled app metadata does grant admin, and takes it back', async () => {
      await updateAuthUser(db.sql, mallory, {
        raw_app_meta_data: { provider: 'email', role: 'admin' },
        raw_user_meta_data: { full_name: 'Mallory 4' },
      });
      assert.equal(await roleOnceSynced(mallory, 'Mallory 4'), 'admin');
      await updateAuthUser(db.sql, mallory, {
        raw_app_meta_data: { provider: 'email' },
        raw_user_meta_data: { full_name: 'Mallory 5', role: 'admin' },
      });
      assert.equal(await roleOnceSynced(mallory, 'Mallory 5'), 'user');
    });

    const [{ sent }] = await db.sql`select last_value::int as sent from net.http_request_queue_id_seq`;
    const answers = await waitFor('every delivery answered', async () => {
      const rows = await db.sql`select status_code from net._http_response`;
      return rows.length === sent ? rows.map((r) => r.status_code) : undefined;
    });
    assert.deepEqual(answers, Array(sent).fill(200), 'every delivery was answered 200');
  } finally {
    await stack.close();
    await db.drop();
  }
});

Deno.test('RLS: a user cannot raise their role, take an email or touch another row; the next sync changes nothing', async () => {
  const db = await freshDatabase('rel_priv_rls');
  try {
    const a = await insertAuthUser(db.sql, { email: 'a@example.com', user_metadata: { full_name: 'Alice' } });
    const b = await insertAuthUser(db.sql, { email: 'b@example.com', user_metadata: { full_name: 'Bob' } });
    await db.sql`select * from profile_sync.sync_users(${[a, b]}::uuid[])`;
    const before = await syncTables(db.sql);
    const asA = { role: 'authenticated', sub: a } as const;

    await assert.rejects(
      asRole(db.sql, asA, (tx) => tx`update public.profiles set role = 'admin' where id = ${a}`),
      denied,
    );
    await assert.rejects(
      asRole(db.sql, asA, (tx) => tx`update public.profiles set email = 'b@example.com' where id = ${a}`),
      denied,
    );
    // Claims cannot grant what the database role lacks: the GUC says service_role, the role is authenticated.
    await assert.rejects(
      db.sql.begin(async (tx) => {
        await tx`select set_config('request.jwt.claims', ${
          JSON.stringify({ sub: a, role: 'service_role' })
        }, true)`;
        await tx`set local role authenticated`;
        await tx`update public.profiles set role = 'admin' where id = ${a}`;
      }),
      denied,
    );
    const other = await asRole(
      db.sql,
      asA,
      (tx) => tx`update public.profiles set full_name = 'pwned' where id = ${b} returning id`,
    );
    assert.equal(other.length, 0);
    const seen = await asRole(db.sql, asA, (tx) => tx`select id from public.profiles`);
    assert.deepEqual(seen.map((r) => r.id), [a]);
    await assert.rejects(
      asRole(db.sql, { role: 'anon' }, (tx) => tx`select id from public.profiles`),
      denied,
    );
    assert.deepEqual(await syncTables(db.sql), before, 'a refused statement left a trace');

    // The refusals left no edit flag behind: the next sync changes nothing.
    const rows = await db.sql`select outcome from profile_sync.sync_users(${[a, b]}::uuid[])`;
    assert.deepEqual(rows.map((r) => r.outcome), ['unchanged', 'unchanged']);
    assert.deepEqual(await syncTables(db.sql), before);
  } finally {
    await db.drop();
  }
});

Deno.test('catalog audit: nothing in profile_sync or on profiles is open to anon or authenticated', async () => {
  const db = await freshDatabase('rel_priv_catalog');
  try {
    const executable = await db.sql`
      select p.oid::regprocedure::text as fn, r.rolname
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      cross join (values ('anon'), ('authenticated'), ('public')) as r (rolname)
      where n.nspname = 'profile_sync'
        and (case when r.rolname = 'public'
               then exists (select 1 from aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a where a.grantee = 0)
               else has_function_privilege(r.rolname, p.oid, 'execute') end)`;
    assert.deepEqual([...executable], [], 'profile_sync functions executable by anon/authenticated/public');

    const tables = await db.sql`
      select c.oid::regclass::text as rel, r.rolname, priv
      from pg_class c join pg_namespace n on n.oid = c.relnamespace
      cross join (values ('anon'), ('authenticated')) as r (rolname)
      cross join unnest(array['select', 'insert', 'update', 'delete', 'truncate', 'references', 'trigger']) as priv
      where n.nspname = 'profile_sync' and c.relkind in ('r', 'v', 'm', 'p')
        and has_table_privilege(r.rolname, c.oid, priv)`;
    assert.deepEqual([...tables], [], 'profile_sync tables open to anon/authenticated');
    const [{ usable }] = await db
      .sql`select has_schema_privilege('authenticated', 'profile_sync', 'usage') or has_schema_privilege('anon', 'profile_sync', 'usage') as usable`;
    assert.equal(usable, false);

    const columns = await db.sql`
      select r.rolname, priv, array_agg(a.attname::text order by a.attname) as cols
      from pg_attribute a
      cross join (values ('anon'), ('authenticated')) as r (rolname)
      cross join unnest(array['INSERT', 'UPDATE']) as priv
      where a.attrelid = 'public.profiles'::regclass and a.attnum > 0 and not a.attisdropped
        and has_column_privilege(r.rolname, a.attrelid, a.attnum, priv)
      group by 1, 2 order by 1, 2`;
    assert.deepEqual(columns.map((c) => [c.rolname, c.priv, c.cols]), [['authenticated', 'UPDATE', [
      'avatar_url',
      'full_name',
    ]]]);
    const [{ anonSelect, rls, forced }] = await db.sql`
      select has_table_privilege('anon', 'public.profiles', 'select') as "anonSelect",
             relrowsecurity as rls, relforcerowsecurity as forced
      from pg_class where oid = 'public.profiles'::regclass`;
    assert.deepEqual([anonSelect, rls], [false, true], `forced: ${forced}`);

    const definers = await db.sql`
      select p.oid::regprocedure::text as fn, p.proconfig
      from pg_proc p join pg_namespace n on n.oid = p.pronamespace
      where n.nspname in ('profile_sync', 'public') and p.prosecdef
        and not coalesce('search_path=""' = any (p.proconfig), false)`;
    assert.deepEqual([...definers], [], "security definer functions without search_path = ''");
  } finally {
    await db.drop();
  }
});

Deno.test("a user's token or the publishable key at the admin endpoints: refused, nothing written", async () => {
  const db = await freshDatabase('rel_priv_admin');
  const stack = await startTestStack(db.url);
  try {
    const user = await insertAuthUser(db.sql, { user_metadata: { full_name: 'Ursula' } });
    const other = await insertAuthUser(db.sql, { user_metadata: { full_name: 'Oscar' } });
    const token = await signDevAccessToken(stack.supabaseUrl, user, {
      app_metadata: { role: 'admin' },
      user_role: 'admin',
    });
    const before = await syncTables(db.sql);
    const runsBefore = await db.sql`select count(*)::int as n from profile_sync.runs`;
    const url = (name: string) => `${stack.url}/functions/v1/${name}`;
    const credentials: Record<string, Record<string, string>> = {
      'user token as Bearer': { authorization: `Bearer ${token}` },
      'user token as apikey': { apikey: token },
      'publishable key': { apikey: DEV_PUBLISHABLE_KEY },
      'publishable key and user token': { apikey: DEV_PUBLISHABLE_KEY, authorization: `Bearer ${token}` },
    };
    for (const [name, headers] of Object.entries(credentials)) {
      for (
        const [method, body] of [['POST', '{}'], ['POST', '{"dry_run":false,"batch_size":1}'], [
          'GET',
          undefined,
        ]] as const
      ) {
        const res = await fetch(url('reconcile'), {
          method,
          headers: { 'content-type': 'application/json', ...headers },
          body,
        });
        const json = await res.json();
        assert.ok([401, 403].includes(res.status), `reconcile ${method} with ${name}: ${res.status}`);
        assert.ok(
          ['missing_credentials', 'invalid_credentials', 'forbidden'].includes(json.error?.code),
          json.error?.code,
        );
      }
    }
    // Syncing another user with a token whose claims say admin: the claims grant nothing.
    const res = await fetch(url('sync-profile'), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ user_id: other }),
    });
    assert.deepEqual([res.status, (await res.json()).error?.code], [403, 'forbidden']);
    assert.deepEqual(await syncTables(db.sql), before);
    assert.deepEqual(await db.sql`select count(*)::int as n from profile_sync.runs`, runsBefore);
  } finally {
    await stack.close();
    await db.drop();
  }
});
