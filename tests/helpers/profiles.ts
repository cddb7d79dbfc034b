/**
 * Checks on the sync tables for reliability tests: a comparable snapshot (to prove a refused
 * request wrote nothing) and the users whose profile is not what their auth row says.
 * @module
 */
import type { Sql } from '../../shared/db.ts';

/** profiles and profile_sync.profile_state, every row and column, as one comparable value. */
export async function syncTables(sql: Sql): Promise<unknown> {
  const [{ snapshot }] = await sql`
    select jsonb_build_object(
      'profiles', coalesce((select jsonb_agg(p order by p.id) from public.profiles p), '[]'),
      'state', coalesce((select jsonb_agg(s order by s.user_id) from profile_sync.profile_state s), '[]')
    ) as snapshot`;
  return snapshot;
}

export type Mismatch = { id: string; problem: 'missing' | 'wrong' | 'orphaned' };

/**
 * Auth users without a correct profile, and profiles without an auth user. For test users whose
 * user metadata is a plain `full_name`, whose app role (if any) is in raw_app_meta_data.role, and
 * whose profile the app has not edited: the expectation is written out here, not taken from the core.
 */
export async function profileMismatches(sql: Sql): Promise<Mismatch[]> {
  const rows = await sql<Mismatch[]>`
    select u.id, case when p.id is null then 'missing' else 'wrong' end as problem
    from auth.users u
    left join public.profiles p on p.id = u.id
    where p.id is null
      or p.email is distinct from case when u.deleted_at is null then u.email end
      or p.full_name is distinct from case when u.deleted_at is null then u.raw_user_meta_data ->> 'full_name' end
      or p.role is distinct from coalesce(u.raw_app_meta_data ->> 'role', 'user')
      or p.deleted_at is distinct from u.deleted_at
    union all
    select p.id, 'orphaned' from public.profiles p
    where not exists (select 1 from auth.users u where u.id = p.id)
    order by 1`;
  return [...rows];
}
