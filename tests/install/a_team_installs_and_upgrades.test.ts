/**
 * What a team does, end to end: its project folder with its own migrations (user_profiles and the
 * pasted trigger), `profile-sync init --db-url`, the real `supabase db push`, signups through the
 * auth.users trigger reaching the auth-webhook init wrote (served with the _shared init wrote),
 * then an edited mapping, `generate` and a second push. Also a new project on the default mapping.
 */
import assert from 'node:assert/strict';
import { DEV_WEBHOOK_SECRET, setWebhookVault, webhookUrl } from '../auth-webhook/helpers.ts';
import { waitFor } from '../helpers/wait.ts';
import { startTestStack } from '../helpers/stack.ts';
import type { TestStack } from '../helpers/stack.ts';
import { insertAuthUser, provider, updateAuthUser } from '../helpers/users.ts';
import { scratchDatabase, scratchProject } from './project.ts';
import { SHAPE_C } from '../helpers/adoption_shapes.mjs';

type Row = Record<string, unknown>;

Deno.test('a team with user_profiles installs, pushes, signs users up, edits the mapping and pushes again', async (t) => {
  const project = scratchProject({ '20240101000000_create_user_profiles.sql': SHAPE_C });
  const db = await scratchDatabase('install_team');
  let stack: TestStack | undefined;
  const row = (id: string) => db.sql<Row[]>`select * from public.user_profiles where user_id = ${id}`.then((r) => r[0]);
  const synced = (id: string, check: (r: Row) => boolean = () => true) =>
    waitFor(`user_profiles row of ${id}`, async () => {
      const r = await row(id);
      return r && check(r) ? r : undefined;
    });
  try {
    await project.push(db.url);
    // The pasted trigger (no search_path) fails every signup under Auth's role, as on hosted; a user
    // from when it still worked, with the row it wrote, promoted by an admin:
    await assert.rejects(insertAuthUser(db.sql, provider.email({})), /relation "user_profiles" does not exist/);
    await db.sql`alter table auth.users disable trigger on_auth_user_created`;
    const veteran = await insertAuthUser(db.sql, provider.google('Ada'));
    await db.sql`alter table auth.users enable trigger on_auth_user_created`;
    await db.sql`insert into public.user_profiles (user_id, role, is_active) values (${veteran}, 'admin', true)`;

    await t.step('init --db-url and push', async () => {
      const init = await project.cli(['init', '--yes', '--db-url', db.url]);
      assert.equal(init.code, 0, init.err);
      await project.push(db.url);
      const [{ replaced }] = await db.sql`select replaced_triggers as replaced from profile_sync.settings`;
      assert.match(replaced[0], /^on_auth_user_created → public\.create_user_profile\(\)/, 'the pasted trigger was replaced');
      stack = await startTestStack(db.url, { relay: true, functions: await project.functions() });
      await setWebhookVault(db.sql, webhookUrl(stack), DEV_WEBHOOK_SECRET);
    });

    await t.step('signups reach user_profiles through the trigger and the installed auth-webhook', async () => {
      const id = await insertAuthUser(db.sql, { ...provider.google('Grace'), last_sign_in_at: new Date('2026-01-02T03:04:05Z') });
      const r = await synced(id, (r) => r.sso_provider === 'google');
      assert.equal(r.role, 'user');
      assert.equal(r.is_active, true);
      assert.equal((r.last_login as Date).toISOString(), '2026-01-02T03:04:05.000Z');

      const artist = await insertAuthUser(db.sql, { user_metadata: { role: 'artist' } });
      assert.equal((await synced(artist, (r) => r.last_login === null)).role, 'user', 'roles never come from user metadata');
      assert.equal((await row(veteran)).role, 'admin', "the admin's edit is kept");
    });

    await t.step('an edited mapping, generate, and a second push', async () => {
      const doc = JSON.parse(project.read('supabase/profile-sync.json'));
      doc.roles.self_assignable = ['artist'];
      project.write('supabase/profile-sync.json', JSON.stringify(doc, null, 2));
      const generate = await project.cli(['generate', '--db-url', db.url]);
      assert.equal(generate.code, 0, generate.err);
      assert.match(generate.out, /new +supabase\/migrations\/\d{14}_profile_sync_mapping\.sql/);
      await project.push(db.url);
      const artist = await insertAuthUser(db.sql, { user_metadata: { role: 'artist' } });
      assert.equal((await synced(artist)).role, 'artist');
    });

    await t.step("doctor finds profile-sync's migrations applied under the project's own timestamps", async () => {
      const doctor = await project.cli(['doctor', '--json'], { SUPABASE_DB_URL: db.url });
      const checks = JSON.parse(doctor.out).checks as { check: string; status: string; message: string }[];
      const migrations = checks.find((c) => c.check === 'migrations')!;
      assert.equal(migrations.status, 'ok', migrations.message);
    });

    await t.step('soft delete deactivates the row', async () => {
      const id = await insertAuthUser(db.sql, provider.google('Temp'));
      await synced(id);
      await updateAuthUser(db.sql, id, { deleted_at: new Date() });
      const r = await synced(id, (r) => r.is_active === false);
      assert.ok(r.deactivated_at instanceof Date);
    });
  } finally {
    await stack?.close();
    await db.drop();
    project.remove();
  }
});

Deno.test('a new project on the default mapping: init without a database, push, and public.profiles fills', async () => {
  const project = scratchProject({ '20240101000000_app.sql': 'create table public.todos (id bigint primary key);\n' });
  const db = await scratchDatabase('install_default');
  let stack: TestStack | undefined;
  try {
    assert.equal((await project.cli(['init', '--yes'])).code, 0);
    await project.push(db.url);
    stack = await startTestStack(db.url, { relay: true, functions: await project.functions() });
    await setWebhookVault(db.sql, webhookUrl(stack), DEV_WEBHOOK_SECRET);
    const id = await insertAuthUser(db.sql, provider.google('Grace Hopper'));
    const profile = await waitFor('profile', () => db.sql<Row[]>`select * from public.profiles where id = ${id}`.then((r) => r[0]));
    assert.equal(profile.full_name, 'Grace Hopper');
    assert.equal(profile.role, 'user');
    // pushing again applies nothing new, and generate has nothing to write
    assert.match(await project.push(db.url), /up to date/i);
    assert.match((await project.cli(['generate', '--db-url', db.url])).out, /nothing changed/);
  } finally {
    await stack?.close();
    await db.drop();
    project.remove();
  }
});
