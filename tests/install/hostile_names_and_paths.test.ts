/**
 * init and generate against a hostile database or folder: names read from the database reach the
 * terminal escaped (no escape codes pass through); a symlink leaving the project folder is never
 * written through; a mapping holding `$mapping$`, quotes or backslashes is written as a quoted
 * literal that applies exactly; a refused mapping is a coded message and exit 2, never a stack trace.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { freshDatabase } from '../helpers/db.ts';
import { scratchDatabase, scratchProject } from './project.ts';

Deno.test('column names from the database are printed escaped: terminal escape codes never pass through', async () => {
  const project = scratchProject();
  const db = await scratchDatabase('install_escapes');
  try {
    const evil = '\x1b]0;PWNED\x07\x1b[2J';
    await db.sql.unsafe(`create table public.profiles (
      id uuid primary key references auth.users on delete cascade,
      ${'"' + evil + '"'} text not null,
      "adm\u202enimda" text)`);
    const run = await project.cli(['init', '--yes', '--dry-run', '--db-url', db.url]);
    assert.equal(run.code, 0, run.err);
    const all = run.out + run.err;
    assert.ok(!['\x1b', '\x07', '\u202e'].some((c) => all.includes(c)), 'no control or bidi character reaches the terminal');
    assert.ok(all.includes('\\x1b]0;PWNED\\x07\\x1b[2J'), all);
    assert.ok(all.includes('adm\\u202enimda'), all);
  } finally {
    await db.drop();
    project.remove();
  }
});

Deno.test('init refuses to write through a symlink that leaves the project folder, and writes nothing', async () => {
  const project = scratchProject();
  const outside = Deno.makeTempDirSync({ prefix: 'profile-sync-outside-' });
  try {
    Deno.symlinkSync(outside, `${project.dir}/supabase/migrations`);
    const run = await project.cli(['init', '--yes']);
    assert.equal(run.code, 2, run.out);
    assert.match(run.err, /^profile-sync init: \[unsafe_path\] supabase\/migrations\/\S+: supabase\/migrations is a symlink to .*outside the project folder/);
    assert.deepEqual([...Deno.readDirSync(outside)], [], 'nothing written outside');
    for (const path of ['supabase/profile-sync.json', 'supabase/profile-sync.lock.json', 'supabase/functions']) {
      assert.ok(!project.exists(path), `nothing written inside: ${path}`);
    }
    // a symlink that stays inside the project is fine
    Deno.removeSync(`${project.dir}/supabase/migrations`);
    Deno.mkdirSync(`${project.dir}/db/migrations`, { recursive: true });
    Deno.symlinkSync(`${project.dir}/db/migrations`, `${project.dir}/supabase/migrations`);
    assert.equal((await project.cli(['init', '--yes'])).code, 0);
  } finally {
    Deno.removeSync(outside, { recursive: true });
    project.remove();
  }
});

Deno.test('a mapping holding $mapping$, quotes and backslashes is applied exactly; a refused one is a coded message, exit 2', async () => {
  const project = scratchProject();
  const db = await freshDatabase('install_mapping_literal');
  try {
    assert.equal((await project.cli(['init', '--yes'])).code, 0);
    const doc = JSON.parse(project.read('supabase/profile-sync.json'));
    const hostile = "$mapping$'); drop table public.profiles; -- \\' $body$ \u00e9";
    doc.columns.provider = { value: hostile };
    project.write('supabase/profile-sync.json', JSON.stringify(doc, null, 2));
    const run = await project.cli(['generate']);
    assert.equal(run.code, 0, run.err);
    const file = project.migrations().filter((m) => m.endsWith('_profile_sync_mapping.sql')).at(-1)!;
    const sql = project.read(`supabase/migrations/${file}`);
    assert.doesNotMatch(sql, /\$mapping\$::|apply_mapping\(\$/, 'no dollar quotes');
    const owner = postgres(db.url, { max: 1, onnotice: () => {} });
    try {
      await owner.unsafe(sql);
    } finally {
      await owner.end();
    }
    const [{ value }] = await db.sql`select mapping #>> '{columns,provider,value}' as value from profile_sync.settings`;
    assert.equal(value, hostile);

    project.write('supabase/profile-sync.json', JSON.stringify({ ...doc, columns: { provider: { value: 1, from: 'email' } } }));
    const refused = await project.cli(['generate']);
    assert.equal(refused.code, 2);
    assert.match(refused.err, /^profile-sync generate: \[mapping_invalid\] /);
    assert.doesNotMatch(refused.err, /\n\s+at /, 'no stack trace');
  } finally {
    await db.drop();
    project.remove();
  }
});
