/**
 * Adopting the table a project already has (DESIGN "Your table, not ours"), for the shapes of
 * ../shared/reference/adoption-shapes.sql: each table is created with its pasted trigger and
 * existing users whose rows carry app edits; then a mapping is applied as a migration would,
 * the dry run reports what would change, reconcile adopts the rows, and signups, metadata
 * changes, app edits, roles, soft and hard deletes go through the real trigger (pg_net stand-in,
 * signed deliveries to auth-webhook), sync-profile and reconcile.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { DEV_SECRET_KEY, signDevAccessToken } from '../../local/dev-keys.ts';
import type { Sql } from '../../shared/db.ts';
import { coreDatabase } from '../helpers/db.ts';
import type { TestDb } from '../helpers/db.ts';
import { inProcess, SUPABASE_URL } from '../helpers/in_process.ts';
import { runCli } from '../cli/run.ts';
import { takeQueued } from '../helpers/sender.ts';
import { insertAuthUser, provider, updateAuthUser } from '../helpers/users.ts';
import { DEV_WEBHOOK_SECRET, setWebhookVault } from '../auth-webhook/helpers.ts';
import { MAPPING_C, SHAPE_A, SHAPE_B, SHAPE_C } from '../helpers/adoption_shapes.mjs';

const MAPPING_A = {
  table: 'public.profiles',
  key: 'id',
  columns: {
    full_name: { from: 'full_name', owner: 'app' },
    avatar_url: { from: 'avatar_url', owner: 'app' },
    username: { from: 'user_metadata.user_name', owner: 'app' },
    updated_at: 'updated_at',
  },
  soft_delete: null,
  user_editable: ['username', 'full_name', 'avatar_url', 'website'],
};

const MAPPING_B = {
  table: 'public.users',
  columns: { email: 'email', full_name: 'full_name', role: 'role' },
  soft_delete: null,
  user_editable: ['full_name'],
  roles: { default: 'client', self_assignable: ['artist', 'producer'] },
};


const applyMapping = (sql: Sql, mapping: unknown) =>
  sql`select profile_sync.apply_mapping(${sql.json(mapping as never)}) as m`;

/** The database's owner `postgres` (no superuser): who runs a project's migrations on hosted. */
const ownerOf = (db: TestDb) => postgres(db.url, { max: 1, prepare: false, onnotice: () => {} }) as unknown as Sql;

/** The three paths, in-process over the database, with the trigger's deliveries sent to auth-webhook. */
function paths(db: TestDb) {
  const webhook = inProcess('auth-webhook', db);
  const syncProfile = inProcess('sync-profile', db);
  const reconcile = inProcess('reconcile', db);
  return {
    /** Sends what the trigger queued (pg_net stand-in) to auth-webhook; returns the answers. */
    async deliver() {
      const answers = [];
      for (const q of await takeQueued(db.sql, 1000)) answers.push(await webhook.call({ body: q.body, headers: q.headers }));
      return answers;
    },
    signIn: async (id: string) => {
      const token = await signDevAccessToken(SUPABASE_URL, id);
      return await syncProfile.call({ headers: { authorization: `Bearer ${token}` } });
    },
    dryRun: () => reconcile.call({ headers: { apikey: DEV_SECRET_KEY }, body: { dry_run: true } }),
    reconcile: () => reconcile.call({ headers: { apikey: DEV_SECRET_KEY }, body: {} }),
    status: () => reconcile.call({ method: 'GET', headers: { apikey: DEV_SECRET_KEY } }),
  };
}

/**
 * A pasted trigger is out of the signup: dropped (hosted lets the owner drop triggers on auth
 * tables) or, where the owner may not (this stand-in: auth.users is Auth's), its function does
 * nothing any more.
 */
async function assertReplaced(sql: Sql, trigger: string): Promise<void> {
  const [row] = await sql`
    select p.prosrc from pg_trigger t join pg_proc p on p.oid = t.tgfoid
    where t.tgrelid = 'auth.users'::regclass and t.tgname = ${trigger}`;
  if (row) assert.match(row.prosrc, /^\s*begin if tg_op = 'DELETE' then return old; end if; return new; end\s*$/);
}

Deno.test('shape C: user_profiles keyed by user_id, flag soft delete, admin-managed role', async (t) => {
  const db = await coreDatabase('adopt_c');
  const { sql } = db;
  const owner = ownerOf(db);
  try {
    await owner.unsafe(SHAPE_C);
    const p = paths(db);
    // Before profile-sync: the pasted trigger (no search_path, not security definer) runs as Auth's
    // role, whose search_path is auth: every signup fails, as on hosted ("Database error saving
    // new user").
    await assert.rejects(insertAuthUser(sql, provider.email({})), /relation "user_profiles" does not exist/);
    // the users who signed up while it still worked, with the rows it wrote; an admin promoted one
    await sql`alter table auth.users disable trigger on_auth_user_created`;
    const edited = await insertAuthUser(sql, provider.google('Grace'));
    const plain = await insertAuthUser(sql, provider.github('octocat'));
    await sql`alter table auth.users enable trigger on_auth_user_created`;
    await sql`insert into public.user_profiles (user_id, role, is_active) values (${edited}, 'user', true), (${plain}, 'user', true)`;
    await sql`update public.user_profiles set role = 'moderator' where user_id = ${edited}`;
    const ownIds = await sql`select user_id, id from public.user_profiles order by user_id`;

    await t.step('applying the mapping replaces the pasted trigger and stores the mapping', async () => {
      await applyMapping(owner, MAPPING_C);
      const [s] = await sql`select target_table, target_key, replaced_triggers from profile_sync.settings`;
      assert.deepEqual([s.target_table, s.target_key], ['public.user_profiles', 'user_id']);
      assert.match(s.replaced_triggers[0], /^on_auth_user_created → public.create_user_profile\(\) \(/);
      await assertReplaced(sql, 'on_auth_user_created');
      // doctor shows the mapping, and a neutralised trigger left attached as something to drop
      const doctor = await runCli({ SUPABASE_DB_URL: db.url }, 'doctor', '--json');
      const line = (doctor.json.checks as { check: string; status: string; message: string; fix?: string }[])
        .find((c) => c.check === 'mapping')!;
      assert.match(line.message, /^public\.user_profiles keyed by user_id; auth: last_login, sso_provider, sso_user_id; app: role/);
      if (line.status === 'warn') {
        assert.match(line.fix!, /^drop trigger on_auth_user_created on auth\.users; — only the owner of auth\.users \(supabase_auth_admin\) or a superuser may run it/);
      }
    });

    await t.step('the dry run reports per column what would change and the app edit kept; writes nothing', async () => {
      await setWebhookVault(sql, 'http://127.0.0.1:1/functions/v1/auth-webhook', DEV_WEBHOOK_SECRET);
      const before = await sql`select * from public.user_profiles order by user_id`;
      const dry = await p.dryRun();
      assert.equal(dry.status, 200, JSON.stringify(dry.json));
      assert.deepEqual([dry.json.missing, dry.json.stale, dry.json.kept], [0, 2, 1]);
      const changes = dry.json.changes as Record<string, { rows: number; kept: number; samples: { user_id: string; from: unknown; to: unknown }[] }>;
      assert.equal(changes.sso_provider.rows, 2);
      assert.deepEqual(changes.sso_provider.samples.map((x) => x.to).sort(), ['github', 'google']);
      assert.deepEqual([changes.role.rows, changes.role.kept], [0, 1]);
      assert.equal(changes.is_active, undefined, 'active users stay active');
      assert.deepEqual(await sql`select * from public.user_profiles order by user_id`, before);
      assert.equal((await sql`select count(*)::int as n from profile_sync.runs`)[0].n, 0, 'a dry run writes no run');
    });

    await t.step('reconcile adopts every row in place: own ids kept, app edit kept, auth columns filled', async () => {
      const run = await p.reconcile();
      assert.equal(run.status, 200, JSON.stringify(run.json));
      assert.deepEqual([run.json.updated, run.json.failed, run.json.complete], [2, 0, true]);
      const rows = await sql`select user_id, id, role, sso_provider, sso_user_id, is_active from public.user_profiles order by user_id`;
      assert.deepEqual(rows.map((r) => [r.user_id, r.id]), ownIds.map((r) => [r.user_id, r.id]));
      const byUser = Object.fromEntries(rows.map((r) => [r.user_id, r]));
      assert.equal(byUser[edited].role, 'moderator');
      assert.equal(byUser[plain].role, 'user');
      assert.deepEqual([byUser[edited].sso_provider, byUser[edited].sso_user_id], ['google', '1122334455']);
      const status = await p.status();
      assert.deepEqual([status.json.missing, status.json.stale, status.json.orphaned, status.json.synced_percent], [0, 0, 0, 100]);
    });

    await t.step('signups through the trigger: email, Google, GitHub; a role in user metadata is not granted', async () => {
      const ids = [
        await insertAuthUser(sql, provider.email({ role: 'admin' })),
        await insertAuthUser(sql, provider.google('New Person')),
        await insertAuthUser(sql, provider.github('newbie')),
      ];
      const answers = await p.deliver();
      assert.deepEqual(answers.map((a) => [a.status, a.json.outcome]), [[200, 'created'], [200, 'created'], [200, 'created']]);
      const rows = await sql`select user_id, id, role, is_active, sso_provider from public.user_profiles where user_id = any (${ids}::uuid[])`;
      assert.equal(rows.length, 3);
      for (const r of rows) {
        assert.equal(r.role, 'user');
        assert.equal(r.is_active, true);
        assert.ok(r.id, 'the table\'s own primary key default applies');
      }
    });

    await t.step('an app edit survives later metadata and sign-in changes', async () => {
      await updateAuthUser(sql, edited, { raw_app_meta_data: { provider: 'google', providers: ['google'], role: 'staff' } });
      await updateAuthUser(sql, edited, { last_sign_in_at: new Date() });
      await p.deliver();
      const [r] = await sql`select role, last_login from public.user_profiles where user_id = ${edited}`;
      assert.equal(r.role, 'moderator');
      assert.ok(r.last_login, 'last_login follows last_sign_in_at');
      const [q] = await sql`select role from public.user_profiles where user_id = ${plain}`;
      assert.equal(q.role, 'user');
    });

    await t.step('sync-profile returns the row as the user may read it', async () => {
      const answer = await p.signIn(plain);
      assert.equal(answer.status, 200, JSON.stringify(answer.json));
      const profile = answer.json.profile as Record<string, unknown>;
      assert.equal(profile.user_id, plain);
    });

    await t.step('soft delete deactivates (flag and timestamp); hard delete removes the row', async () => {
      await updateAuthUser(sql, plain, { deleted_at: new Date() });
      const [answer] = await p.deliver();
      assert.equal(answer.json.outcome, 'deleted');
      const [r] = await sql`select is_active, deactivated_at from public.user_profiles where user_id = ${plain}`;
      assert.deepEqual([r.is_active, r.deactivated_at !== null], [false, true]);
      assert.equal((await p.signIn(plain)).status, 404);

      await sql`delete from auth.users where id = ${edited}`;
      await p.deliver();
      assert.equal((await sql`select count(*)::int as n from public.user_profiles where user_id = ${edited}`)[0].n, 0);
    });
  } finally {
    await owner.end();
    await db.drop();
  }
});

Deno.test('shape A: the quickstart profiles; a row the table refuses fails alone', async (t) => {
  const db = await coreDatabase('adopt_a');
  const { sql } = db;
  const owner = ownerOf(db);
  try {
    await owner.unsafe(SHAPE_A);
    const p = paths(db);
    const typed = await insertAuthUser(sql, provider.google('Auth Name'));
    await sql`update public.profiles set full_name = 'Typed By User', website = 'https://me.example' where id = ${typed}`;

    await t.step('applied: the trigger is replaced, the app keeps its RLS and grants; what users never need is revoked', async () => {
      await applyMapping(owner, MAPPING_A);
      await assertReplaced(sql, 'on_auth_user_created');
      const policies = await sql`select policyname from pg_policies where tablename = 'profiles' order by 1`;
      assert.equal(policies.length, 3, 'the app\'s own policies are kept');
      const [g] = await sql`
        select has_table_privilege('authenticated', 'public.profiles', 'insert') as ins,
          has_table_privilege('authenticated', 'public.profiles', 'delete') as del,
          has_column_privilege('authenticated', 'public.profiles', 'website', 'update') as website,
          has_table_privilege('anon', 'public.profiles', 'select') as public_read,
          has_table_privilege('authenticated', 'public.profiles', 'trigger, references, truncate') as never_needed,
          has_any_column_privilege('anon', 'public.profiles', 'references') as column_references`;
      assert.deepEqual(g, { ins: true, del: true, website: true, public_read: true, never_needed: false, column_references: false });
    });

    await t.step('reconcile keeps the typed name and the unmapped website', async () => {
      await setWebhookVault(sql, 'http://127.0.0.1:1/functions/v1/auth-webhook', DEV_WEBHOOK_SECRET);
      const run = await p.reconcile();
      assert.equal(run.json.failed, 0);
      const [r] = await sql`select full_name, website, avatar_url from public.profiles where id = ${typed}`;
      assert.deepEqual([r.full_name, r.website, r.avatar_url], ['Typed By User', 'https://me.example', 'https://lh3.googleusercontent.com/a/photo.jpg']);
    });

    await t.step('a username the table refuses (too short, taken) fails alone, is recorded with the constraint, signups go on', async () => {
      const good = await insertAuthUser(sql, provider.github('octocat'));
      const short = await insertAuthUser(sql, provider.github('ab'));
      const taken = await insertAuthUser(sql, provider.github('octocat'));
      const answers = await p.deliver();
      assert.deepEqual(answers.map((a) => [a.status, a.json.outcome]), [[200, 'created'], [200, 'failed'], [200, 'failed']]);
      const failures = await sql`select user_id, constraint_name, error_code from profile_sync.failures order by error_code`;
      assert.deepEqual(failures.map((f) => [f.user_id, f.constraint_name, f.error_code]), [
        [taken, 'profiles_username_key', '23505'],
        [short, 'username_length', '23514'],
      ]);
      assert.equal((await sql`select count(*)::int as n from auth.users where id in (${good}, ${short}, ${taken})`)[0].n, 3);
      // the refused users, in one batch with others: the batch syncs the rest
      const other = await insertAuthUser(sql, provider.email({ full_name: 'Other' }));
      await sql`delete from net.http_request_queue`;
      const rows = await sql`select user_id, outcome from profile_sync.sync_isolated(${[short, other, taken]}::uuid[], 'test') order by 1`;
      assert.deepEqual(Object.fromEntries(rows.map((r) => [r.user_id, r.outcome])), { [short]: 'failed', [other]: 'created', [taken]: 'failed' });
      // the user fixes it in auth; the next reconcile retries and succeeds
      await updateAuthUser(sql, short, { raw_user_meta_data: { user_name: 'abc' } });
      await sql`delete from net.http_request_queue`;
      await p.reconcile();
      assert.equal((await sql`select username from public.profiles where id = ${short}`)[0].username, 'abc');
      assert.deepEqual((await sql`select user_id from profile_sync.failures`).map((r) => r.user_id), [taken]);
      assert.equal((await p.signIn(taken)).status, 409);
      const cli = await runCli({ SUPABASE_DB_URL: db.url }, 'sync', taken, '--json');
      assert.equal(cli.code, 1);
      assert.deepEqual([cli.json.outcome, (cli.json.failure as { constraint_name: string }).constraint_name], ['failed', 'profiles_username_key']);
    });
  } finally {
    await owner.end();
    await db.drop();
  }
});

Deno.test('shape B: public.users with chosen roles; admin never comes from metadata', async () => {
  const db = await coreDatabase('adopt_b');
  const { sql } = db;
  const owner = ownerOf(db);
  try {
    await owner.unsafe(SHAPE_B);
    const p = paths(db);
    const escalated = await insertAuthUser(sql, provider.email({ role: 'admin', full_name: 'Mallory' }));
    await applyMapping(owner, MAPPING_B);
    await setWebhookVault(sql, 'http://127.0.0.1:1/functions/v1/auth-webhook', DEV_WEBHOOK_SECRET);
    const artist = await insertAuthUser(sql, provider.email({ role: 'artist', full_name: 'Art' }));
    const admin = await insertAuthUser(sql, provider.email({ role: 'admin', full_name: 'Eve' }));
    const none = await insertAuthUser(sql, provider.email({}));
    await p.deliver();
    const roles = Object.fromEntries((await sql`select id, role from public.users`).map((r) => [r.id, r.role]));
    assert.deepEqual([roles[artist], roles[admin], roles[none]], ['artist', 'client', 'client']);
    // the existing escalated row is the app's value: kept, and doctor/dry run show it
    const dry = await p.dryRun();
    assert.equal((dry.json.changes as Record<string, { kept: number }>).role.kept, 1);
    await p.reconcile();
    assert.equal((await sql`select role from public.users where id = ${escalated}`)[0].role, 'admin');
    // a later role in user metadata is never taken
    await updateAuthUser(sql, artist, { raw_user_meta_data: { role: 'producer', full_name: 'Art' } });
    await p.deliver();
    assert.equal((await sql`select role from public.users where id = ${artist}`)[0].role, 'artist');
  } finally {
    await owner.end();
    await db.drop();
  }
});

Deno.test('a table in another schema; bad mappings are refused naming the field, nothing changed', async (t) => {
  const db = await coreDatabase('adopt_bad');
  const { sql } = db;
  const owner = ownerOf(db);
  try {
    await owner.unsafe(`
      create schema app;
      create table app.members (
        member_id uuid primary key default gen_random_uuid(),
        auth_id uuid unique references auth.users (id) on delete cascade,
        display_name text,
        joined timestamptz,
        plan text not null,
        nickname text,
        no_key uuid
      );`);

    const refused = async (mapping: unknown, message: RegExp) => {
      await assert.rejects(applyMapping(owner, mapping), (err: { code?: string; message: string }) => {
        assert.equal(err.code, '22023');
        assert.match(err.message, message);
        return true;
      });
      assert.equal((await sql`select count(*)::int as n from profile_sync.settings`)[0].n, 0);
    };
    await t.step('bad mappings', async () => {
      const base = { table: 'app.members', key: 'auth_id', columns: { plan: { value: 'free' } }, soft_delete: null };
      await refused({ ...base, table: 'app.nope' }, /^mapping\.table: table app\.nope does not exist/);
      await refused({ ...base, columns: { ...base.columns, shoe_size: 'email' } }, /^mapping\.columns\.shoe_size: column shoe_size does not exist/);
      await refused({ ...base, columns: { ...base.columns, joined: 'email' } }, /^mapping\.columns\.joined\.from: email is text; the column is timestamp with time zone/);
      await refused({ ...base, key: 'no_key' }, /^mapping\.key: column no_key has no unique constraint/);
      await refused({ ...base, columns: {} }, /^mapping\.columns: plan is NOT NULL without a default/);
      await refused({ ...base, columns: { ...base.columns, nickname: 'role' }, user_editable: ['nickname'] }, /^mapping\.user_editable: nickname holds the role/);
      await refused({ ...base, columns: { ...base.columns, display_name: 'nope' } }, /^mapping\.columns\.display_name\.from: unknown source "nope"/);
      await refused({ ...base, colums: {} }, /^mapping\.colums: unknown field/);
      await owner.unsafe(`alter table app.members add column legacy_id text unique`);
      await refused({ ...base, key: 'legacy_id' }, /^mapping\.key: column legacy_id must be uuid .*alter table app\.members alter column legacy_id type uuid using legacy_id::uuid\)/);
      await refused({ ...base, key: 'member_id' }, /^mapping\.key: member_id does not reference auth\.users, but auth_id does \(and is unique\): set "key": "auth_id"/);
    });

    await t.step('a good mapping on app.members syncs', async () => {
      await applyMapping(owner, {
        table: 'app.members', key: 'auth_id', soft_delete: null,
        columns: { plan: { value: 'free' }, display_name: 'full_name', joined: 'created_at', nickname: { from: 'user_metadata.nickname', default: 'anon' } },
      });
      const id = await insertAuthUser(sql, provider.github('octo', 'Octo Cat'));
      const [r] = await sql`select outcome from profile_sync.sync_isolated(${[id]}::uuid[], 'test')`;
      assert.equal(r.outcome, 'created');
      const [m] = await sql`select display_name, plan, nickname, joined is not null as joined from app.members where auth_id = ${id}`;
      assert.deepEqual(m, { display_name: 'Octo Cat', plan: 'free', nickname: 'anon', joined: true });
      await sql`update app.members set plan = 'pro' where auth_id = ${id}`;
      await updateAuthUser(sql, id, { raw_user_meta_data: { full_name: 'Renamed', nickname: 'oc' } });
      await sql`select * from profile_sync.sync_isolated(${[id]}::uuid[], 'test')`;
      const [m2] = await sql`select display_name, plan, nickname from app.members where auth_id = ${id}`;
      assert.deepEqual(m2, { display_name: 'Renamed', plan: 'pro', nickname: 'oc' }, 'an insert-only constant is written once');
    });
  } finally {
    await owner.end();
    await db.drop();
  }
});

Deno.test('an enum role column takes only its own labels; a metadata value into an enum likewise', async () => {
  const db = await coreDatabase('adopt_enum');
  const { sql } = db;
  const owner = ownerOf(db);
  try {
    await owner.unsafe(`
      create type public.member_role as enum ('member', 'creator', 'staff');
      create type public.plan as enum ('free', 'pro');
      create table public.members (
        id uuid primary key references auth.users (id) on delete cascade,
        role public.member_role not null default 'member',
        plan public.plan
      );`);
    await applyMapping(owner, {
      table: 'public.members', soft_delete: null,
      columns: { role: 'role', plan: 'user_metadata.plan' },
      roles: { default: 'member', self_assignable: ['creator', 'admin'] },
    });
    const creator = await insertAuthUser(sql, provider.email({ role: 'creator', plan: 'pro' }));
    const admin = await insertAuthUser(sql, provider.email({ role: 'admin', plan: 'gold' }));
    const staff = await insertAuthUser(sql, { app_metadata: { provider: 'email', role: 'staff' } });
    const rows = await sql`select outcome from profile_sync.sync_isolated(${[creator, admin, staff]}::uuid[], 'test')`;
    assert.deepEqual(rows.map((r) => r.outcome), ['created', 'created', 'created']);
    const got = Object.fromEntries((await sql`select id, role::text, plan::text from public.members`).map((r) => [r.id, [r.role, r.plan]]));
    // 'admin' is self-assignable in the policy but no label of the enum: the column's default
    assert.deepEqual([got[creator], got[admin], got[staff]], [['creator', 'pro'], ['member', null], ['staff', null]]);
    await updateAuthUser(sql, admin, { raw_user_meta_data: { plan: 'pro' } });
    await sql`select * from profile_sync.sync_isolated(${[admin]}::uuid[], 'test')`;
    assert.equal((await sql`select plan::text from public.members where id = ${admin}`)[0].plan, 'pro');
  } finally {
    await owner.end();
    await db.drop();
  }
});
