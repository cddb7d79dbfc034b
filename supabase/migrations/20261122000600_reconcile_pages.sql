-- Reconcile on several connections. reconcile_batch takes a page of the queue, syncs it and
-- advances the run in one call, so one connection does everything in turn. These functions split
-- it: the connection holding the reconcile lock hands out pages (reconcile_page: bounds and
-- counts, never the ids, so the caller's memory stays flat) and records them in key order once
-- synced (reconcile_advance), while other connections sync them (reconcile_sync_page: the page's
-- ids read from the queue, then reconcile_sync's per-user failure isolation). The cursor only
-- moves past a page once it and every page before it are synced, so a run killed mid-way resumes
-- where nothing is lost (pages synced but not yet recorded are synced again: unchanged).
-- reconcile_batch, which did all three in one call, is dropped: nothing calls it any more, and
-- keeping it would keep a second copy of the page and run bookkeeping logic.

/*
 * profile_sync.reconcile_page(run_id, after_id, batch_size): the next page of the run's queue
 * after after_id (after the run's cursor when null), in key order, without syncing it: the ids
 * in (from_id, last_id], at most batch_size, ending at the end of a key range (the unit
 * sync_users locks) unless one range holds more than batch_size; how many, and of which drift
 * class as the pass found them. done: nothing is queued after this page. Callers:
 * postgres, service_role, holding the reconcile lock (see reconcile_begin).
 */
create or replace function profile_sync.reconcile_page(
  run_id bigint,
  after_id uuid,
  batch_size integer default 2000
)
returns table (
  from_id uuid, last_id uuid, scanned integer, missing integer, stale integer, orphaned integer, done boolean
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
  )
  select
    start_after,
    (array_agg(pg.id order by pg.id desc))[1],
    count(*)::integer,
    count(*) filter (where pg.drift = 'missing')::integer,
    count(*) filter (where pg.drift = 'stale')::integer,
    count(*) filter (where pg.drift = 'orphaned')::integer,
    not exists (select 1 from ahead a where a.n = batch_size + 1)
  from page pg;
end
$$;

/*
 * profile_sync.reconcile_advance(run_id, page_from, page_last, page_size, drift, outcomes): records
 * the synced page (page_from, page_last]: the run's cursor moves to page_last and its counts grow
 * by the page's drift (missing, stale, orphaned) and the outcomes reconcile_sync_page returned
 * (created, updated, deleted, unchanged, failed); bookkeeping left by the page's orphans (users
 * deleted from auth behind the cascade's back) is removed. Pages must be recorded in key order. Callers: postgres,
 * service_role, holding the reconcile lock.
 */
create or replace function profile_sync.reconcile_advance(
  run_id bigint,
  page_from uuid,
  page_last uuid,
  page_size integer,
  drift integer[],
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
  using profile_sync.reconcile_queue q
  where s.user_id = q.user_id and q.drift = 'orphaned'
    and (page_from is null or q.user_id > page_from) and q.user_id <= page_last
    and not exists (select 1 from auth.users u where u.id = s.user_id);
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

/*
 * profile_sync.reconcile_sync_page(run_id, page_from, page_last, default_role,
 * self_assignable_roles): syncs the run's queued ids in (page_from, page_last], leaving out users
 * that already failed in this run, through reconcile_sync (a failing user is isolated and
 * recorded). Needs no lock: any connection may sync a page the lock holder handed out.
 * Callers: postgres, service_role.
 */
create or replace function profile_sync.reconcile_sync_page(
  run_id bigint,
  page_from uuid,
  page_last uuid,
  default_role text default 'user',
  self_assignable_roles text[] default '{}',
  out created integer, out updated integer, out deleted integer, out unchanged integer, out failed integer
)
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  run_started timestamptz;
  ids uuid[];
begin
  select r.started_at into run_started from profile_sync.runs r where r.id = run_id;
  if not found then
    raise exception 'reconcile run % does not exist', run_id using errcode = '55000';
  end if;
  select array_agg(q.user_id order by q.user_id) into ids
  from profile_sync.reconcile_queue q
  where (page_from is null or q.user_id > page_from) and q.user_id <= page_last
    and not exists (
      select 1 from profile_sync.failures f where f.user_id = q.user_id and f.last_seen >= run_started);
  select * into created, updated, deleted, unchanged, failed
  from profile_sync.reconcile_sync(ids, default_role, self_assignable_roles);
end
$$;

drop function if exists profile_sync.reconcile_batch(bigint, integer, text, text[]);

revoke execute on all functions in schema profile_sync from public, anon, authenticated;
grant execute on function profile_sync.reconcile_page(bigint, uuid, integer) to service_role;
grant execute on function profile_sync.reconcile_advance(bigint, uuid, uuid, integer, integer[], integer[]) to service_role;
grant execute on function profile_sync.reconcile_sync_page(bigint, uuid, uuid, text, text[]) to service_role;
