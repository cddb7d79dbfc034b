/**
 * Typed wrapper over the SQL core: every path (webhook, sync-profile, reconcile, CLI) syncs users
 * through `profile_sync.sync_isolated` (sync_users with failure isolation). The mapping and the
 * role policy are the database's (profile_sync.settings), so no caller can apply another.
 * @module
 */
import type { RolePolicy } from './config.ts';
import type { Sql } from './db.ts';
import { withDb } from './db.ts';

export type Outcome = 'created' | 'updated' | 'unchanged' | 'deleted' | 'not_found' | 'failed';
/** sync_profile's outcomes: a sync's, or a user's own call answered from the row (recent_syncs). */
export type ProfileOutcome = Outcome | 'served_from_row';
export type SyncResult = { user_id: string; outcome: Outcome };
/** A row of the target table as its user may read it (the mapping decides the columns). */
export type Profile = Record<string, unknown>;

/** The columns of the default target, public.profiles. */
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

/**
 * Syncs the given users; one result per distinct id, in id order. A user whose row the target
 * refuses gets outcome `failed` (recorded in profile_sync.failures); the others are synced.
 * Idempotent, so retried once on a dropped connection.
 */
export async function syncUsers(sql: Sql, ids: readonly string[], source = 'api'): Promise<SyncResult[]> {
  if (ids.length === 0) return [];
  const rows = await withDb(() =>
    sql<SyncResult[]>`
      select user_id, outcome from profile_sync.sync_isolated(${[...ids]}::uuid[], ${source})`, { idempotent: true });
  return rows.map((r) => ({ user_id: r.user_id, outcome: r.outcome as Outcome }));
}

/** Syncs one user. */
export async function syncUser(sql: Sql, id: string, source = 'api'): Promise<SyncResult> {
  const [result] = await syncUsers(sql, [id], source);
  return result;
}

export type ProfileSync = { outcome: ProfileOutcome | null; banned: boolean; profile: Profile | null };

/**
 * sync-profile in one call: refuses a banned user when the caller is that user (asUser), else
 * syncs and returns the row as the user may read it (null when gone, soft-deleted or refused).
 * A user's own call within 10 s of their last one, auth unchanged since, is answered from the row
 * (outcome served_from_row; docs/paths.md).
 */
export async function syncProfile(sql: Sql, id: string, asUser: boolean): Promise<ProfileSync> {
  const [row] = await withDb(() =>
    sql<ProfileSync[]>`select outcome, banned, profile from profile_sync.sync_profile(${id}, ${asUser})`,
    { idempotent: true });
  return row;
}

/** The row of one user as its user may read it, or undefined. */
export async function getProfile(sql: Sql, id: string): Promise<Profile | undefined> {
  const [row] = await withDb(() => sql<{ profile: Profile | null }[]>`select profile_sync.target_profile(${id}) as profile`);
  return row?.profile ?? undefined;
}

/** Stores the role policy in the database (profile_sync.settings), where every path reads it. */
export async function setRolePolicy(sql: Sql, policy: RolePolicy): Promise<void> {
  await sql`select profile_sync.set_role_policy(${policy.defaultRole}, ${policy.selfAssignableRoles}::text[])`;
}
