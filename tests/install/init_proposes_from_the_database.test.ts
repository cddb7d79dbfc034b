/**
 * init --db-url proposes the mapping from the table the project already has (pushed from its own
 * migrations with the real Supabase CLI) and names the pasted trigger it replaces; a NOT NULL
 * column nothing can fill is named and no mapping migration is written until generate, once the
 * file is complete; generate with a database checks the mapping against the live table first.
 */
import assert from 'node:assert/strict';
import { normaliseMapping } from '../../cli/mapping.ts';
import { scratchDatabase, scratchProject } from './project.ts';
import { SHAPE_A, SHAPE_B, SHAPE_C } from '../helpers/adoption_shapes.mjs';
import { ORM_ACCOUNTS, QUICKSTART_PROPOSAL } from './shapes.ts';
import { insertAuthUser, provider } from '../helpers/users.ts';

Deno.test('init --db-url proposes a mapping for user_profiles and names the trigger it replaces', async () => {
  const project = scratchProject({ '20240101000000_create_user_profiles.sql': SHAPE_C });
  const db = await scratchDatabase('install_propose');
  try {
    await project.push(db.url);
    const run = await project.cli(['init', '--yes', '--db-url', db.url]);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /proposed a mapping for public\.user_profiles \(key user_id: user_id references auth\.users\(id\) and is unique\)/);
    assert.match(run.out, /replaces the trigger on_auth_user_created on auth\.users \(create_user_profile\(\)\), which writes public\.user_profiles/);
    const mapping = normaliseMapping(JSON.parse(project.read('supabase/profile-sync.json')));
    assert.equal(mapping.table, 'public.user_profiles');
    assert.equal(mapping.key, 'user_id');
    assert.deepEqual(mapping.soft_delete, { flag: 'is_active', active: true, at: 'deactivated_at' });
    assert.deepEqual(mapping.columns.last_login, { from: 'last_sign_in_at', owner: 'auth' });
    assert.deepEqual(mapping.columns.role, { from: 'role', owner: 'app' });
    assert.ok(project.migrations().some((m) => m.endsWith('_profile_sync_mapping.sql')));

    // the file that is there now is kept (unless --force), so a second init changes nothing
    const again = await project.cli(['init', '--yes', '--db-url', db.url]);
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, /nothing to write/);
  } finally {
    await db.drop();
    project.remove();
  }
});

Deno.test('a NOT NULL column without a source: init names it and writes no mapping migration; generate does once it is filled', async () => {
  const project = scratchProject({ '20240101000000_create_accounts.sql': ORM_ACCOUNTS });
  const db = await scratchDatabase('install_incomplete');
  try {
    await project.push(db.url);
    const run = await project.cli(['init', '--yes', '--db-url', db.url, '--table', 'public.accounts']);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /the mapping is not complete: tenant_id is NOT NULL in public\.accounts without a default/);
    assert.match(run.out, /No mapping migration was written/);
    assert.ok(!project.migrations().some((m) => m.endsWith('_profile_sync_mapping.sql')));
    assert.ok(project.exists('supabase/functions/_shared/sync.ts'), 'everything else is installed');

    // init again: the same message, nothing written
    const before = project.tree();
    const again = await project.cli(['init', '--yes']);
    assert.equal(again.code, 0);
    assert.match(again.out, /tenant_id/);
    assert.deepEqual(project.tree(), before);

    // generate refuses the incomplete file, and then a source that does not fit the live table
    const doc = JSON.parse(project.read('supabase/profile-sync.json'));
    assert.match((await project.cli(['generate'])).err, /columns\.tenant_id: needs a source/);
    doc.columns.tenant_id = { value: '00000000-0000-0000-0000-00000000000a' };
    doc.columns.nickname = 'user_metadata.nickname';
    project.write('supabase/profile-sync.json', JSON.stringify(doc, null, 2));
    const misfit = await project.cli(['generate', '--db-url', db.url]);
    assert.equal(misfit.code, 2);
    assert.match(misfit.err, /does not fit public\.accounts at --db-url \(apply_mapping, which `supabase db push` runs, refuses it\):\n {2}mapping\.columns\.nickname: column nickname does not exist in public\.accounts/);
    assert.deepEqual(project.tree(), { ...before, 'supabase/profile-sync.json': project.tree()['supabase/profile-sync.json'] });

    delete doc.columns.nickname;
    project.write('supabase/profile-sync.json', JSON.stringify(doc, null, 2));
    const fixed = await project.cli(['generate'], { SUPABASE_DB_URL: db.url });
    assert.equal(fixed.code, 0, fixed.err);
    assert.match(fixed.out, /checked against public\.accounts at SUPABASE_DB_URL by apply_mapping itself/);
    assert.equal(project.migrations().filter((m) => m.endsWith('_profile_sync_mapping.sql')).length, 1);
  } finally {
    await db.drop();
    project.remove();
  }
});

Deno.test("init --db-url on the quickstart's profiles: the mapping a team would write, and handle_new_user named", async () => {
  const project = scratchProject({ '20240101000000_create_profiles.sql': SHAPE_A });
  const db = await scratchDatabase('install_quickstart');
  try {
    await project.push(db.url);
    await db.sql.unsafe('create table public.audit_log (id bigint primary key, actor uuid references auth.users)');
    const run = await project.cli(['init', '--yes', '--db-url', db.url]);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /replaces the trigger on_auth_user_created on auth\.users \(handle_new_user\(\)\), which writes public\.profiles/);
    assert.deepEqual(JSON.parse(project.read('supabase/profile-sync.json')), QUICKSTART_PROPOSAL);

    // per column, why; username only suggested, updated_at the app's
    assert.match(run.out, /^ {2}full_name: full_name: the trigger it replaces \(handle_new_user\(\)\) set it$/m);
    assert.match(run.out, /^ {2}username: suggested, not mapped: it is unique .*CHECK username_length/m);
    assert.match(run.out, /^ {2}updated_at: app-owned/m);
    assert.match(run.out, /suggested, not mapped: username/);
    assert.doesNotMatch(project.read(project.migrations().find((m) => m.endsWith('_profile_sync_mapping.sql'))!.replace(/^/, 'supabase/migrations/')), /suggestions/);

    // pushed, the proposal syncs: signups with a short or a taken handle still get their row, as
    // under handle_new_user, and the app's own "last edited" time is not overwritten
    await project.push(db.url);
    const first = await insertAuthUser(db.sql, provider.github('octocat', 'The Octocat'));
    const taken = await insertAuthUser(db.sql, provider.github('octocat', 'Another Cat'));
    const short = await insertAuthUser(db.sql, provider.github('oc', 'Short'));
    const sync = async (id: string) => {
      const run = await project.cli(['sync', id, '--json'], { SUPABASE_DB_URL: db.url });
      assert.equal(run.code, 0, run.err);
    };
    for (const id of [first, taken, short]) await sync(id);
    await db.sql`update public.profiles set updated_at = '2020-01-01T00:00:00Z' where id = ${first}`;
    await sync(first);
    const rows = await db.sql`select id, username, full_name, updated_at from public.profiles where id in ${db.sql([first, taken, short])} order by full_name`;
    assert.deepEqual(rows.map((r) => [r.full_name, r.username]), [['Another Cat', null], ['Short', null], ['The Octocat', null]]);
    const edited = rows.find((r) => r.id === first)!;
    assert.equal((edited.updated_at as Date).toISOString(), '2020-01-01T00:00:00.000Z', 'the app\'s updated_at is kept');
  } finally {
    await db.drop();
    project.remove();
  }
});

Deno.test('init --db-url on public.users whose trigger copies the role from metadata: says so; the roles chosen are kept', async () => {
  const project = scratchProject({ '20240101000000_create_users.sql': SHAPE_B });
  const db = await scratchDatabase('install_users');
  try {
    await project.push(db.url);
    const run = await project.cli(['init', '--yes', '--db-url', db.url]);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /handle_new_user\(\) copies the role from user metadata .*"self_assignable"/);
    const doc = JSON.parse(project.read('supabase/profile-sync.json'));
    assert.deepEqual(doc.roles, { default: 'client', self_assignable: [] });
    doc.roles.self_assignable = ['artist', 'producer', 'client'];
    project.write('supabase/profile-sync.json', JSON.stringify(doc, null, 2));
    assert.equal((await project.cli(['generate', '--db-url', db.url])).code, 0);
    await project.push(db.url);

    const role = async (metadataRole: string) => {
      const id = await insertAuthUser(db.sql, { user_metadata: { role: metadataRole, full_name: 'Sam' } });
      assert.equal((await project.cli(['sync', id], { SUPABASE_DB_URL: db.url })).code, 0);
      return (await db.sql`select role from public.users where id = ${id}`)[0].role;
    };
    assert.equal(await role('artist'), 'artist');
    assert.equal(await role('admin'), 'client');
  } finally {
    await db.drop();
    project.remove();
  }
});

Deno.test('init --db-url finds a profile table in another schema, and names the other candidates', async () => {
  const project = scratchProject();
  const db = await scratchDatabase('install_other_schema');
  try {
    await db.sql.unsafe(`
      create schema app;
      create table app.members (id uuid primary key references auth.users on delete cascade, email text, display_name text);
      create table app.zz_notes (author uuid unique references auth.users, body text);
      -- as a migration run by the project's owner would leave them
      alter schema app owner to postgres;
      alter table app.members owner to postgres;
      alter table app.zz_notes owner to postgres`);
    const run = await project.cli(['init', '--yes', '--db-url', db.url]);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /proposed a mapping for app\.members \(key id: id references auth\.users\(id\) and is unique\)/);
    assert.match(run.out, /also found app\.zz_notes: pick another with --table/);
    const doc = JSON.parse(project.read('supabase/profile-sync.json'));
    assert.deepEqual([doc.table, doc.columns], ['app.members', { email: 'email', display_name: 'full_name' }]);
  } finally {
    await db.drop();
    project.remove();
  }
});
