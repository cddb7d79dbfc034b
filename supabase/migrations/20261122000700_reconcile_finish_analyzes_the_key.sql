-- A large reconcile run analyzes only the key of public.profiles, not every column. What the
-- analyze is for (20261122000300) is the planner's view of the drift queries, which read
-- profiles by id only: the row count and the id's statistics. ANALYZE with a column list still
-- updates the table's row and page counts. The other columns' statistics are left to autovacuum,
-- as after any bulk write. 100,000 profiles: analyze 131-146 ms → 23-34 ms, about a twentieth of
-- a backfill's time (psql, this machine).

/*
 * profile_sync.reconcile_finish(run_id, status, error): ends a run as complete (the pass is done:
 * its queue is emptied), partial (time budget spent; the next run resumes from the cursor) or
 * failed, and releases the lock. A run that created or deleted more than a tenth of the profiles
 * (and at least 1,000) analyzes public.profiles' key first. Callers: postgres, service_role,
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
    analyze public.profiles (id);
  end if;
  if status = 'complete' and profile_sync.reconcile_lock_holder() = pg_catalog.pg_backend_pid() then
    truncate profile_sync.reconcile_queue;
  end if;
  if profile_sync.reconcile_lock_holder() = pg_catalog.pg_backend_pid() then
    perform pg_catalog.pg_advisory_unlock(20261121, 400);
  end if;
end
$$;

revoke execute on function profile_sync.reconcile_finish(bigint, text, text) from public, anon, authenticated;
grant execute on function profile_sync.reconcile_finish(bigint, text, text) to service_role;
