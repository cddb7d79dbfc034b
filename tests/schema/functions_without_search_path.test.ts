/**
 * Every function profile-sync installs has `search_path = ''`, except the SQL functions Postgres
 * inlines into their callers (a SET clause would forbid it) and the procedure that commits as it
 * goes (a SET clause forbids COMMIT). Those are exactly the ones
 * docs/operations.md lists for the Security Advisor's "Function Search Path Mutable", and each is
 * really inlined: its name is gone from the plan of a statement that calls it.
 */
import assert from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';

/** Each inlined function, and a statement that calls it as profile-sync's statements do. */
const INLINED: Record<string, string> = {
  avatar_url_from: 'select profile_sync.avatar_url_from(u.raw_user_meta_data) from auth.users u',
  clean_name: 'select profile_sync.clean_name(u.email) from auth.users u',
  clean_text: `select profile_sync.clean_text(u.raw_app_meta_data -> 'provider', 100) from auth.users u`,
  full_name_from: 'select profile_sync.full_name_from(u.raw_user_meta_data) from auth.users u',
  json_string: `select profile_sync.json_string(u.raw_user_meta_data -> 'name') from auth.users u`,
  key_range: 'select profile_sync.key_range(u.id) from auth.users u',
  reconcile_walked: 'select w.user_id from profile_sync.reconcile_walked(null, null, 10) w',
  sync_decisions: `select d.user_id from profile_sync.sync_decisions('{}'::uuid[]) d`,
};

/** Procedures that commit as they go: Postgres refuses COMMIT in a routine with a SET clause. */
const COMMITTING = ['drain_deliveries'];

/** The functions docs/operations.md names in its Security Advisor section. */
async function documented(): Promise<string[]> {
  const doc = await Deno.readTextFile(new URL('../../docs/operations.md', import.meta.url));
  const section = doc.split(/^## /m).find((s) => s.startsWith('What the Security Advisor says'));
  assert.ok(section, 'docs/operations.md has its Security Advisor section');
  const list = section.slice(0, section.indexOf('They have no'));
  return [...list.matchAll(/`(\w+)`/g)].map((m) => m[1]).filter((name) => name !== 'profile_sync').sort();
}

Deno.test('functions without search_path: exactly the inlined ones docs/operations.md lists', async () => {
  const db = await freshDatabase('search_path');
  try {
    const unset = await db.sql<{ schema: string; name: string; lang: string; definer: boolean }[]>`
      select n.nspname as schema, p.proname as name, l.lanname as lang, p.prosecdef as definer
      from pg_proc p
      join pg_namespace n on n.oid = p.pronamespace
      join pg_language l on l.oid = p.prolang
      where n.nspname in ('profile_sync', 'public')
        and not exists (select 1 from unnest(p.proconfig) c where c like 'search\\_path=%')
      order by 2`;
    const expected = [...Object.keys(INLINED), ...COMMITTING].sort();
    assert.deepEqual(unset.map((f) => `${f.schema}.${f.name}`), expected.map((f) => `profile_sync.${f}`));
    assert.deepEqual(await documented(), expected);
    for (const f of unset.filter((f) => f.name in INLINED)) assert.deepEqual([f.name, f.lang, f.definer], [f.name, 'sql', false], 'only plain SQL functions inline');

    for (const [name, statement] of Object.entries(INLINED)) {
      const plan = (await db.sql.unsafe(`explain (verbose) ${statement}`)).map((r) => r['QUERY PLAN']).join('\n');
      assert.ok(!plan.includes(`profile_sync.${name}(`), `${name} is not inlined:\n${plan}`);
    }
  } finally {
    await db.drop();
  }
});
