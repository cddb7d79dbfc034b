/**
 * `profile-sync init` (no database) in a project with its own history: the default mapping, the
 * functions and _shared under supabase/functions, their config.toml sections appended without
 * disturbing the file, migrations after the newest already there, and the lock file. Run twice,
 * it changes nothing; --dry-run lists and writes nothing.
 */
import assert from 'node:assert/strict';
import { DEFAULT_MAPPING_DOCUMENT, mappingMigrationSql } from '../../cli/mapping.ts';
import { CONFIG_TOML, scratchProject } from './project.ts';
import { SHAPE_C } from '../helpers/adoption_shapes.mjs';

const APP_MIGRATION = '20990101000000_create_user_profiles.sql';

Deno.test('init writes the functions, config sections, migrations after the newest and the default mapping', async () => {
  const project = scratchProject({ '20240101000000_init.sql': 'select 1;\n', [APP_MIGRATION]: SHAPE_C });
  try {
    const run = await project.cli(['init', '--yes']);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /next steps, in this order/);
    // secrets, Vault and the functions come before the push that replaces the pasted trigger
    const steps = run.out.slice(run.out.indexOf('next steps'));
    const at = (text: string) => steps.indexOf(text);
    assert.ok(at('PROFILE_SYNC_WEBHOOK_SECRET') > 0 && at('Vault secrets') > 0 && at('functions deploy') > 0);
    assert.ok(at('PROFILE_SYNC_WEBHOOK_SECRET') < at('db push') && at('Vault secrets') < at('db push') && at('functions deploy') < at('db push'));
    assert.ok(at('db push') < at('doctor --send-test'));

    assert.deepEqual(JSON.parse(project.read('supabase/profile-sync.json')), DEFAULT_MAPPING_DOCUMENT);
    for (const name of ['auth-webhook', 'sync-profile', 'reconcile']) {
      const index = project.read(`supabase/functions/${name}/index.ts`);
      assert.match(index, /from '\.\.\/_shared\/serve\.ts'/);
      assert.doesNotMatch(index + project.read(`supabase/functions/${name}/app.ts`), /\.\.\/\.\.\/shared\//);
      const imports = JSON.parse(project.read(`supabase/functions/${name}/deno.json`)).imports;
      assert.match(imports.hono, /^npm:hono@/);
      assert.equal(imports['fast-check'], undefined);
    }
    assert.ok(project.exists('supabase/functions/_shared/sync.ts'));
    assert.ok(!project.exists('supabase/functions/_shared/mapping.ts'), 'the mapping checks are the CLI\'s, not the edge\'s');

    const toml = project.read('supabase/config.toml');
    assert.ok(toml.startsWith(CONFIG_TOML), 'the existing config.toml is kept byte for byte');
    for (const name of ['auth-webhook', 'sync-profile', 'reconcile']) {
      assert.match(toml, new RegExp(`\\[functions\\.${name}\\]\\nenabled = true\\nverify_jwt = false\\nimport_map = "\\./functions/${name}/deno\\.json"`));
    }

    const migrations = project.migrations();
    assert.deepEqual(migrations.slice(0, 2), ['20240101000000_init.sql', APP_MIGRATION]);
    const ours = migrations.slice(2);
    assert.ok(ours.length >= 2);
    assert.ok(ours.every((m) => m > '20990101000000_'), `after the newest: ${ours}`);
    assert.equal(new Set(ours.map((m) => m.slice(0, 14))).size, ours.length, 'one version each');
    assert.match(ours.at(-1)!, /^\d{14}_profile_sync_mapping\.sql$/);
    assert.equal(project.read(`supabase/migrations/${ours.at(-1)}`), mappingMigrationSql(DEFAULT_MAPPING_DOCUMENT));

    const lock = JSON.parse(project.read('supabase/profile-sync.lock.json'));
    assert.equal(lock.mapping.file, `supabase/migrations/${ours.at(-1)}`);
    assert.deepEqual(Object.values(lock.core).map((c) => (c as { file: string }).file), ours.slice(0, -1).map((m) => `supabase/migrations/${m}`));
    assert.deepEqual(lock.config_functions, ['auth-webhook', 'sync-profile', 'reconcile']);
    assert.ok(lock.files['supabase/functions/_shared/db.ts']);
  } finally {
    project.remove();
  }
});

Deno.test('init twice changes nothing', async () => {
  const project = scratchProject({ [APP_MIGRATION]: SHAPE_C });
  try {
    assert.equal((await project.cli(['init', '--yes'])).code, 0);
    const before = project.tree();
    const again = await project.cli(['init', '--yes']);
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, /nothing to write: profile-sync is installed and up to date/);
    assert.deepEqual(project.tree(), before);
  } finally {
    project.remove();
  }
});

Deno.test('init --dry-run lists what it would write and writes nothing', async () => {
  const project = scratchProject({ [APP_MIGRATION]: SHAPE_C });
  try {
    const before = project.tree();
    const run = await project.cli(['init', '--dry-run']);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /would write \(dry run: nothing written\):/);
    assert.match(run.out, /new {6}supabase\/functions\/_shared\//);
    assert.match(run.out, /new {6}supabase\/migrations\/\d{14}_profile_sync_mapping\.sql/);
    assert.match(run.out, /updated {2}supabase\/config\.toml/);
    assert.deepEqual(project.tree(), before);
  } finally {
    project.remove();
  }
});

Deno.test('init keeps a function file the user already has, unless --force', async () => {
  const project = scratchProject();
  try {
    project.write('supabase/functions/sync-profile/index.ts', '// our own sync-profile\n');
    const run = await project.cli(['init', '--yes']);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /supabase\/functions\/sync-profile\/index\.ts: it exists and profile-sync did not write it/);
    assert.equal(project.read('supabase/functions/sync-profile/index.ts'), '// our own sync-profile\n');

    const forced = await project.cli(['init', '--yes', '--force']);
    assert.equal(forced.code, 0, forced.err);
    assert.match(forced.out, /replaced +supabase\/functions\/sync-profile\//);
    assert.match(project.read('supabase/functions/sync-profile/index.ts'), /serveFunction\('sync-profile'/);
  } finally {
    project.remove();
  }
});

Deno.test('on a terminal init asks first (no: nothing written), and --yes does not ask', async () => {
  const project = scratchProject();
  try {
    const before = project.tree();
    const no = await project.cli(['init'], {}, false);
    assert.equal(no.code, 1);
    assert.match(no.out, /will write:[\s\S]*nothing written/);
    assert.deepEqual(project.tree(), before);
    const yes = await project.cli(['init'], {}, true);
    assert.equal(yes.code, 0, yes.err);
    assert.ok(project.exists('supabase/profile-sync.json'));
    assert.match((await project.cli(['init', '--yes'], {}, false)).out, /nothing to write/);
  } finally {
    project.remove();
  }
});
