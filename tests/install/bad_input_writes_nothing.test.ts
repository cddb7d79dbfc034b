/**
 * Bad input to init and generate — no supabase/config.toml, an unreachable --db-url, a table that
 * does not exist, a mapping file with errors, a wrong flag — is exit 2 with a message saying what
 * to do, and nothing written.
 */
import assert from 'node:assert/strict';
import { coreDatabase } from '../helpers/db.ts';
import { scratchDatabase, scratchProject } from './project.ts';
import type { Project } from './project.ts';

async function refused(project: Project, args: string[], message: RegExp, env: Record<string, string> = {}) {
  const before = project.tree();
  const run = await project.cli(args, env);
  assert.equal(run.code, 2, `${args.join(' ')}: ${run.out}\n${run.err}`);
  assert.match(run.err, message);
  assert.deepEqual(project.tree(), before, `${args.join(' ')} wrote nothing`);
}

Deno.test('init and generate refuse a folder without supabase/config.toml', async () => {
  const project = scratchProject();
  try {
    Deno.removeSync(`${project.dir}/supabase/config.toml`);
    await refused(project, ['init', '--yes'], /no supabase\/config\.toml in .*: run this from your Supabase project's folder .*`npx supabase init`/);
    await refused(project, ['generate'], /no supabase\/config\.toml/);
  } finally {
    project.remove();
  }
});

Deno.test('init refuses an unreachable --db-url, a bad URL, --table without --db-url and unknown flags', async () => {
  const project = scratchProject();
  try {
    await refused(project, ['init', '--yes', '--db-url', 'postgresql://postgres@127.0.0.1:1/postgres'], /cannot reach the database at --db-url .*check the URL/);
    await refused(project, ['init', '--db-url', 'mysql://x'], /--db-url must be a postgres:\/\/ or postgresql:\/\/ URL/);
    await refused(project, ['init', '--table', 'public.user_profiles'], /--table .* needs --db-url/);
    await refused(project, ['init', '--tabel', 'x'], /unknown option: --tabel/);
    await refused(project, ['init', 'now'], /unexpected argument: now/);
  } finally {
    project.remove();
  }
});

Deno.test('init refuses a table that does not exist, and a database without auth.users', async () => {
  const project = scratchProject();
  const db = await scratchDatabase('install_missing_table');
  try {
    await refused(project, ['init', '--yes', '--db-url', db.url, '--table', 'public.nope'], /no table public\.nope at --db-url: check --table/);
    await db.sql`drop schema auth cascade`;
    await refused(project, ['init', '--yes', '--db-url', db.url], /has no auth\.users: point it at your Supabase project's database/);
  } finally {
    await db.drop();
    project.remove();
  }
});

Deno.test('a mapping file with errors: init and generate name the field and write nothing', async () => {
  const project = scratchProject();
  try {
    project.write('supabase/profile-sync.json', '{"table": "public.profiles",');
    await refused(project, ['init', '--yes'], /supabase\/profile-sync\.json is not valid JSON/);
    project.write('supabase/profile-sync.json', JSON.stringify({ columns: { role: 'role' }, user_editabl: ['role'] }));
    await refused(project, ['init', '--yes'], /\[mapping_invalid\] supabase\/profile-sync\.json has errors:\n {2}unknown field "user_editabl"/);

    project.write('supabase/profile-sync.json', JSON.stringify({ columns: { email: 'email' } }));
    assert.equal((await project.cli(['init', '--yes'])).code, 0);
    project.write('supabase/profile-sync.json', JSON.stringify({ columns: { email: 'emails' } }));
    await refused(project, ['generate'], /columns\.email: unknown source "emails"/);
    Deno.removeSync(`${project.dir}/supabase/profile-sync.json`);
    await refused(project, ['generate'], /supabase\/profile-sync\.json is missing/);
  } finally {
    project.remove();
  }
});

Deno.test('generate before init, or against an unreachable SUPABASE_DB_URL, is refused', async () => {
  const project = scratchProject();
  try {
    await refused(project, ['generate'], /profile-sync is not installed here .*run `npx profile-sync init` first/);
    assert.equal((await project.cli(['init', '--yes'])).code, 0);
    await refused(project, ['generate'], /cannot reach the database at SUPABASE_DB_URL/, {
      SUPABASE_DB_URL: 'postgresql://postgres@127.0.0.1:1/postgres',
    });
    await refused(project, ['generate', '--yes'], /unknown option: --yes/);
  } finally {
    project.remove();
  }
});

Deno.test('a mapping of public.profiles before it exists is checked against the table the migration creates', async () => {
  const project = scratchProject();
  const db = await coreDatabase('install_default_table');
  try {
    project.write('supabase/profile-sync.json', JSON.stringify({ columns: { email: 'email', nickname: 'user_metadata.nickname' } }));
    await refused(project, ['init', '--yes', '--db-url', db.url], /\[mapping_invalid\] supabase\/profile-sync\.json does not fit public\.profiles at --db-url \(apply_mapping, which `supabase db push` runs, refuses it\):\n {2}mapping\.columns\.nickname: /);
    project.write('supabase/profile-sync.json', JSON.stringify({ columns: { email: 'email' } }));
    const run = await project.cli(['init', '--yes', '--db-url', db.url]);
    assert.equal(run.code, 0, run.err);
    assert.match(run.out, /public\.profiles does not exist at --db-url yet: the mapping migration creates it/);
  } finally {
    await db.drop();
    project.remove();
  }
});
