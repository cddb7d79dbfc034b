/**
 * Typed wrapper over the SQL core `profile_sync.sync_users`: every path (webhook, sync-profile,
 * reconcile, CLI) syncs users through here, with the role policy from config.
 * @module
 */
import type { RolePolicy } from './config.ts';
import type { Sql } from './db.ts';
import { withDb } from './db.ts';
import type { Database } from './database.types.ts';

type SyncUsersFn = Database['profile_sync']['Functions']['sync_users'];
export type SyncRow = SyncUsersFn['Returns'][number];
export type Outcome = 'created' | 'updated' | 'unchanged' | 'deleted' | 'not_found';
export type SyncResult = { user_id: string; outcome: Outcome };

export const PROFILE_COLUMNS = [
  'id',
  'email',
  'phone',
  'full_name',
  'avatar_url',
  'role',
  'provider',
  'is_anonymous',
  'email_confirmed_at',
  'last_sign_in_at',
  'created_at',
  'updated_at',
  'deleted_at',
] as const;
export type Profile = Pick<Database['public']['Tables']['profiles']['Row'], (typeof PROFILE_COLUMNS)[number]>;

/** Syncs the given users; one result per distinct id, in id order. Idempotent, so retried once on a dropped connection. */
export async function syncUsers(sql: Sql, policy: RolePolicy, ids: readonly string[]): Promise<SyncResult[]> {
  if (ids.length === 0) return [];
  const args: SyncUsersFn['Args'] = {
    ids: [...ids],
    default_role: policy.defaultRole,
    self_assignable_roles: policy.selfAssignableRoles,
  };
  const rows = await withDb(() =>
    sql<SyncRow[]>`
      select user_id, outcome
      from profile_sync.sync_users(${args.ids}::uuid[], ${args.default_role!}, ${args
      .self_assignable_roles!}::text[])`, { idempotent: true });
  return rows.map((r) => ({ user_id: r.user_id, outcome: r.outcome as Outcome }));
}

/** Syncs one user. */
export async function syncUser(sql: Sql, policy: RolePolicy, id: string): Promise<SyncResult> {
  const [result] = await syncUsers(sql, policy, [id]);
  return result;
}

/** The public columns of one profile, or undefined. */
export async function getProfile(sql: Sql, id: string): Promise<Profile | undefined> {
  const [row] = await withDb(() =>
    sql<Profile[]>`select ${
      sql(PROFILE_COLUMNS as unknown as string[])
    } from public.profiles where id = ${id}`
  );
  return row;
}

/** Whether the auth user is banned right now (`banned_until` in the future). */
export async function isBanned(sql: Sql, id: string): Promise<boolean> {
  const [row] = await withDb(() =>
    sql<
      { banned: boolean }[]
    >`select coalesce(banned_until > now(), false) as banned from auth.users where id = ${id}`
  );
  return row?.banned ?? false;
}
