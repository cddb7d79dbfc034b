-- Reconcile: measure drift between auth.users and public.profiles (missing, stale, orphaned) and
-- repair it in resumable keyset batches through the one core, profile_sync.sync_users.
-- One reconcile at a time (a session advisory lock); runs and per-user failures are recorded.

-- Drift compares auth.users.updated_at with the version last synced. auth.users cannot be indexed
-- on hosted Supabase, so we index our side: (user_id, auth_updated_at) from an index-only scan.
create index if not exists profile_state_user_id_auth_updated_at_idx
  on profile_sync.profile_state (user_id) include (auth_updated_at);

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
  error text
);
comment on table profile_sync.runs is
  'One row per reconcile run: status running|complete|partial|failed|abandoned, what it found and '
  'did, the ids it queued when it started a pass, and the keyset cursor (last id walked) the next '
  'run resumes from when it did not complete.';
create index if not exists runs_real_idx on profile_sync.runs (id desc) where not dry_run;
alter table profile_sync.runs enable row level security;
revoke all on table profile_sync.runs from public, anon, authenticated;
grant select on table profile_sync.runs to service_role;

-- The ids a reconcile pass has to visit, with the drift class each was found in when the pass
-- started; walked in key order by the runs of the pass, emptied when it completes. Only the lock
-- holder touches it. Keeping the class here spares each batch re-probing three tables per id
-- before the core probes them again.
create table if not exists profile_sync.reconcile_queue (
  user_id uuid primary key,
  drift text not null check (drift in ('missing', 'stale', 'orphaned'))
);
alter table profile_sync.reconcile_queue enable row level security;
revoke all on table profile_sync.reconcile_queue from public, anon, authenticated;

create table if not exists profile_sync.failures (
  user_id uuid primary key,
  source text not null,
  error_code text not null,
  error_message text,
  attempts integer not null default 1,
  first_seen timestamptz not null default now(),
  last_seen timestamptz not null default now()
);
comment on table profile_sync.failures is
  'Users whose sync raised an error (SQLSTATE in error_code). Every reconcile retries them; a '
  'successful sync removes the row.';
create index if not exists failures_last_seen_idx on profile_sync.failures (last_seen);
alter table profile_sync.failures enable row level security;
revoke all on table profile_sync.failures from public, anon, authenticated;
grant select on table profile_sync.failures to service_role;

/*
 * profile_sync.reconcile_lock_holder(): the pid of the session holding the reconcile lock, or null.
 * The lock is the session-level advisory lock (20261121, 400): a killed process or a lost
 * connection frees it, which is how a dead run is told from a live one.
 * Callers: the other reconcile functions, reconcile_status and doctor.
 */
create or replace function profile_sync.reconcile_lock_holder()
returns integer
language sql
stable
security definer
set search_path = ''
as $$
  select l.pid from pg_catalog.pg_locks l
  where l.locktype = 'advisory' and l.classid = 20261121 and l.objid = 400 and l.objsubid = 2 and l.granted
  limit 1
$$;

/*
 * profile_sync.drift_buckets(): the cheap half of drift detection. Splits the key space into 4096
 * id ranges (the first 12 bits of the uuid) and compares, per range, order-independent checksums
 * (XOR of 64-bit hashes): auth.users (id, updated_at) against profile_state (user_id,
 * auth_updated_at), and profile_state ids against profiles ids. A range is in sync when both
 * match: every auth user has a profile and bookkeeping at its current version, and nothing else.
 * No joins: each table is read once, in chunks that parallel workers share (auth.users by heap
 * ranges of ctid; our tables by key ranges, from their indexes). A false "in sync" needs a 64-bit
 * hash collision. Read only. Callers: drift_counts.
 */
create or replace function profile_sync.drift_buckets()
returns table (bucket integer, auth_users bigint, profiles bigint, in_sync boolean)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  bucket_of constant text := 'get_byte(uuid_send(%1$s), 0) * 16 + get_byte(uuid_send(%1$s), 1) / 16';
  version_hash constant text := 'uuid_hash_extended(%s, coalesce(hashfloat8(date_part(''epoch'', %s)), 0))';
  -- quarters of the key space, for the chunks of our own tables
  quarters constant text[] := array[
    '%1$s < ''40000000-0000-0000-0000-000000000000''',
    '%1$s >= ''40000000-0000-0000-0000-000000000000'' and %1$s < ''80000000-0000-0000-0000-000000000000''',
    '%1$s >= ''80000000-0000-0000-0000-000000000000'' and %1$s < ''c0000000-0000-0000-0000-000000000000''',
    '%1$s >= ''c0000000-0000-0000-0000-000000000000'''];
  quarter text;
  parts text[] := '{}';
  pages bigint;
  chunk bigint;
  lo bigint := 0;
begin
  -- auth.users: heap chunks by ctid (we may not index it, and updated_at is in the heap anyway)
  pages := pg_catalog.pg_relation_size('auth.users') / pg_catalog.current_setting('block_size')::bigint;
  chunk := greatest(pages / 4 + 1, 2048);
  loop
    parts := parts || format(
      'select ''u'' as src, %s as bucket, count(*) as n, 0::bigint as ids, bit_xor(%s) as versions
       from auth.users u where u.ctid >= %L::tid%s group by 2',
      format(bucket_of, 'u.id'), format(version_hash, 'u.id', 'u.updated_at'), format('(%s,0)', lo),
      -- the last chunk is open-ended: rows appended while we read are counted too
      case when lo + chunk < pages then format(' and u.ctid < %L::tid', format('(%s,0)', lo + chunk)) else '' end);
    lo := lo + chunk;
    exit when lo >= pages;
  end loop;
  -- our tables: key-space quarters, read from their indexes alone (index-only scans)
  foreach quarter in array quarters loop
    parts := parts || format(
      'select ''p'', %s, count(*), bit_xor(uuid_hash_extended(p.id, 0)), 0::bigint from public.profiles p where %s group by 2',
      format(bucket_of, 'p.id'), format(quarter, 'p.id'));
    parts := parts || format(
      'select ''s'', %s, count(*), bit_xor(uuid_hash_extended(s.user_id, 0)), bit_xor(%s)
       from profile_sync.profile_state s where %s group by 2',
      format(bucket_of, 's.user_id'), format(version_hash, 's.user_id', 's.auth_updated_at'), format(quarter, 's.user_id'));
  end loop;

  return query execute format($q$
    with per_chunk as (%s),
    by_bucket as (
      select c.bucket,
        coalesce(sum(c.n) filter (where c.src = 'u'), 0)::bigint as u_n,
        coalesce(sum(c.n) filter (where c.src = 'p'), 0)::bigint as p_n,
        coalesce(sum(c.n) filter (where c.src = 's'), 0)::bigint as s_n,
        coalesce(bit_xor(c.ids) filter (where c.src = 'p'), 0) as p_ids,
        coalesce(bit_xor(c.ids) filter (where c.src = 's'), 0) as s_ids,
        coalesce(bit_xor(c.versions) filter (where c.src = 'u'), 0) as u_versions,
        coalesce(bit_xor(c.versions) filter (where c.src = 's'), 0) as s_versions
      from per_chunk c
      group by c.bucket
    )
    select b.bucket, b.u_n, b.p_n,
      b.u_n = b.s_n and b.u_versions = b.s_versions and b.s_n = b.p_n and b.s_ids = b.p_ids
    from by_bucket b
  $q$, array_to_string(parts, ' union all '));
end
$$;

/*
 * profile_sync.drift_totals(): auth users, profiles, and whether everything is in sync, from
 * whole-table checksums (drift_buckets' checksums without the ranges): one parallel pass per
 * table, so the common answer, "nothing has drifted", costs a fraction of the range pass.
 * Read only. Callers: drift_scope.
 */
create or replace function profile_sync.drift_totals()
returns table (auth_users bigint, profiles bigint, in_sync boolean)
language plpgsql
stable
security definer
set search_path = ''
as $$
begin
  -- RETURN QUERY, not SELECT INTO: only the former may use parallel workers
  return query
  with u as (
    select count(*) as n,
      coalesce(bit_xor(uuid_hash_extended(u.id, coalesce(hashfloat8(date_part('epoch', u.updated_at)), 0))), 0) as versions
    from auth.users u
  ),
  p as (
    select count(*) as n, coalesce(bit_xor(uuid_hash_extended(p.id, 0)), 0) as ids from public.profiles p
  ),
  s as (
    select count(*) as n, coalesce(bit_xor(uuid_hash_extended(s.user_id, 0)), 0) as ids,
      coalesce(bit_xor(uuid_hash_extended(s.user_id, coalesce(hashfloat8(date_part('epoch', s.auth_updated_at)), 0))), 0) as versions
    from profile_sync.profile_state s
  )
  select u.n, p.n, u.n = s.n and u.versions = s.versions and s.n = p.n and s.ids = p.ids
  from u, p, s;
end
$$;

/*
 * profile_sync.drift_from(buckets, side): the FROM clause that drift detection reads, as SQL
 * text: side 'users' gives auth users u with their profile p and bookkeeping s; side 'profiles'
 * gives profiles p. With buckets (parameter $1), only those id ranges, each read through the
 * primary keys; without (null), whole tables, joined by hash. Internal.
 */
create or replace function profile_sync.drift_from(buckets integer[], side text)
returns text
language sql
immutable
set search_path = ''
as $$
  select case
    when side = 'users' and buckets is null then $s$
      auth.users u
      left join public.profiles p on p.id = u.id
      left join profile_sync.profile_state s on s.user_id = u.id$s$
    when side = 'users' then $s$
      unnest($1::integer[]) as b (bucket)
      cross join lateral (
        select u.id, u.updated_at, p.id as p_id, s.user_id as s_user_id, s.auth_updated_at
        from auth.users u
        left join public.profiles p on p.id = u.id
        left join profile_sync.profile_state s on s.user_id = u.id
        where u.id between (lpad(to_hex(b.bucket), 3, '0') || '00000-0000-0000-0000-000000000000')::uuid
          and (lpad(to_hex(b.bucket), 3, '0') || 'fffff-ffff-ffff-ffff-ffffffffffff')::uuid
        offset 0  -- keep it a per-range index scan, whatever the row estimates say
      ) u
      cross join lateral (select u.p_id as id) p
      cross join lateral (select u.s_user_id as user_id, u.auth_updated_at) s$s$
    when buckets is null then 'public.profiles p'
    else $s$
      unnest($1::integer[]) as b (bucket)
      cross join lateral (
        select p.id from public.profiles p
        where p.id between (lpad(to_hex(b.bucket), 3, '0') || '00000-0000-0000-0000-000000000000')::uuid
          and (lpad(to_hex(b.bucket), 3, '0') || 'fffff-ffff-ffff-ffff-ffffffffffff')::uuid
        offset 0
      ) p$s$
  end
$$;

/*
 * profile_sync.drift_is(drift): the condition, as SQL text over drift_from's rows, for a drift class:
 *   missing  = auth user without a profile;
 *   stale    = profile whose auth row changed after it was last synced (or never synced here);
 *   orphaned = profile without an auth user (over side 'profiles').
 * Internal.
 */
create or replace function profile_sync.drift_is(drift text)
returns text
language sql
immutable
set search_path = ''
as $$
  select case drift
    when 'missing' then 'p.id is null'
    when 'stale' then 'p.id is not null and (s.user_id is null or u.updated_at > s.auth_updated_at)'
    when 'orphaned' then 'not exists (select 1 from auth.users a where a.id = p.id)'
  end
$$;

/*
 * profile_sync.drift_exact(buckets, per_class): the exact half: classifies every id in the given
 * buckets (all ids when buckets is null) and returns the counts of the three drift classes (see
 * drift_is) and up to per_class sample ids of each, in key order. Read only. Callers: drift_counts.
 */
create or replace function profile_sync.drift_exact(buckets integer[], per_class integer default 0)
returns table (missing bigint, stale bigint, orphaned bigint, samples jsonb)
language plpgsql
stable
security definer
set search_path = ''
set work_mem = '64MB'
as $$
declare
  users_src constant text := profile_sync.drift_from(buckets, 'users');
  profiles_src constant text := profile_sync.drift_from(buckets, 'profiles');
  n_missing bigint;
  n_stale bigint;
  n_orphaned bigint;
  sampled jsonb := '{"missing": [], "stale": [], "orphaned": []}';
begin
  execute format('select count(*) filter (where %s), count(*) filter (where %s) from %s',
    profile_sync.drift_is('missing'), profile_sync.drift_is('stale'), users_src)
    using buckets into n_missing, n_stale;
  execute format('select count(*) from %s where %s', profiles_src, profile_sync.drift_is('orphaned'))
    using buckets into n_orphaned;

  if per_class > 0 and n_missing + n_stale + n_orphaned > 0 then
    execute format($q$select jsonb_build_object(
        'missing', (select coalesce(jsonb_agg(x.id order by x.id), '[]') from
          (select u.id from %1$s where %2$s order by u.id limit $2) x),
        'stale', (select coalesce(jsonb_agg(x.id order by x.id), '[]') from
          (select u.id from %1$s where %3$s order by u.id limit $2) x),
        'orphaned', (select coalesce(jsonb_agg(x.id order by x.id), '[]') from
          (select p.id from %4$s where %5$s order by p.id limit $2) x))$q$,
      users_src, profile_sync.drift_is('missing'), profile_sync.drift_is('stale'),
      profiles_src, profile_sync.drift_is('orphaned')) using buckets, per_class into sampled;
  end if;
  return query select n_missing, n_stale, n_orphaned, sampled;
end
$$;

/*
 * profile_sync.drift_scope(): where drift can be: nowhere ('{}') when the whole-table checksums
 * match (drift_totals); else the id ranges whose checksums differ (drift_buckets), or null for
 * "everywhere" when so many users differ that reading ranges one by one would not pay (all
 * missing, most stale); and the numbers of auth users and profiles.
 * Read only. Callers: drift_counts, reconcile_begin.
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
  n_users bigint;
  n_profiles bigint;
  totals record;
  differing integer[];
begin
  -- the planner's row estimates are enough to tell "most users differ" (e.g. all missing)
  select greatest(c.reltuples, 0)::bigint into n_users from pg_catalog.pg_class c where c.oid = 'auth.users'::regclass;
  select greatest(c.reltuples, 0)::bigint into n_profiles from pg_catalog.pg_class c where c.oid = 'public.profiles'::regclass;
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
  select coalesce(array_agg(b.bucket) filter (where not b.in_sync), '{}'), sum(b.auth_users), sum(b.profiles)
  into differing, n_users, n_profiles
  from profile_sync.drift_buckets() b;
  if cardinality(differing) * (n_users / 4096 + 1) > range_rows_limit then
    differing := null;
  end if;
  return query select coalesce(n_users, 0), coalesce(n_profiles, 0), differing;
end
$$;

/*
 * profile_sync.drift_counts(per_class): auth users, profiles and the three drift classes, exact,
 * with up to per_class sample ids per class: drift_exact over drift_scope, so a million users in
 * sync cost one checksum pass per table. Read only.
 * Callers: status, dry run, doctor (postgres, service_role).
 */
create or replace function profile_sync.drift_counts(per_class integer default 0)
returns table (auth_users bigint, profiles bigint, missing bigint, stale bigint, orphaned bigint, samples jsonb)
language sql
stable
security definer
set search_path = ''
as $$
  select d.auth_users, d.profiles, e.missing, e.stale, e.orphaned, e.samples
  from profile_sync.drift_scope() d
  cross join lateral profile_sync.drift_exact(d.buckets, per_class) e
$$;

/*
 * profile_sync.reconcile_sync(ids, default_role, self_assignable_roles): syncs ids through the
 * core in one call; if that call raises, retries them one by one so a single bad user cannot
 * block the rest: each failure is recorded in profile_sync.failures, each success clears its row.
 * Returns what happened. Callers: reconcile_batch, reconcile_retry_failures.
 */
create or replace function profile_sync.reconcile_sync(
  ids uuid[],
  default_role text,
  self_assignable_roles text[],
  out created integer, out updated integer, out deleted integer, out unchanged integer, out failed integer
)
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  one uuid;
  outcome text;
  err_code text;
  err_message text;
begin
  created := 0; updated := 0; deleted := 0; unchanged := 0; failed := 0;
  if coalesce(cardinality(ids), 0) = 0 then
    return;
  end if;

  begin
    select
      count(*) filter (where r.outcome = 'created'),
      count(*) filter (where r.outcome = 'updated'),
      count(*) filter (where r.outcome = 'deleted'),
      count(*) filter (where r.outcome in ('unchanged', 'not_found'))
    into created, updated, deleted, unchanged
    from profile_sync.sync_users(ids, default_role, self_assignable_roles) r;
    delete from profile_sync.failures f where f.user_id = any (ids);
    return;
  exception when others then
    -- the whole batch was rolled back to this block's savepoint: isolate the bad user(s) below
    created := 0; updated := 0; deleted := 0; unchanged := 0;
  end;

  foreach one in array ids loop
    begin
      select r.outcome into outcome
      from profile_sync.sync_users(array[one], default_role, self_assignable_roles) r;
      case outcome
        when 'created' then created := created + 1;
        when 'updated' then updated := updated + 1;
        when 'deleted' then deleted := deleted + 1;
        else unchanged := unchanged + 1;
      end case;
      delete from profile_sync.failures f where f.user_id = one;
    exception when others then
      get stacked diagnostics err_code = returned_sqlstate, err_message = message_text;
      insert into profile_sync.failures as f (user_id, source, error_code, error_message)
      values (one, 'reconcile', err_code, left(err_message, 500))
      on conflict (user_id) do update set
        source = excluded.source,
        error_code = excluded.error_code,
        error_message = excluded.error_message,
        attempts = f.attempts + 1,
        last_seen = now();
      failed := failed + 1;
    end;
  end loop;
end
$$;

/*
 * profile_sync.reconcile_begin(batch_size): starts a reconcile run in this session.
 * Takes the session-level advisory lock or raises 55P03 (a reconcile is already running). Holding
 * the lock proves every run still marked running is dead (its session ended): those become
 * abandoned. If the last real run did not complete, this run resumes its pass: the queue and the
 * cursor stay. Otherwise a new pass starts: the queue is refilled with every drifted id (found as
 * drift_counts finds them, so a project in sync queues nothing in one checksum pass).
 * The lock stays with this session until reconcile_finish (or the session ends): the caller must
 * run the batches on the same connection (a direct or session-mode connection, not a transaction
 * pooler). Returns the run id, its starting cursor and the ids left to walk.
 * Callers: postgres, service_role.
 */
create or replace function profile_sync.reconcile_begin(batch_size integer default 1000)
returns table (run_id bigint, start_cursor uuid, resumed_from bigint, remaining bigint)
language plpgsql
volatile
security definer
set search_path = ''
set work_mem = '64MB'
as $$
declare
  last_run profile_sync.runs%rowtype;
  scope record;
  new_id bigint;
  resume_cursor uuid;
  resume_id bigint;
  queued bigint := 0;
begin
  if batch_size is null or batch_size < 1 or batch_size > 10000 then
    raise exception 'batch_size must be between 1 and 10000' using errcode = '22023';
  end if;
  -- Session locks stack: a session that still holds the lock (its last run never finished) keeps
  -- the one it has rather than taking a second that a single unlock would not free.
  if profile_sync.reconcile_lock_holder() is distinct from pg_catalog.pg_backend_pid()
    and not pg_catalog.pg_try_advisory_lock(20261121, 400) then
    raise exception 'a reconcile is already running (pid %)', profile_sync.reconcile_lock_holder()
      using errcode = '55P03';
  end if;

  update profile_sync.runs r set
    status = 'abandoned',
    finished_at = coalesce(r.finished_at, r.heartbeat_at),
    error = 'the process or connection running it ended before it finished'
  where r.status = 'running';

  select * into last_run from profile_sync.runs r where not r.dry_run order by r.id desc limit 1;
  if found and last_run.status <> 'complete' then
    resume_cursor := last_run.cursor;
    resume_id := last_run.id;
  else
    truncate profile_sync.reconcile_queue;
    select * into scope from profile_sync.drift_scope();
    execute format(
      'insert into profile_sync.reconcile_queue (user_id, drift)
       select u.id, case when %2$s then ''missing'' else ''stale'' end from %1$s where %2$s or %3$s
       union all select p.id, ''orphaned'' from %4$s where %5$s',
      profile_sync.drift_from(scope.buckets, 'users'), profile_sync.drift_is('missing'), profile_sync.drift_is('stale'),
      profile_sync.drift_from(scope.buckets, 'profiles'), profile_sync.drift_is('orphaned'))
      using scope.buckets;
    get diagnostics queued = row_count;
  end if;

  insert into profile_sync.runs (dry_run, status, batch_size, resumed_from, cursor, queued)
  values (false, 'running', batch_size, resume_id, resume_cursor, queued)
  returning id into new_id;

  -- keep the log bounded: a run every 10 minutes is ~4,400 rows a month
  delete from profile_sync.runs r where r.started_at < now() - interval '90 days';

  return query select new_id, resume_cursor, resume_id,
    (select count(*) from profile_sync.reconcile_queue q where resume_cursor is null or q.user_id > resume_cursor);
end
$$;

/*
 * profile_sync.reconcile_retry_failures(run_id, max_users, default_role, self_assignable_roles):
 * retries up to max_users recorded failures not yet tried by this run, oldest first; successes
 * clear their rows. Counts go to the run. Callers: postgres, service_role, holding the lock.
 */
create or replace function profile_sync.reconcile_retry_failures(
  run_id bigint,
  max_users integer,
  default_role text default 'user',
  self_assignable_roles text[] default '{}'
)
returns table (retried integer, created integer, updated integer, deleted integer, failed integer)
language plpgsql
volatile
security definer
set search_path = ''
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
  select * into res from profile_sync.reconcile_sync(ids, default_role, self_assignable_roles) s;
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
 * profile_sync.reconcile_batch(run_id, batch_size, default_role, self_assignable_roles): the next
 * step of a run. Takes the next batch_size ids after the run's cursor from the pass's queue, in key
 * order (keyset, never OFFSET), classifies them as they are now, and syncs the drifted ones
 * through reconcile_sync (skipping users already failed in this run). Advances the cursor and the
 * run's counts in the same transaction, so a run killed between batches loses nothing.
 * done = the queue is walked to its end. Callers: postgres, service_role, holding the lock (see
 * reconcile_begin).
 */
create or replace function profile_sync.reconcile_batch(
  run_id bigint,
  batch_size integer default 1000,
  default_role text default 'user',
  self_assignable_roles text[] default '{}'
)
returns table (
  next_cursor uuid, scanned integer, done boolean, missing integer, stale integer, orphaned integer,
  created integer, updated integer, deleted integer, failed integer
)
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  run profile_sync.runs%rowtype;
  page_size integer;
  page_last uuid;
  n_missing integer;
  n_stale integer;
  n_orphaned integer;
  drifted uuid[];
  orphans uuid[];
  res record;
begin
  if batch_size is null or batch_size < 1 or batch_size > 10000 then
    raise exception 'batch_size must be between 1 and 10000' using errcode = '22023';
  end if;
  run := profile_sync.reconcile_running_run(run_id);

  -- the page, classed as the pass found it; users that failed earlier in this run are not retried
  with page as (
    select q.user_id as id, q.drift from profile_sync.reconcile_queue q
    where q.user_id >= coalesce(run.cursor, '00000000-0000-0000-0000-000000000000') and q.user_id is distinct from run.cursor
    order by q.user_id
    limit batch_size
  ),
  classified as (
    select pg.id, pg.drift, f.user_id is not null as failed_in_run
    from page pg
    left join profile_sync.failures f on f.user_id = pg.id and f.last_seen >= run.started_at
  )
  select
    count(*)::integer,
    (array_agg(c.id order by c.id desc))[1],
    count(*) filter (where c.drift = 'missing')::integer,
    count(*) filter (where c.drift = 'stale')::integer,
    count(*) filter (where c.drift = 'orphaned')::integer,
    array_agg(c.id order by c.id) filter (where not c.failed_in_run),
    array_agg(c.id) filter (where c.drift = 'orphaned')
  into page_size, page_last, n_missing, n_stale, n_orphaned, drifted, orphans
  from classified c;

  select * into res from profile_sync.reconcile_sync(drifted, default_role, self_assignable_roles) s;

  -- bookkeeping of users deleted behind the cascade's back (FK dropped, replication role replica)
  delete from profile_sync.profile_state s
  where s.user_id = any (orphans) and not exists (select 1 from auth.users u where u.id = s.user_id);

  update profile_sync.runs r set
    cursor = coalesce(page_last, r.cursor),
    scanned = r.scanned + page_size,
    missing = r.missing + n_missing,
    stale = r.stale + n_stale,
    orphaned = r.orphaned + n_orphaned,
    created = r.created + res.created,
    updated = r.updated + res.updated,
    deleted = r.deleted + res.deleted,
    unchanged = r.unchanged + res.unchanged,
    failed = r.failed + res.failed,
    heartbeat_at = now()
  where r.id = run.id;

  return query select
    coalesce(page_last, run.cursor), page_size, page_size < batch_size, n_missing, n_stale, n_orphaned,
    res.created, res.updated, res.deleted, res.failed;
end
$$;

/*
 * profile_sync.reconcile_finish(run_id, status, error): ends a run as complete (the pass is done:
 * its queue is emptied), partial (time budget spent; the next run resumes from the cursor) or
 * failed, and releases the lock. Callers: postgres, service_role, in the session that began the run.
 */
create or replace function profile_sync.reconcile_finish(run_id bigint, status text, error text default null)
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  if status is null or status not in ('complete', 'partial', 'failed') then
    raise exception 'status must be complete, partial or failed' using errcode = '22023';
  end if;
  update profile_sync.runs r set
    status = reconcile_finish.status,
    finished_at = now(),
    heartbeat_at = now(),
    error = left(reconcile_finish.error, 1000)
  where r.id = run_id and r.status = 'running';
  if status = 'complete' and profile_sync.reconcile_lock_holder() = pg_catalog.pg_backend_pid() then
    truncate profile_sync.reconcile_queue;
  end if;
  if profile_sync.reconcile_lock_holder() = pg_catalog.pg_backend_pid() then
    perform pg_catalog.pg_advisory_unlock(20261121, 400);
  end if;
end
$$;

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

revoke execute on all functions in schema profile_sync from public, anon, authenticated;
grant execute on function profile_sync.drift_counts(integer) to service_role;
grant execute on function profile_sync.reconcile_status() to service_role;
grant execute on function profile_sync.reconcile_dry_run(integer) to service_role;
grant execute on function profile_sync.reconcile_begin(integer) to service_role;
grant execute on function profile_sync.reconcile_retry_failures(bigint, integer, text, text[]) to service_role;
grant execute on function profile_sync.reconcile_batch(bigint, integer, text, text[]) to service_role;
grant execute on function profile_sync.reconcile_finish(bigint, text, text) to service_role;
