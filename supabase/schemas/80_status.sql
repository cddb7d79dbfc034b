-- What status, the dry run and doctor read: drift counts with samples and the last run.

/*
 * profile_sync.reconcile_dry_run(per_class): what a reconcile would do, writing nothing (no run
 * row either): exact drift counts, up to per_class sample ids per class
 * ({"missing":[…],"stale":[…],"orphaned":[…]}), and the preservation report a team reads before
 * adopting its table: changes = per target column, the rows whose value would change
 * {"rows", "kept", "samples": [{user_id, from, to}] (up to per_class)}, and kept = the app-edited
 * values that stay although auth differs. Needs no lock. Callers: postgres, service_role.
 */
create or replace function profile_sync.reconcile_dry_run(per_class integer default 20)
returns table (missing bigint, stale bigint, orphaned bigint, samples jsonb, changes jsonb, kept bigint)
language plpgsql
volatile
security definer
set search_path = ''
set jit = off
set work_mem = '64MB'
as $$
declare
  counts record;
  scope record;
  stale_ids uuid[];
  buckets integer[];
  chunk_ids uuid[];
  chunk constant integer := 5000;
  i integer := 1;
  report jsonb;
  n_kept bigint;
begin
  perform profile_sync._ensure_compiled();  -- the table changed since the core was compiled?
  select * into counts from profile_sync.drift_counts(per_class);
  create temporary table if not exists profile_sync_preview (
    user_id uuid, column_name text, from_value jsonb, to_value jsonb, kept boolean
  ) on commit drop;
  truncate pg_temp.profile_sync_preview;
  if counts.stale > 0 then
    select * into scope from profile_sync.drift_scope();
    for buckets in select * from profile_sync._bucket_chunks(scope.buckets) loop
      execute pg_catalog.format('select array_agg(u.id order by u.id) from %s where %s',
        profile_sync.drift_from(buckets, 'users'), profile_sync.drift_is('stale'))
        using buckets into chunk_ids;
      stale_ids := coalesce(stale_ids || chunk_ids, stale_ids, chunk_ids);
    end loop;
    while i <= coalesce(pg_catalog.cardinality(stale_ids), 0) loop
      insert into pg_temp.profile_sync_preview select * from profile_sync.sync_preview(stale_ids[i:i + chunk - 1]);
      i := i + chunk;
    end loop;
  end if;
  select
    coalesce(pg_catalog.jsonb_object_agg(c.column_name, pg_catalog.jsonb_build_object(
      'rows', c.n_rows, 'kept', c.n_kept, 'samples', c.samples)), '{}'),
    coalesce(sum(c.n_kept), 0)::bigint
  into report, n_kept
  from (
    select v.column_name,
      count(*) filter (where v.from_value is distinct from v.to_value) as n_rows,
      count(*) filter (where v.kept) as n_kept,
      coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('user_id', v.user_id, 'from', v.from_value, 'to', v.to_value)
        order by v.user_id) filter (where v.from_value is distinct from v.to_value and v.rn <= per_class), '[]') as samples
    from (
      select p.*, pg_catalog.row_number() over (
        partition by p.column_name, p.from_value is distinct from p.to_value order by p.user_id) as rn
      from pg_temp.profile_sync_preview p
    ) v
    group by v.column_name
  ) c;
  drop table pg_temp.profile_sync_preview;
  return query select counts.missing, counts.stale, counts.orphaned, counts.samples, report, n_kept;
end
$$;

/*
 * profile_sync.reconcile_status(): the numbers behind GET /reconcile and `profile-sync status`:
 * counts, drift, synced_percent (auth users whose profile is present and current), the number of
 * recorded failures, and the last real run as JSON (a run still marked running whose lock is
 * free is shown as abandoned; dry runs write no run). Read only. Callers: postgres, service_role.
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
set jit = off
as $$
  select
    d.auth_users, d.profiles, d.missing, d.stale, d.orphaned,
    case when d.auth_users = 0 then 100
      else round(100.0 * (d.auth_users - d.missing - d.stale) / d.auth_users, 2) end,
    (select count(*) from profile_sync.failures),
    (select to_jsonb(r) || jsonb_build_object('status',
        case when r.status = 'running' and profile_sync.reconcile_lock_holder() is null then 'abandoned'
          else r.status end)
      from profile_sync.runs r where not r.dry_run order by r.id desc limit 1)
  from profile_sync.drift_counts(0) d
$$;
