-- What status, the dry run and doctor read: drift counts with samples and the last run.

/*
 * profile_sync.reconcile_dry_run(per_class): exact drift counts and up to per_class sample ids
 * per class ({"missing":[…],"stale":[…],"orphaned":[…]}). Touches no profile, state or failure;
 * only the run log gets a row (dry_run = true). Needs no lock. Callers: postgres, service_role.
 */
create or replace function profile_sync.reconcile_dry_run(per_class integer default 20)
returns table (run_id bigint, missing bigint, stale bigint, orphaned bigint, samples jsonb)
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  counts record;
  new_id bigint;
begin
  select * into counts from profile_sync.drift_counts(per_class);
  insert into profile_sync.runs (dry_run, status, finished_at, scanned, missing, stale, orphaned)
  values (true, 'complete', now(), counts.auth_users + counts.orphaned, counts.missing, counts.stale, counts.orphaned)
  returning id into new_id;
  return query select new_id, counts.missing, counts.stale, counts.orphaned, counts.samples;
end
$$;

/*
 * profile_sync.reconcile_status(): the numbers behind GET /reconcile and `profile-sync status`:
 * counts, drift, synced_percent (auth users whose profile is present and current), the number of
 * recorded failures, and the last run as JSON (a run still marked running whose lock is free is
 * shown as abandoned). Read only. Callers: postgres, service_role.
 */
create or replace function profile_sync.reconcile_status()
returns table (
  auth_users bigint, profiles bigint, missing bigint, stale bigint, orphaned bigint,
  synced_percent numeric, failures bigint, last_run jsonb
)
language sql
stable
security definer
set search_path = ''
as $$
  select
    d.auth_users, d.profiles, d.missing, d.stale, d.orphaned,
    case when d.auth_users = 0 then 100
      else round(100.0 * (d.auth_users - d.missing - d.stale) / d.auth_users, 2) end,
    (select count(*) from profile_sync.failures),
    (select to_jsonb(r) || jsonb_build_object('status',
        case when r.status = 'running' and profile_sync.reconcile_lock_holder() is null then 'abandoned'
          else r.status end)
      from profile_sync.runs r order by r.id desc limit 1)
  from profile_sync.drift_counts(0) d
$$;
