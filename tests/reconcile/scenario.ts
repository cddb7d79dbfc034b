/**
 * Drift scenarios for reconcile tests: auth users with all three drift classes made the way they
 * happen in the field (webhook lost, profile deleted by the app, profiles that predate the
 * project, auth rows deleted behind the cascade's back), and the expected counts.
 * @module
 */
import type { Sql } from '../../shared/db.ts';
import { insertAuthUsers, renameAuthUsers } from '../helpers/bulk.ts';

export type Scenario = {
  users: string[];
  missing: string[];
  stale: string[];
  orphaned: string[];
  expected: { missing: number; stale: number; orphaned: number };
};

/** Syncs ids through the core, as the webhook would have. */
export async function syncThroughCore(sql: Sql, ids: readonly string[]): Promise<void> {
  for (let i = 0; i < ids.length; i += 2000) {
    await sql`select count(*) from profile_sync.sync_users(${ids.slice(i, i + 2000) as string[]}::uuid[])`;
  }
}

/**
 * `total` auth users; the last `neverSynced` never got a profile (missing); of the synced ones,
 * `appDeleted` lost their profile (missing, with bookkeeping), `renamed` changed in auth after the
 * sync (stale), `preexisting` have a profile but no bookkeeping (stale), and `authDeleted` were
 * deleted from auth with the cascade off (orphaned).
 */
export async function driftScenario(sql: Sql, counts: {
  total: number;
  neverSynced: number;
  appDeleted: number;
  renamed: number;
  preexisting: number;
  authDeleted: number;
}): Promise<Scenario> {
  const users = await insertAuthUsers(sql, counts.total, 'drift');
  const synced = users.slice(0, counts.total - counts.neverSynced);
  await syncThroughCore(sql, synced);
  let at = 0;
  const take = (n: number) => synced.slice(at, (at += n));
  const appDeleted = take(counts.appDeleted);
  const renamed = take(counts.renamed);
  const preexisting = take(counts.preexisting);
  const authDeleted = take(counts.authDeleted);

  await sql`delete from public.profiles where id = any(${appDeleted}::uuid[])`;
  await renameAuthUsers(sql, renamed, 'renamed');
  await sql`delete from profile_sync.profile_state where user_id = any(${preexisting}::uuid[])`;
  await sql.begin(async (tx) => {
    // replica: no FK cascade and no webhook trigger, as when a restore or a tool skips them
    await tx`set local session_replication_role = replica`;
    await tx`delete from auth.users where id = any(${authDeleted}::uuid[])`;
  });

  const missing = [...users.slice(counts.total - counts.neverSynced), ...appDeleted].sort();
  const stale = [...renamed, ...preexisting].sort();
  const orphaned = [...authDeleted].sort();
  return {
    users: users.filter((id) => !authDeleted.includes(id)),
    missing,
    stale,
    orphaned,
    expected: { missing: missing.length, stale: stale.length, orphaned: orphaned.length },
  };
}

/** profile_sync.failures, every row (with tests/helpers/profiles.ts's syncTables: "nothing written"). */
export async function failuresTable(sql: Sql): Promise<unknown> {
  const [{ snapshot }] = await sql`
    select jsonb_build_object(
      'failures', coalesce((select jsonb_agg(f order by f.user_id) from profile_sync.failures f), '[]')
    ) as snapshot`;
  return snapshot;
}

