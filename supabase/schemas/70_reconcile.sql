-- Reconcile: repairs drift in resumable keyset passes through the one core, sync_users. One
-- reconcile at a time (a session advisory lock held by the connection that hands out pages);
-- runs and per-user failures are recorded.

create table if not exists profile_sync.runs (
  id bigint generated always as identity primary key,
  started_at timestamptz not null default now(),
  finished_at timestamptz,
  heartbeat_at timestamptz not null default now(),
  dry_run boolean not null default false,
  status text not null default 'running'
    constraint runs_status_check check (status in ('running', 'complete', 'partial', 'failed', 'abandoned')),
  batch_size integer,
  resumed_from bigint,
  cursor uuid,
  scanned bigint not null default 0,
  missing bigint not null default 0,
  stale bigint not null default 0,
  orphaned bigint not null default 0,
  created bigint not null default 0,
  updated bigint not null default 0,
  deleted bigint not null default 0,
  unchanged bigint not null default 0,
  failed bigint not null default 0,
  queued bigint not null default 0,
  error text,
  walks_missing boolean not null default false
);
comment on table profile_sync.runs is
  'One row per reconcile run: status running|complete|partial|failed|abandoned, what it found and '
  'did, the ids it queued when it started a pass, and the keyset cursor (last id walked) the next '
  'run resumes from when it did not complete.';
comment on column profile_sync.runs.walks_missing is
  'The pass finds users without a profile by walking auth.users in key order, instead of queuing them when it began.';
create index if not exists runs_real_idx on profile_sync.runs (id desc) where not dry_run;
alter table profile_sync.runs enable row level security;

-- The ids a reconcile pass has to visit, with the drift class each was found in when the pass
-- started; walked in key order by the runs of the pass, emptied when it completes. Only the lock
-- holder touches it. Keeping the class here spares each page re-probing three tables per id
-- before the core probes them again.
create table if not exists profile_sync.reconcile_queue (
  user_id uuid primary key,
  drift text not null check (drift in ('missing', 'stale', 'orphaned'))
);
alter table profile_sync.reconcile_queue enable row level security;

-- The pages of the running run that are handed out and not yet folded into it: bounds and drift
-- counts written when reconcile_page hands a page out, outcomes when reconcile_sync_page (on any
-- connection) has synced it; reconcile_advance folds a synced page into the run, in key order,
-- and removes it. So counts never travel through the caller. A new run starts with none.
create table if not exists profile_sync.reconcile_pages (
  run_id bigint not null,
  page_last uuid not null,
  page_from uuid,
  scanned integer not null,
  missing integer not null,
  stale integer not null,
  orphaned integer not null,
  synced boolean not null default false,
  created integer not null default 0,
  updated integer not null default 0,
  deleted integer not null default 0,
  unchanged integer not null default 0,
  failed integer not null default 0,
  constraint reconcile_pages_pkey primary key (run_id, page_last)
);
alter table profile_sync.reconcile_pages enable row level security;

create table if not exists profile_sync.failures (
  user_id uuid primary key,
  source text not null,
  error_code text not null,
  error_message text,
  attempts integer not null default 1,
  first_seen timestamptz not null default now(),
  last_seen timestamptz not null default now(),
  constraint_name text
);
comment on table profile_sync.failures is
  'Users whose row the target refused (SQLSTATE in error_code, the constraint named when there is '
  'one). Every reconcile retries them; a successful sync removes the row (sync_isolated).';
create index if not exists failures_last_seen_idx on profile_sync.failures (last_seen);
alter table profile_sync.failures enable row level security;

/*
 * profile_sync.reconcile_lock_key(): the reconcile lock, a session-level advisory lock on the pair
 * (reconcile_lock_key(), 400) of this database: one reconcile at a time. A killed process or a
 * lost connection frees it, which is how a dead run is told from a live one. (sync_lock_class()
 * is the other advisory lock profile-sync takes.)
 */
create or replace function profile_sync.reconcile_lock_key()
returns integer
language sql
immutable
parallel safe
set search_path = '' -- a constant: folded into its callers' plans all the same
as $$
  select 20261121
$$;

/*
 * profile_sync.reconcile_lock_holder(): the pid of the session holding this database's reconcile
 * lock, or null. Advisory locks are per database: another database of the same cluster running
 * profile-sync has its own. Callers: the other reconcile functions, reconcile_status and doctor.
 */
create or replace function profile_sync.reconcile_lock_holder()
returns integer
language sql
stable
security definer
set search_path = ''
set jit = off
as $$
  select l.pid from pg_catalog.pg_locks l
  where l.locktype = 'advisory' and l.classid = profile_sync.reconcile_lock_key() and l.objid = 400
    and l.objsubid = 2 and l.granted
    and l.database = (select d.oid from pg_catalog.pg_database d where d.datname = pg_catalog.current_database())
  limit 1
$$;

/*
 * profile_sync.reconcile_running_run(run_id): the run row, locked, after checking that it is a
 * running real run and that this session holds the reconcile lock (raises 55000 otherwise, e.g.
 * when a transaction pooler moved the caller to another connection). Internal.
 */
create or replace function profile_sync.reconcile_running_run(run_id bigint)
returns profile_sync.runs
language plpgsql
volatile
security definer
set search_path = ''
set jit = off
as $$
declare
  run profile_sync.runs%rowtype;
begin
  select * into run from profile_sync.runs r where r.id = run_id for update;
  if not found or run.dry_run or run.status <> 'running' then
    raise exception 'reconcile run % is not running', run_id using errcode = '55000';
  end if;
  if profile_sync.reconcile_lock_holder() is distinct from pg_catalog.pg_backend_pid() then
    raise exception 'this session does not hold the reconcile lock: run reconcile over a direct or '
      'session-mode connection, not a transaction pooler' using errcode = '55000';
  end if;
  return run;
end
$$;

/*
 * profile_sync.reconcile_sync(ids): syncs ids through sync_isolated (a user the target refuses
 * fails alone and is recorded) and counts the outcomes. Callers: reconcile_sync_page,
 * reconcile_retry_failures.
 */
create or replace function profile_sync.reconcile_sync(
  ids uuid[],
  out created integer, out updated integer, out deleted integer, out unchanged integer, out failed integer
)
language sql
volatile
security definer
set search_path = ''
set jit = off
as $$
  select
    (count(*) filter (where r.outcome = 'created'))::integer,
    (count(*) filter (where r.outcome = 'updated'))::integer,
    (count(*) filter (where r.outcome = 'deleted'))::integer,
    (count(*) filter (where r.outcome in ('unchanged', 'not_found')))::integer,
    (count(*) filter (where r.outcome = 'failed'))::integer
  from profile_sync.sync_isolated(ids, 'reconcile') r
$$;

/*
 * profile_sync.reconcile_begin(batch_size): starts a reconcile run in this session.
 * Takes the session-level advisory lock or raises 55P03 (a reconcile is already running). Holding
 * the lock proves every run still marked running is dead (its session ended): those become
 * abandoned. If the last real run did not complete, this run resumes its pass: the queue, the
 * cursor and the way it finds missing users stay. Otherwise a new pass starts: the queue is
 * refilled with every drifted id (found as drift_counts finds them, so a project in sync queues
 * nothing in one checksum pass), in key order; except that when drift is everywhere and at least
 * a quarter of the users lack a profile, those are not queued but walked (reconcile_page).
 * The lock stays with this session until reconcile_finish (or the session ends): the caller must
 * run the batches on the same connection (a direct or session-mode connection, not a transaction
 * pooler). Returns the run id, its starting cursor and the ids left to walk (walked users
 * counted as the pass began; runs.queued keeps that number for a walking run, resumed or not).
 * Callers: postgres, service_role.
 */
create or replace function profile_sync.reconcile_begin(batch_size integer default 1000)
returns table (run_id bigint, start_cursor uuid, resumed_from bigint, remaining bigint)
language plpgsql
volatile
security definer
set search_path = ''
set jit = off
set work_mem = '64MB'
as $$
declare
  last_run profile_sync.runs%rowtype;
  scope record;
  new_id bigint;
  resume_cursor uuid;
  resume_id bigint;
  walk boolean := false;
  queued bigint := 0;
  chunk integer[];
  chunk_queued bigint;
  to_walk bigint := 0;
begin
  if batch_size is null or batch_size < 1 or batch_size > 10000 then
    raise exception 'batch_size must be between 1 and 10000' using errcode = '22023';
  end if;
  -- Session locks stack: a session that still holds the lock (its last run never finished) keeps
  -- the one it has rather than taking a second that a single unlock would not free.
  if profile_sync.reconcile_lock_holder() is distinct from pg_catalog.pg_backend_pid()
    and not pg_catalog.pg_try_advisory_lock(profile_sync.reconcile_lock_key(), 400) then
    raise exception 'a reconcile is already running (pid %)', profile_sync.reconcile_lock_holder()
      using errcode = '55P03';
  end if;

  update profile_sync.runs r set
    status = 'abandoned',
    finished_at = coalesce(r.finished_at, r.heartbeat_at),
    error = 'the process or connection running it ended before it finished'
  where r.status = 'running';
  -- pages a dead run handed out and never folded in are synced again by this one
  delete from profile_sync.reconcile_pages;

  select * into last_run from profile_sync.runs r where not r.dry_run order by r.id desc limit 1;
  if found and last_run.status <> 'complete' then
    resume_cursor := last_run.cursor;
    resume_id := last_run.id;
    walk := last_run.walks_missing;
    if walk then
      -- what the run before expected to visit and did not (progress only: walked users are
      -- counted as the pass began)
      to_walk := greatest(last_run.queued - last_run.scanned, 0);
    end if;
  else
    truncate profile_sync.reconcile_queue;
    select * into scope from profile_sync.drift_scope();
    walk := scope.buckets is null and scope.auth_users - scope.profiles >= greatest(scope.auth_users / 4, 1);
    -- chunk by chunk of the ranges that differ (one statement over the whole tables when drift is
    -- everywhere)
    for chunk in select * from profile_sync._bucket_chunks(scope.buckets) loop
      execute format(
        'insert into profile_sync.reconcile_queue (user_id, drift)
         select u.id, case when %2$s then ''missing'' else ''stale'' end from %1$s where %3$s or %4$s
         union all select p.id, ''orphaned'' from %5$s where %6$s
         order by 1',
        profile_sync.drift_from(chunk, 'users'), profile_sync.drift_is('missing'),
        case when walk then 'false' else profile_sync.drift_is('missing') end, profile_sync.drift_is('stale'),
        profile_sync.drift_from(chunk, 'profiles'), profile_sync.drift_is('orphaned'))
        using chunk;
      get diagnostics chunk_queued = row_count;
      queued := queued + chunk_queued;
    end loop;
    if walk then
      -- users without a profile when the pass began (every profile has an auth user, or is an
      -- orphan the queue now holds)
      to_walk := scope.auth_users - (scope.profiles
        - (select count(*) from profile_sync.reconcile_queue q where q.drift = 'orphaned'));
    end if;
  end if;

  insert into profile_sync.runs (dry_run, status, batch_size, resumed_from, cursor, queued, walks_missing)
  values (false, 'running', batch_size, resume_id, resume_cursor, queued + to_walk, walk)
  returning id into new_id;

  -- keep the log bounded: a run every 10 minutes is ~4,400 rows a month
  delete from profile_sync.runs r where r.started_at < now() - interval '90 days';

  return query select new_id, resume_cursor, resume_id, case
    when resume_id is null or walk then queued + to_walk
    else (select count(*) from profile_sync.reconcile_queue q where resume_cursor is null or q.user_id > resume_cursor)
  end;
end
$$;

/*
 * profile_sync.reconcile_walked(after_id, through_id, max_users): the users a walking pass visits
 * in (after_id, through_id] (through_id null: to the end), at most max_users, in key order: auth
 * users without a profile now. Internal: reconcile_page and reconcile_sync_page read the walk
 * through it, for a run that walks (runs.walks_missing, which they have read already).
 * A plain STABLE SQL query with no SET clause and every name qualified, so the planner can inline
 * it into its callers (security definer, search_path ''), whose plans are kept; a SQL function
 * with a SET clause is planned again on every call. Handing out a page costs the lock holder
 * ~3.6 ms at a million users (50 pages in a loop).
 */
create or replace function profile_sync.reconcile_walked(
  after_id uuid,
  through_id uuid,
  max_users integer
)
returns table (user_id uuid)
language sql
stable
as $$
  select u.id
  from auth.users u
  -- keyset bounds the index can use (the nil id is no Auth user id)
  where u.id >= coalesce(after_id, '00000000-0000-0000-0000-000000000000'::uuid)
    and u.id is distinct from after_id
    and u.id <= coalesce(through_id, 'ffffffff-ffff-ffff-ffff-ffffffffffff'::uuid)
    -- a probe of profiles' key per user, never a join: a reused plan that merged the two keys
    -- read profiles from their first id on every page (a backfill at 1M took twice as long)
    and (select p.id from profile_sync.targets p where p.id = u.id) is null
  order by u.id
  limit max_users
$$;

/*
 * profile_sync.reconcile_page(run_id, after_id, batch_size): the next page of the run's pass
 * after after_id (after the run's cursor when null), in key order, without syncing it: the
 * queued ids, and the walked users (reconcile_walked), in (from_id, last_id], at most batch_size,
 * ending at the end of a key range (the unit sync_users locks) unless one range holds more than
 * batch_size; how many, and of which drift class. done: nothing is left after this page.
 * Callers: postgres, service_role, holding the reconcile lock (see reconcile_begin).
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
set jit = off
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
  with queued as (
    select q.user_id as id, q.drift
    from profile_sync.reconcile_queue q
    where start_after is null or q.user_id > start_after
    order by q.user_id
    limit batch_size + 1
  ),
  walked as (
    -- no further than the queued ids reach when they fill a page: a page holds the first ids
    -- of both, and walking past them would only be read again for the next page
    select w.user_id as id, 'missing'::text as drift
    from profile_sync.reconcile_walked(start_after,
      (select (pg_catalog.array_agg(q.id order by q.id desc))[1] from queued q having count(*) > batch_size), batch_size + 1) w
    where run.walks_missing
  ),
  ahead as (
    -- one id more than a page, to see whether the page would end inside a key range; an id both
    -- queued and walked (it lost its profile since the pass began) counts once, as queued
    select a.id, a.drift,
      pg_catalog.row_number() over (order by a.id) as n,
      -- the key range sync_users locks for this id
      profile_sync.key_range(a.id) as key_range
    from (
      select distinct on (b.id) b.id, b.drift
      from (select * from queued union all select * from walked) b
      order by b.id, b.drift = 'missing'
    ) a
    order by a.id
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
  counted as (
    select
      start_after as p_from,
      (array_agg(pg.id order by pg.id desc))[1] as p_last,
      count(*)::integer as p_scanned,
      count(*) filter (where pg.drift = 'missing')::integer as p_missing,
      count(*) filter (where pg.drift = 'stale')::integer as p_stale,
      count(*) filter (where pg.drift = 'orphaned')::integer as p_orphaned,
      not exists (select 1 from ahead a where a.n = batch_size + 1) as p_done
    from page pg
  ),
  recorded as (
    -- the page, for reconcile_sync_page to complete and reconcile_advance to fold into the run
    insert into profile_sync.reconcile_pages as rp (run_id, page_last, page_from, scanned, missing, stale, orphaned)
    select reconcile_page.run_id, c.p_last, c.p_from, c.p_scanned, c.p_missing, c.p_stale, c.p_orphaned
    from counted c where c.p_scanned > 0
    on conflict on constraint reconcile_pages_pkey do update set
      page_from = excluded.page_from, scanned = excluded.scanned, missing = excluded.missing,
      stale = excluded.stale, orphaned = excluded.orphaned, synced = false
    returning rp.page_last
  )
  select c.p_from, c.p_last, c.p_scanned, c.p_missing, c.p_stale, c.p_orphaned, c.p_done
  from counted c;
end
$$;

/*
 * profile_sync.reconcile_sync_page(run_id, page_from, page_last): syncs the run's queued ids and
 * walked users in (page_from, page_last], leaving out users that already failed in this run,
 * through reconcile_sync (a failing user is isolated and recorded), and records the outcomes on
 * the page (reconcile_pages); returns them too, for the caller's report. Needs no lock: any
 * connection may sync a page the lock holder handed out. Callers: postgres, service_role.
 */
create or replace function profile_sync.reconcile_sync_page(
  run_id bigint,
  page_from uuid,
  page_last uuid,
  out created integer, out updated integer, out deleted integer, out unchanged integer, out failed integer
)
language plpgsql
volatile
security definer
set search_path = ''
set jit = off
as $$
declare
  run_started timestamptz;
  walks boolean;
  ids uuid[];
  n_created integer;
  n_updated integer;
  n_deleted integer;
  n_unchanged integer;
  n_failed integer;
begin
  select r.started_at, r.walks_missing into run_started, walks from profile_sync.runs r where r.id = run_id;
  if not found then
    raise exception 'reconcile run % does not exist', run_id using errcode = '55000';
  end if;
  select array_agg(distinct v.id order by v.id) into ids
  from (
    select q.user_id as id from profile_sync.reconcile_queue q
    where (page_from is null or q.user_id > page_from) and q.user_id <= page_last
    union all
    select w.user_id from profile_sync.reconcile_walked(page_from, page_last, 10000) w where walks
  ) v
  where not exists (
    select 1 from profile_sync.failures f where f.user_id = v.id and f.last_seen >= run_started);
  select r.created, r.updated, r.deleted, r.unchanged, r.failed
  into n_created, n_updated, n_deleted, n_unchanged, n_failed
  from profile_sync.reconcile_sync(ids) r;
  update profile_sync.reconcile_pages rp set
    synced = true, created = n_created, updated = n_updated, deleted = n_deleted,
    unchanged = n_unchanged, failed = n_failed
  where rp.run_id = reconcile_sync_page.run_id and rp.page_last = reconcile_sync_page.page_last;
  created := n_created; updated := n_updated; deleted := n_deleted; unchanged := n_unchanged; failed := n_failed;
end
$$;

/*
 * profile_sync.reconcile_advance(run_id, page_last): folds the synced page ending at page_last
 * into the run: its cursor moves to page_last, its counts grow by the page's drift and outcomes
 * (recorded in reconcile_pages by reconcile_page and reconcile_sync_page), bookkeeping left by the
 * page's orphans (users deleted from auth behind the cascade's back) is removed, and the page row
 * goes. Pages must be advanced in key order, each once it is synced (55000 otherwise).
 * Callers: postgres, service_role, holding the reconcile lock.
 */
create or replace function profile_sync.reconcile_advance(run_id bigint, page_last uuid)
returns void
language plpgsql
volatile
security definer
set search_path = ''
set jit = off
as $$
declare
  pg profile_sync.reconcile_pages%rowtype;
begin
  perform profile_sync.reconcile_running_run(run_id);
  select * into pg from profile_sync.reconcile_pages rp
  where rp.run_id = reconcile_advance.run_id and rp.page_last = reconcile_advance.page_last;
  if not found or not pg.synced then
    raise exception 'page ending at % of run % is not synced', page_last, run_id using errcode = '55000';
  end if;
  delete from profile_sync.profile_state s
  using profile_sync.reconcile_queue q
  where s.user_id = q.user_id and q.drift = 'orphaned'
    and (pg.page_from is null or q.user_id > pg.page_from) and q.user_id <= pg.page_last
    and not exists (select 1 from auth.users u where u.id = s.user_id);
  update profile_sync.runs r set
    cursor = pg.page_last,
    scanned = r.scanned + pg.scanned,
    missing = r.missing + pg.missing,
    stale = r.stale + pg.stale,
    orphaned = r.orphaned + pg.orphaned,
    created = r.created + pg.created,
    updated = r.updated + pg.updated,
    deleted = r.deleted + pg.deleted,
    unchanged = r.unchanged + pg.unchanged,
    failed = r.failed + pg.failed,
    heartbeat_at = now()
  where r.id = reconcile_advance.run_id;
  delete from profile_sync.reconcile_pages rp
  where rp.run_id = reconcile_advance.run_id and rp.page_last = reconcile_advance.page_last;
end
$$;

/*
 * profile_sync.reconcile_retry_failures(run_id, max_users):
 * retries up to max_users recorded failures not yet tried by this run, oldest first; successes
 * clear their rows. Counts go to the run. Callers: postgres, service_role, holding the lock.
 */
create or replace function profile_sync.reconcile_retry_failures(
  run_id bigint,
  max_users integer
)
returns table (retried integer, created integer, updated integer, deleted integer, failed integer)
language plpgsql
volatile
security definer
set search_path = ''
set jit = off
as $$
declare
  run profile_sync.runs%rowtype;
  ids uuid[];
  res record;
begin
  run := profile_sync.reconcile_running_run(run_id);
  select array_agg(f.user_id order by f.last_seen, f.user_id) into ids
  from (
    select f.user_id, f.last_seen from profile_sync.failures f
    where f.last_seen < run.started_at
    order by f.last_seen, f.user_id
    limit max_users
  ) f;
  select * into res from profile_sync.reconcile_sync(ids) s;
  update profile_sync.runs r set
    created = r.created + res.created,
    updated = r.updated + res.updated,
    deleted = r.deleted + res.deleted,
    unchanged = r.unchanged + res.unchanged,
    failed = r.failed + res.failed,
    heartbeat_at = now()
  where r.id = run.id;
  return query select coalesce(cardinality(ids), 0), res.created, res.updated, res.deleted, res.failed;
end
$$;

/*
 * profile_sync.reconcile_finish(run_id, status, error): ends a run as complete (the pass is done:
 * its queue is emptied), partial (time budget spent; the next run resumes from the cursor) or
 * failed, and releases the lock. A run that created or deleted more than a tenth of the profiles
 * (and at least 1,000) analyzes the target's key first. Callers: postgres, service_role,
 * in the session that began the run.
 */
create or replace function profile_sync.reconcile_finish(run_id bigint, status text, error text default null)
returns void
language plpgsql
volatile
security definer
set search_path = ''
set jit = off
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
  if changed >= greatest(1000, profile_sync.estimated_rows(profile_sync.target_table()) / 10) then
    execute pg_catalog.format('analyze %s (%I)', profile_sync.target_table(), (select s.target_key from profile_sync.settings s));
  end if;
  if status = 'complete' and profile_sync.reconcile_lock_holder() = pg_catalog.pg_backend_pid() then
    truncate profile_sync.reconcile_queue;
  end if;
  if profile_sync.reconcile_lock_holder() = pg_catalog.pg_backend_pid() then
    perform pg_catalog.pg_advisory_unlock(profile_sync.reconcile_lock_key(), 400);
  end if;
end
$$;
