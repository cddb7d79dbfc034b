/**
 * A bad mapping never sticks: a mapping migration that failed at `supabase db push` is profile-
 * sync's to replace. With a database (`init --db-url --force`, `generate --db-url`) one that is not
 * applied there is rewritten in place; without one (`generate`) it is emptied of its mapping and
 * the new one written after it. Either way the next push applies, and doctor names the failing
 * file by its name in the project and the command that fixes it.
 */
import assert from 'node:assert/strict';
import { scratchDatabase, scratchProject } from './project.ts';

const MAPPINGS = (names: string[]) => names.filter((m) => m.endsWith('_profile_sync_mapping.sql'));

/** The quickstart's profiles without an email column: the default mapping (which maps email) does not fit. */
const PROFILES_WITHOUT_EMAIL = `create table public.profiles (
  id uuid primary key references auth.users on delete cascade,
  updated_at timestamptz,
  full_name text,
  avatar_url text
);
alter table public.profiles enable row level security;
`;

Deno.test('init without a database writes a mapping the table cannot take; doctor names it; init --db-url --force rewrites it in place', async () => {
  const project = scratchProject({ '20240101000000_profiles.sql': PROFILES_WITHOUT_EMAIL });
  const db = await scratchDatabase('install_never_sticks');
  try {
    await project.push(db.url);
    const init = await project.cli(['init', '--yes']);
    assert.equal(init.code, 0, init.err);
    assert.match(init.out, /checked offline only/);
    const [failing] = MAPPINGS(project.migrations());
    await assert.rejects(project.push(db.url), /mapping\.columns\.email: column email does not exist in public\.profiles/);

    // doctor, run from the project folder, names the file there and what fixes it
    const doctor = await project.cli(['doctor', '--json'], { SUPABASE_DB_URL: db.url });
    const check = (JSON.parse(doctor.out).checks as { check: string; message: string; fix?: string }[])
      .find((c) => c.check === 'migrations')!;
    assert.ok(check.message.includes(`supabase/migrations/${failing}`), check.message);
    assert.doesNotMatch(check.message, /20261130000100/);
    assert.match(check.message, /apply_mapping refuses supabase\/profile-sync\.json: mapping\.columns\.email/);
    assert.match(check.fix!, /npx profile-sync generate --db-url "\$SUPABASE_DB_URL"` \(it rewrites supabase\/migrations\/\S+ in place\)/);

    const again = await project.cli(['init', '--yes', '--force', '--db-url', db.url]);
    assert.equal(again.code, 0, again.err);
    assert.match(again.out, new RegExp(`rewritten supabase/migrations/${failing}`));
    assert.deepEqual(MAPPINGS(project.migrations()), [failing], 'rewritten in place, not stacked behind');
    await project.push(db.url);
    const [{ table }] = await db.sql`select target_table as table from profile_sync.settings`;
    assert.equal(table, 'public.profiles');
  } finally {
    await db.drop();
    project.remove();
  }
});

Deno.test('a typo in the mapping, generate without a database, a failed push; fixed, generate again, and the push applies', async () => {
  const project = scratchProject({ '20240101000000_app.sql': 'create table public.todos (id bigint primary key);\n' });
  const db = await scratchDatabase('install_typo');
  try {
    assert.equal((await project.cli(['init', '--yes'])).code, 0);
    await project.push(db.url);
    const doc = JSON.parse(project.read('supabase/profile-sync.json'));
    const edit = (avatar: string) => {
      const columns = { ...doc.columns };
      delete columns.avatar_url;
      columns[avatar] = 'avatar_url';
      project.write('supabase/profile-sync.json', JSON.stringify({ ...doc, columns, user_editable: ['full_name'], clear_on_soft_delete: ['email', 'phone', 'full_name'] }, null, 2));
    };
    edit('avatar_ur1');
    const typo = await project.cli(['generate']);
    assert.equal(typo.code, 0, typo.err);
    assert.match(typo.out, /checked offline only \(its shape\): its columns, types and constraints were not checked/);
    const broken = MAPPINGS(project.migrations()).at(-1)!;
    await assert.rejects(project.push(db.url), /avatar_ur1/);

    edit('avatar_url');
    const fixed = await project.cli(['generate']);
    assert.equal(fixed.code, 0, fixed.err);
    assert.match(fixed.out, new RegExp(`superseded supabase/migrations/${broken}`));
    assert.doesNotMatch(project.read(`supabase/migrations/${broken}`), /apply_mapping/);
    await project.push(db.url);
    const [{ columns }] = await db.sql`select mapping -> 'columns' as columns from profile_sync.settings`;
    assert.ok('avatar_url' in columns && !('avatar_ur1' in columns));

    // with a database: a failing one is rewritten in place
    edit('avatar_ur1');
    assert.equal((await project.cli(['generate'])).code, 0);
    const second = MAPPINGS(project.migrations()).at(-1)!;
    await assert.rejects(project.push(db.url), /avatar_ur1/);
    edit('avatar_url');
    const count = MAPPINGS(project.migrations()).length;
    const inPlace = await project.cli(['generate', '--db-url', db.url]);
    assert.equal(inPlace.code, 0, inPlace.err);
    assert.match(inPlace.out, new RegExp(`${second} is not applied at --db-url yet: rewritten in place`));
    assert.equal(MAPPINGS(project.migrations()).length, count);
    await project.push(db.url);
  } finally {
    await db.drop();
    project.remove();
  }
});
