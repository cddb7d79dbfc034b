-- Reconcile on several connections. reconcile_batch takes a page of the queue, syncs it and
-- advances the run in one call, so one connection does everything in turn. These two functions
-- split it: the connection holding the reconcile lock hands out pages (reconcile_page) and
-- records them in key order once synced (reconcile_advance), while other connections sync them
-- (reconcile_sync, the same per-user failure isolation as before). The cursor only moves past a
-- page once it and every page before it are synced, so a run killed mid-way resumes where
-- nothing is lost (pages synced but not yet recorded are synced again: unchanged).
-- reconcile_batch stays as it was, for callers that walk on one connection.

/*
 * profile_sync.reconcile_page(run_id, after_id, batch_size): the next ids of the run's queue after
 * after_id (after the run's cursor when null), in key order, classed as the pass found them,
 * without syncing them: at most batch_size, ending at the end of a key range (the unit
 * sync_users locks) unless one range holds more than batch_size. ids leaves out users that
 * already failed in this run. done: nothing is queued after this page. Callers:
 * postgres, service_role, holding the reconcile lock (see reconcile_begin).
 */
create or replace function profile_sync.reconcile_page(
  run_id bigint,
  after_id uuid,
  batch_size integer default 2000
)
returns table (
  ids uuid[], last_id uuid, scanned integer, missing integer, stale integer, orphaned integer, orphans uuid[],
  done boolean
)
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  run profile_sync.runs%rowtype;
  start_after uuid;
begin
  if batch_size is null or batch_size < 1 or batch_size > 10000 then
    raise exception 'batch_size must be between 1 and 10000' using errcode = '22023';
  end if;
  run := profile_sync.reconcile_running_run(run_id);
  start_after := coalesce(after_id, run.cursor);
  return query
  with ahead as (
    -- one id more than a page, to see whether the page would end inside a key range
    select q.user_id as id, q.drift,
      pg_catalog.row_number() over (order by q.user_id) as n,
      -- the key range sync_users locks for this id (20261122000500)
      pg_catalog.get_byte(pg_catalog.uuid_send(q.user_id), 0) * 4
        + pg_catalog.get_byte(pg_catalog.uuid_send(q.user_id), 1) / 64 as key_range
    from profile_sync.reconcile_queue q
    where start_after is null or q.user_id > start_after
    order by q.user_id
    limit batch_size + 1
  ),
  split as (
    select (select a.key_range from ahead a where a.n = batch_size + 1) as next_range,
      bool_and(a.key_range = (select a2.key_range from ahead a2 where a2.n = batch_size + 1)) as one_range
    from ahead a
    where a.n <= batch_size
  ),
  page as (
    -- a page ends where a key range ends, so the next page (synced on another connection at the
    -- same time) never waits for this one's lock; unless one range alone fills the page
    select a.id, a.drift from ahead a, split sp
    where a.n <= batch_size
      and (sp.next_range is null or sp.one_range or a.key_range <> sp.next_range)
  ),
  classified as (
    select pg.id, pg.drift, f.user_id is not null as failed_in_run
    from page pg
    left join profile_sync.failures f on f.user_id = pg.id and f.last_seen >= run.started_at
  )
  select
    array_agg(c.id order by c.id) filter (where not c.failed_in_run),
    (array_agg(c.id order by c.id desc))[1],
    count(*)::integer,
    count(*) filter (where c.drift = 'missing')::integer,
    count(*) filter (where c.drift = 'stale')::integer,
    count(*) filter (where c.drift = 'orphaned')::integer,
    array_agg(c.id) filter (where c.drift = 'orphaned'),
    not exists (select 1 from ahead a where a.n = batch_size + 1)
  from classified c;
end
$$;

/*
 * profile_sync.reconcile_advance(run_id, page_last, page_size, drift, orphans, outcomes): records
 * a synced page: the run's cursor moves to page_last and its counts grow by the page's drift
 * (missing, stale, orphaned) and the outcomes reconcile_sync returned for it (created, updated,
 * deleted, unchanged, failed); bookkeeping left by users deleted behind the cascade's back
 * (orphans gone from auth) is removed. Pages must be recorded in key order. Callers: postgres,
 * service_role, holding the reconcile lock.
 */
create or replace function profile_sync.reconcile_advance(
  run_id bigint,
  page_last uuid,
  page_size integer,
  drift integer[],
  orphans uuid[],
  outcomes integer[]
)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  if pg_catalog.cardinality(drift) <> 3 or pg_catalog.cardinality(outcomes) <> 5 then
    raise exception 'drift is [missing, stale, orphaned]; outcomes is [created, updated, deleted, unchanged, failed]'
      using errcode = '22023';
  end if;
  perform profile_sync.reconcile_running_run(run_id);
  delete from profile_sync.profile_state s
  where s.user_id = any (orphans) and not exists (select 1 from auth.users u where u.id = s.user_id);
  update profile_sync.runs r set
    cursor = coalesce(page_last, r.cursor),
    scanned = r.scanned + page_size,
    missing = r.missing + drift[1],
    stale = r.stale + drift[2],
    orphaned = r.orphaned + drift[3],
    created = r.created + outcomes[1],
    updated = r.updated + outcomes[2],
    deleted = r.deleted + outcomes[3],
    unchanged = r.unchanged + outcomes[4],
    failed = r.failed + outcomes[5],
    heartbeat_at = now()
  where r.id = run_id;
end
$$;

revoke execute on all functions in schema profile_sync from public, anon, authenticated;
grant execute on function profile_sync.reconcile_page(bigint, uuid, integer) to service_role;
grant execute on function profile_sync.reconcile_advance(bigint, uuid, integer, integer[], uuid[], integer[]) to service_role;
grant execute on function profile_sync.reconcile_sync(uuid[], text, text[]) to service_role;
