-- Status stays fast when many users changed at once:
-- 1. drift_scope reads table sizes from the live statistics as well as the planner's: after a
--    reconcile created every profile, reltuples still said 0 until autovacuum analyzed the table,
--    so status took the "most users differ" path and classified a project in sync row by row.
-- 2. Drift spread over the key space (e.g. thousands of signups the webhook missed) no longer
--    reads every table a second time for per-range checksums that would all differ anyway: when
--    the counts alone show that enough users differ to touch more ranges than are worth reading
--    one by one, drift_scope answers "everywhere" straight after the whole-table checksums
--    (100,000 users with 15,000 missing profiles: status 400 → 230-260 ms).
-- 3. A reconcile run that created or deleted many profiles analyzes public.profiles, so the
--    planner's estimates (for status, the next pass and the app's own queries) match it at once.

/*
 * profile_sync.estimated_rows(rel): rows in rel as Postgres estimates them without reading it:
 * the larger of the live statistics (n_live_tup, kept by every write; zero after a stats reset)
 * and the planner's reltuples (as of the last analyze). Internal.
 */
create or replace function profile_sync.estimated_rows(rel regclass)
returns bigint
language sql
stable
set search_path = ''
as $$
  select greatest(pg_catalog.pg_stat_get_live_tuples(rel), c.reltuples::bigint, 0)
  from pg_catalog.pg_class c
  where c.oid = rel
$$;

/*
 * profile_sync.drift_scope(): where drift can be: nowhere ('{}') when the whole-table checksums
 * match (drift_totals); else the id ranges whose checksums differ (drift_buckets), or null for
 * "everywhere" when so many users differ that reading ranges one by one would not pay (all
 * missing, most stale, or more users without a profile than ranges can absorb); and the numbers
 * of auth users and profiles. Read only. Callers: drift_counts, reconcile_begin.
 */
create or replace function profile_sync.drift_scope()
returns table (auth_users bigint, profiles bigint, buckets integer[])
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  -- about what classifying ranges row by row costs as much as one pass over a million users
  range_rows_limit constant bigint := 60000;
  ranges constant integer := 4096;
  n_users bigint;
  n_profiles bigint;
  totals record;
  differing integer[];
begin
  -- estimates are enough to tell "most users differ" (e.g. all missing); the live statistics
  -- follow every write, the planner's only the last analyze: the larger of the two
  n_users := profile_sync.estimated_rows('auth.users'::regclass);
  n_profiles := profile_sync.estimated_rows('public.profiles'::regclass);
  if abs(n_users - n_profiles) > range_rows_limit then
    select count(*) into n_users from auth.users;
    select count(*) into n_profiles from public.profiles;
    return query select n_users, n_profiles, null::integer[];
    return;
  end if;
  select * into totals from profile_sync.drift_totals();
  if totals.in_sync then
    return query select totals.auth_users, totals.profiles, '{}'::integer[];
    return;
  end if;
  -- At least |users - profiles| users differ, at random places in the key space: the ranges they
  -- are expected to touch, times the users per range, is what the range pass would leave to read.
  if ranges * (1 - power(1 - 1.0 / ranges, abs(totals.auth_users - totals.profiles)))
      * (totals.auth_users / ranges + 1) > range_rows_limit then
    return query select totals.auth_users, totals.profiles, null::integer[];
    return;
  end if;
  select coalesce(array_agg(b.bucket) filter (where not b.in_sync), '{}'), sum(b.auth_users), sum(b.profiles)
  into differing, n_users, n_profiles
  from profile_sync.drift_buckets() b;
  if cardinality(differing) * (n_users / ranges + 1) > range_rows_limit then
    differing := null;
  end if;
  return query select coalesce(n_users, 0), coalesce(n_profiles, 0), differing;
end
$$;


/*
 * profile_sync.reconcile_finish(run_id, status, error): ends a run as complete (the pass is done:
 * its queue is emptied), partial (time budget spent; the next run resumes from the cursor) or
 * failed, and releases the lock. A run that created or deleted more than a tenth of the profiles
 * (and at least 1,000) analyzes public.profiles first. Callers: postgres, service_role,
 * in the session that began the run.
 */
create or replace function profile_sync.reconcile_finish(run_id bigint, status text, error text default null)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  changed bigint;
begin
  if status is null or status not in ('complete', 'partial', 'failed') then
    raise exception 'status must be complete, partial or failed' using errcode = '22023';
  end if;
  update profile_sync.runs r set
    status = reconcile_finish.status,
    finished_at = now(),
    heartbeat_at = now(),
    error = left(reconcile_finish.error, 1000)
  where r.id = run_id and r.status = 'running'
  returning r.created + r.deleted into changed;
  if changed >= greatest(1000, profile_sync.estimated_rows('public.profiles'::regclass) / 10) then
    analyze public.profiles;
  end if;
  if status = 'complete' and profile_sync.reconcile_lock_holder() = pg_catalog.pg_backend_pid() then
    truncate profile_sync.reconcile_queue;
  end if;
  if profile_sync.reconcile_lock_holder() = pg_catalog.pg_backend_pid() then
    perform pg_catalog.pg_advisory_unlock(20261121, 400);
  end if;
end
$$;

revoke execute on all functions in schema profile_sync from public, anon, authenticated;
grant execute on function profile_sync.reconcile_finish(bigint, text, text) to service_role;
