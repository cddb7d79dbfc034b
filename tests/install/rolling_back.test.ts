/**
 * docs/install.md "Rolling back", applied as written: a quickstart project adopts profile-sync,
 * users sign up under it, then the rollback migration is pushed. profile_sync is gone, the old
 * trigger fills the table again, and every profile row (app edits included) is still there.
 */
import assert from 'node:assert/strict';
import { SHAPE_A } from '../helpers/adoption_shapes.mjs';
import { insertAuthUser, provider } from '../helpers/users.ts';
import { scratchDatabase, scratchProject } from './project.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

/** The first ```sql block under "## Rolling back" in docs/install.md. */
function rollbackSql(): string {
  const doc = Deno.readTextFileSync(`${ROOT}docs/install.md`);
  const section = doc.slice(doc.indexOf('## Rolling back'));
  const match = /```sql\n([\s\S]*?)```/.exec(section);
  assert.ok(match, 'docs/install.md has a Rolling back section with an SQL block');
  return match[1];
}

Deno.test('rolling back as docs/install.md says: the old trigger restored, profile_sync dropped, every row kept', async () => {
  const project = scratchProject({ '20240101000000_create_profiles.sql': SHAPE_A });
  const db = await scratchDatabase('install_rollback');
  try {
    await project.push(db.url);
    const before = await insertAuthUser(db.sql, provider.google('Before Install'));
    assert.equal((await project.cli(['init', '--yes', '--db-url', db.url])).code, 0);
    await project.push(db.url);
    const during = await insertAuthUser(db.sql, provider.google('Under Profile Sync'));
    assert.equal((await project.cli(['sync', during], { SUPABASE_DB_URL: db.url })).code, 0);
    await db.sql`update public.profiles set website = 'https://example.com' where id = ${before}`;
    const rows = await db.sql`select * from public.profiles order by id`;
    assert.equal(rows.length, 2);

    project.write('supabase/migrations/20990101000000_remove_profile_sync.sql', rollbackSql());
    await project.push(db.url);

    const [{ schema }] = await db.sql`select to_regnamespace('profile_sync') as schema`;
    assert.equal(schema, null, 'profile_sync is dropped');
    const triggers = await db.sql`
      select t.tgname, p.proname from pg_trigger t join pg_proc p on p.oid = t.tgfoid
      where t.tgrelid = 'auth.users'::regclass and not t.tgisinternal order by 1`;
    assert.deepEqual(triggers.map((t) => [t.tgname, t.proname]), [['on_auth_user_created', 'handle_new_user']]);
    assert.deepEqual(await db.sql`select * from public.profiles where id in ${db.sql([before, during])} order by id`, rows, 'every row kept as it was');

    // the old trigger fills the table again
    const after = await insertAuthUser(db.sql, provider.google('After Rollback'));
    const [row] = await db.sql`select full_name from public.profiles where id = ${after}`;
    assert.equal(row?.full_name, 'After Rollback');
  } finally {
    await db.drop();
    project.remove();
  }
});
