/**
 * `profile-sync generate` after a mapping edit or an upgrade: one new migration with exactly what
 * changed (nothing when nothing did), function files refreshed, a hand-edited one kept with a
 * message saying why. An upgrade is simulated by editing the lock file back to what an earlier
 * profile-sync version would have recorded.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mappingMigrationSql } from '../../cli/mapping.ts';
import { scratchProject } from './project.ts';
import type { Project } from './project.ts';

const LOCK = 'supabase/profile-sync.lock.json';
const sha = (text: string) => createHash('sha256').update(text).digest('hex');

async function installed(): Promise<Project> {
  const project = scratchProject({ '20240101000000_app.sql': 'select 1;\n' });
  const run = await project.cli(['init', '--yes']);
  assert.equal(run.code, 0, run.err);
  return project;
}

function editLock(project: Project, edit: (lock: { files: Record<string, string>; core: Record<string, unknown> }) => void) {
  const lock = JSON.parse(project.read(LOCK));
  edit(lock);
  project.write(LOCK, JSON.stringify(lock, null, 2) + '\n');
}

Deno.test('generate with nothing changed writes nothing', async () => {
  const project = await installed();
  try {
    const before = project.tree();
    const run = await project.cli(['generate']);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /nothing changed/);
    assert.deepEqual(project.tree(), before);
  } finally {
    project.remove();
  }
});

Deno.test('a function file edited by hand: init and generate keep it, say so, and write nothing else', async () => {
  const project = await installed();
  try {
    const path = 'supabase/functions/auth-webhook/index.ts';
    project.write(path, project.read(path) + '// logged differently here\n');
    const before = project.tree();
    for (const args of [['generate'], ['init', '--yes']]) {
      const run = await project.cli(args);
      assert.equal(run.code, 0, run.err);
      assert.match(run.out, /supabase\/functions\/auth-webhook\/index\.ts: you changed it since profile-sync wrote it, so it was kept/);
      assert.deepEqual(project.tree(), before, args.join(' '));
    }
  } finally {
    project.remove();
  }
});

Deno.test('an edited mapping: one mapping migration applying the normalised mapping, then nothing', async () => {
  const project = await installed();
  try {
    const doc = JSON.parse(project.read('supabase/profile-sync.json'));
    doc.roles.self_assignable = ['artist', 'producer'];
    doc.columns.nickname = { from: 'user_metadata.nickname', owner: 'app' };
    project.write('supabase/profile-sync.json', JSON.stringify(doc, null, 2));
    const before = project.migrations();
    const run = await project.cli(['generate']);
    assert.equal(run.code, 0, run.err);
    const added = project.migrations().filter((m) => !before.includes(m));
    assert.equal(added.length, 1);
    assert.match(added[0], /^\d{14}_profile_sync_mapping\.sql$/);
    assert.ok(added[0] > before.at(-1)!);
    assert.equal(project.read(`supabase/migrations/${added[0]}`), mappingMigrationSql(doc));
    assert.match(run.out, new RegExp(`new +supabase/migrations/${added[0]}`));

    const after = project.tree();
    assert.equal((await project.cli(['generate'])).code, 0);
    assert.deepEqual(project.tree(), after, 'a second generate writes nothing');
  } finally {
    project.remove();
  }
});

Deno.test('an upgrade refreshes function files, but a hand-edited one survives and generate says why', async () => {
  const project = await installed();
  try {
    const edited = 'supabase/functions/sync-profile/app.ts';
    const untouched = 'supabase/functions/reconcile/app.ts';
    const mine = project.read(edited) + '\n// our change\n';
    project.write(edited, mine);
    // as if an earlier profile-sync had written other versions of both files
    project.write(untouched, '// reconcile as an earlier version wrote it\n');
    editLock(project, (lock) => {
      lock.files[edited] = sha('// sync-profile as an earlier version wrote it\n');
      lock.files[untouched] = sha('// reconcile as an earlier version wrote it\n');
    });
    const run = await project.cli(['generate']);
    assert.equal(run.code, 0, run.err);
    assert.equal(project.read(edited), mine);
    assert.match(run.out, /supabase\/functions\/sync-profile\/app\.ts: you changed it since profile-sync wrote it, so it was not updated/);
    assert.match(project.read(untouched), /export function createApp/);
    assert.match(run.out, /updated +supabase\/functions\/reconcile\/ \(app\.ts\)/);
    assert.deepEqual(project.migrations().filter((m) => m.includes('profile_sync_upgrade')), []);
  } finally {
    project.remove();
  }
});

Deno.test('a new upstream core migration and a mapping edit together: one upgrade migration, core first', async () => {
  const project = await installed();
  try {
    const lock = JSON.parse(project.read(LOCK));
    const [last] = Object.keys(lock.core).slice(-1);
    editLock(project, (l) => delete l.core[last]);
    const doc = JSON.parse(project.read('supabase/profile-sync.json'));
    doc.roles.default = 'member';
    project.write('supabase/profile-sync.json', JSON.stringify(doc));
    const before = project.migrations();
    const run = await project.cli(['generate']);
    assert.equal(run.code, 0, run.err);
    const added = project.migrations().filter((m) => !before.includes(m));
    assert.equal(added.length, 1);
    assert.match(added[0], /_profile_sync_upgrade\.sql$/);
    const sql = project.read(`supabase/migrations/${added[0]}`);
    assert.ok(sql.startsWith(`-- profile-sync core migration ${last}\n`));
    assert.ok(sql.endsWith(mappingMigrationSql(doc)));
    const after = JSON.parse(project.read(LOCK));
    assert.equal(after.core[last].file, `supabase/migrations/${added[0]}`);
    assert.equal(after.mapping.file, `supabase/migrations/${added[0]}`);
  } finally {
    project.remove();
  }
});
