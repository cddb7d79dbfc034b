-- Durable delivery: the queue of auth users whose change auth-webhook has not synced yet
-- (profile_sync.deliveries), how a drain claims and settles it, retries with backoff, dead
-- letters, replay, the hourly history, and the pg_cron drain procedure (docs/reliability.md).
--
-- A table, not pgmq: pgmq is not on every database profile-sync targets (stock Debian Postgres,
-- older Supabase projects), and a pgmq queue cannot say "one row per user": its messages are
-- append-only, so a user changed five times while the function is down would be five messages.
-- Here the user id is the key: a later change of a waiting user adds nothing (the core reads the
-- current auth.users row anyway), and a bulk import is one insert of n keys.
--
-- The protocol (why claim and settle are two transactions): a drain first claims due rows in a
-- short transaction of its own (claimed_at, a lease in due_at), then syncs them and settles them
-- in a second. A change of a claimed user meanwhile marks the row changed_again (a short row
-- lock, never a wait on a sync in progress), and settle keeps that row due instead of removing
-- it: no change made during a sync is lost, and an auth write never waits for a sync to finish.

create table if not exists profile_sync.deliveries (
  user_id uuid not null,
  -- when the change was first queued (the age status and doctor report)
  queued_at timestamptz not null default pg_catalog.now(),
  -- when a drain may claim it: now for a new change, later for a retry, the lease while claimed
  due_at timestamptz not null default pg_catalog.now(),
  -- set while a drain holds it (a lease: claimed rows are due again when due_at passes)
  claimed_at timestamptz,
  -- the user changed again while claimed: settle keeps the row due
  changed_again boolean not null default false,
  attempts integer not null default 0,
  error_code text,
  last_error text,
  constraint_name text,
  -- a dead letter: attempts ran out; `profile-sync replay --dead` (or a new change) revives it
  dead_at timestamptz,
  constraint deliveries_pkey primary key (user_id)
);
comment on table profile_sync.deliveries is
  'Auth users changed and not yet synced by auth-webhook (one row per user), retries and dead letters. '
  'Written by the auth.users triggers; drained by auth-webhook and the pg_cron job profile-sync-drain.';
-- What a drain claims: the live rows in due order (dead letters are not in it).
create index if not exists deliveries_due_idx on profile_sync.deliveries (due_at) where dead_at is null;
alter table profile_sync.deliveries enable row level security;

-- Per hour: users delivered (synced), attempts that failed and were rescheduled, rows that died.
create table if not exists profile_sync.delivery_hours (
  hour timestamptz not null,
  delivered bigint not null default 0,
  retried bigint not null default 0,
  dead bigint not null default 0,
  constraint delivery_hours_pkey primary key (hour)
);
comment on table profile_sync.delivery_hours is
  'Hourly delivered / retried / dead counts of the delivery queue; kept delivery_settings.history_days days.';
alter table profile_sync.delivery_hours enable row level security;

-- The queue's settings (one row): how long the hourly history is kept, how many attempts a row gets.
create table if not exists profile_sync.delivery_settings (
  singleton boolean primary key default true constraint delivery_settings_singleton check (singleton),
  history_days integer not null default 90
    constraint delivery_settings_history_days_check check (history_days between 1 and 3650),
  max_attempts integer not null default 8
    constraint delivery_settings_max_attempts_check check (max_attempts between 1 and 100)
);
comment on table profile_sync.delivery_settings is
  'Delivery queue settings: history_days (hourly history retention), max_attempts (before a dead letter).';
alter table profile_sync.delivery_settings enable row level security;
insert into profile_sync.delivery_settings (singleton) values (true) on conflict (singleton) do nothing;

/*
 * profile_sync.delivery_backoff(attempt): how long a row waits after its attempt-th failure:
 * 5 s × 7^(attempt-1), at most 10 h, ±20 % jitter (so rows that failed together do not retry
 * together). With 8 attempts: 5 s, 35 s, 4 min, 29 min, 3.3 h, 10 h, 10 h: about 24 h in all,
 * Svix's schedule (8 attempts over ~27 h) in shape. Internal.
 */
create or replace function profile_sync.delivery_backoff(attempt integer)
returns interval
language sql
volatile
set search_path = ''
as $$
  select pg_catalog.make_interval(secs =>
    least(36000, 5 * pg_catalog.power(7, greatest(attempt, 1) - 1)) * (0.8 + 0.4 * pg_catalog.random()))
$$;

/*
 * profile_sync.enqueue_users(ids): queues the users (the triggers' one insert): a user already
 * waiting adds nothing; one claimed by a drain is marked changed_again; a dead letter is revived
 * (the change may be what it needed). Returns how many rows it wrote. Internal: the triggers.
 */
create or replace function profile_sync.enqueue_users(ids uuid[])
returns bigint
language sql
volatile
set search_path = ''
set jit = off
as $$
  with written as (
    -- in user id order, as settle_deliveries locks them: a bulk auth write and a settle never
    -- deadlock on the queue's rows
    insert into profile_sync.deliveries as d (user_id)
    select distinct i.id from pg_catalog.unnest(ids) as i (id) where i.id is not null order by 1
    on conflict (user_id) do update set
      changed_again = d.claimed_at is not null,
      due_at = case when d.dead_at is not null then pg_catalog.now() else d.due_at end,
      attempts = case when d.dead_at is not null then 0 else d.attempts end,
      dead_at = null
    where d.claimed_at is not null or d.dead_at is not null
    returning 1
  )
  select count(*) from written
$$;

/*
 * profile_sync.claim_deliveries(max_rows, user_ids): claims up to max_rows due rows (oldest due
 * first, `for update skip locked`: concurrent drains take different rows) and leases them for
 * 2 minutes; returns their user ids. user_ids (a compat payload's user) are queued if absent,
 * made due now and claimed first, unless another drain holds them. Run it in a transaction of
 * its own (autocommit), then settle_deliveries: a claim still open while its users sync would
 * hold their queue rows, so Auth changing one of them would wait for the sync, and Auth deleting
 * one (the cascade locks the profile, then the trigger queues the user) would deadlock with it.
 * Callers: auth-webhook, the CLI, drain_deliveries.
 */
create or replace function profile_sync.claim_deliveries(max_rows integer default 500, user_ids uuid[] default '{}')
returns table (user_id uuid)
language plpgsql
volatile
security definer
set search_path = ''
set jit = off
as $$
#variable_conflict use_column
begin
  if pg_catalog.cardinality(user_ids) > 0 then
    -- in user id order, as enqueue_users and settle_deliveries lock them: two calls naming the
    -- same users (auth-webhook's batches of single-record payloads) never deadlock
    insert into profile_sync.deliveries as d (user_id)
    select distinct i.id from pg_catalog.unnest(user_ids) as i (id) where i.id is not null order by 1
    on conflict (user_id) do update set due_at = pg_catalog.now(), dead_at = null,
      attempts = case when d.dead_at is not null then 0 else d.attempts end
    where d.claimed_at is null or d.due_at <= pg_catalog.now();
    return query
    update profile_sync.deliveries d
    set claimed_at = pg_catalog.now(), changed_again = false, due_at = pg_catalog.now() + interval '2 minutes'
    where d.user_id in (
      select q.user_id from profile_sync.deliveries q
      where q.user_id = any (user_ids) and q.dead_at is null and q.due_at <= pg_catalog.now()
      for update skip locked)
    returning d.user_id;
  end if;
  return query
  update profile_sync.deliveries d
  set claimed_at = pg_catalog.now(), changed_again = false, due_at = pg_catalog.now() + interval '2 minutes'
  where d.user_id in (
    select q.user_id from profile_sync.deliveries q
    where q.dead_at is null and q.due_at <= pg_catalog.now()
    order by q.due_at
    limit greatest(max_rows, 0)
    for update skip locked)
  returning d.user_id;
end
$$;

/*
 * profile_sync.settle_deliveries(ids, source): syncs claimed users in one call of the core
 * (sync_isolated) and settles their rows: a synced user's row goes (or is due again at once if
 * the user changed while claimed); a failed one (a constraint, recorded in profile_sync.failures,
 * or a transient error of the whole batch) is rescheduled with delivery_backoff, and after
 * max_attempts becomes a dead letter with the last error, its SQLSTATE, the constraint name and
 * the attempt count. One failing user never holds back the others (sync_isolated). Adds the
 * counts to the hour's history and prunes what is past retention. Returns (user_id, outcome).
 * Callers: auth-webhook, the CLI, drain_deliveries.
 */
create or replace function profile_sync.settle_deliveries(ids uuid[], source text default 'auth-webhook')
returns table (user_id uuid, outcome text)
language plpgsql
volatile
security definer
set search_path = ''
set jit = off
as $$
#variable_conflict use_column
declare
  wanted uuid[] := array(select distinct i.id from pg_catalog.unnest(ids) as i (id) where i.id is not null order by 1);
  synced_ids uuid[];
  outcomes text[];
  err_code text;
  err_message text;
  n_delivered bigint;
  n_retried bigint;
  n_dead bigint;
  new_hour boolean;
  cfg record;
begin
  if pg_catalog.cardinality(wanted) = 0 then
    return;
  end if;
  select s.history_days, s.max_attempts into cfg from profile_sync.delivery_settings s;
  begin
    select pg_catalog.array_agg(r.user_id order by r.user_id), pg_catalog.array_agg(r.outcome order by r.user_id)
      into synced_ids, outcomes
      from profile_sync.sync_isolated(wanted, source) r;
  exception when others then
    -- a transient error of the whole batch (lock, serialization, resources): every row retries
    get stacked diagnostics err_code = returned_sqlstate, err_message = message_text;
    synced_ids := wanted;
    outcomes := pg_catalog.array_fill('failed'::text, array[pg_catalog.cardinality(wanted)]);
  end;

  -- the rows settled below, locked first in user id order (the order enqueue_users writes them
  -- in): the three updates below would otherwise lock them in any order and could deadlock with
  -- a bulk auth write marking the same users changed again, leaving the batch claimed until its
  -- lease ran out
  perform 1 from profile_sync.deliveries d where d.user_id = any (wanted) order by d.user_id for update;

  with r as (
    select r.id, r.outcome from rows from (pg_catalog.unnest(synced_ids), pg_catalog.unnest(outcomes)) as r (id, outcome)
  ),
  gone as (
    delete from profile_sync.deliveries d using r
    where d.user_id = r.id and r.outcome <> 'failed' and not d.changed_again
    returning 1
  ),
  again as (
    update profile_sync.deliveries d
    set claimed_at = null, changed_again = false, due_at = pg_catalog.now(), attempts = 0,
      error_code = null, last_error = null, constraint_name = null
    from r
    where d.user_id = r.id and r.outcome <> 'failed' and d.changed_again
    returning 1
  ),
  failed as (
    update profile_sync.deliveries d
    set attempts = d.attempts + 1,
      claimed_at = null,
      changed_again = false,
      due_at = case when d.changed_again then pg_catalog.now()
        else pg_catalog.now() + profile_sync.delivery_backoff(d.attempts + 1) end,
      dead_at = case when d.attempts + 1 >= cfg.max_attempts and not d.changed_again then pg_catalog.now() end,
      error_code = coalesce(f.error_code, err_code),
      last_error = coalesce(f.error_message, pg_catalog.left(err_message, 500)),
      constraint_name = f.constraint_name
    from r left join profile_sync.failures f on f.user_id = r.id
    where d.user_id = r.id and r.outcome = 'failed'
    returning d.dead_at is not null as dead
  )
  select
    (select count(*) from gone) + (select count(*) from again),
    (select count(*) from failed where not dead),
    (select count(*) from failed where dead)
  into n_delivered, n_retried, n_dead;

  -- The hour's counts, last (the one row concurrent drains share is locked only until commit).
  insert into profile_sync.delivery_hours as h (hour, delivered, retried, dead)
  values (pg_catalog.date_trunc('hour', pg_catalog.now()), n_delivered, n_retried, n_dead)
  on conflict (hour) do update set
    delivered = h.delivered + excluded.delivered,
    retried = h.retried + excluded.retried,
    dead = h.dead + excluded.dead
  returning h.xmax = 0 into new_hour;
  if new_hour then
    delete from profile_sync.delivery_hours h where h.hour < pg_catalog.now() - pg_catalog.make_interval(days => cfg.history_days);
  end if;

  return query select r.id, r.outcome from rows from (pg_catalog.unnest(synced_ids), pg_catalog.unnest(outcomes)) as r (id, outcome);
end
$$;

-- Earlier versions claimed and settled a single-record payload's users in one transaction
-- (deliver_users). Its claim held the users' queue rows while the sync waited for its locks, and
-- Auth deleting one of them (the cascade's profile lock, then its queue row) deadlocked with it:
-- auth-webhook now claims and settles in two transactions, as every drain does.
drop function if exists profile_sync.deliver_users(uuid[], text);

/*
 * profile_sync.drain_deliveries(max_rows, max_batches): the pg_cron drain (job profile-sync-drain):
 * claims and settles batches, committing after each claim and each settle (the protocol above),
 * until nothing is due or max_batches ran. A procedure: `call profile_sync.drain_deliveries()`
 * outside a transaction block. Security invoker and no SET clause (either would forbid its
 * commits), so every name is qualified; claim and settle carry the search_path and jit guards.
 * Callers: the database owner (pg_cron runs the job as the owner).
 */
create or replace procedure profile_sync.drain_deliveries(max_rows integer default 500, max_batches integer default 20)
language plpgsql
as $$
declare
  ids uuid[];
  batch integer := 0;
begin
  loop
    select pg_catalog.array_agg(c.user_id) into ids from profile_sync.claim_deliveries(max_rows) c;
    commit;
    exit when ids is null;
    perform from profile_sync.settle_deliveries(ids, 'pg_cron');
    commit;
    batch := batch + 1;
    exit when batch >= max_batches;
  end loop;
end
$$;

/*
 * profile_sync.delivery_status(): the queue at a glance (status, doctor, the dashboard): queued
 * (live rows), oldest_due_age_s (seconds the oldest due row has waited, 0 when none is due),
 * retrying (live rows that failed at least once), dead (dead letters). Read only.
 * Callers: postgres, service_role.
 */
create or replace function profile_sync.delivery_status()
returns table (queued bigint, oldest_due_age_s bigint, retrying bigint, dead bigint)
language sql
stable
security definer
set search_path = ''
set jit = off
as $$
  select
    count(*) filter (where d.dead_at is null),
    coalesce(pg_catalog.floor(pg_catalog.date_part('epoch',
      pg_catalog.now() - min(d.due_at) filter (where d.dead_at is null and d.due_at <= pg_catalog.now() and d.claimed_at is null))), 0)::bigint,
    count(*) filter (where d.dead_at is null and d.attempts > 0),
    count(*) filter (where d.dead_at is not null)
  from profile_sync.deliveries d
$$;

/*
 * profile_sync.delivery_list(dead, max_rows): the rows `profile-sync deliveries` shows: the live
 * ones (dead = false) in due order, or the dead letters (dead = true), newest first. User ids and
 * error details only, never personal data. Callers: postgres, service_role.
 */
create or replace function profile_sync.delivery_list(dead boolean default false, max_rows integer default 100)
returns table (
  user_id uuid, queued_at timestamptz, due_at timestamptz, claimed boolean, attempts integer,
  error_code text, last_error text, constraint_name text, dead_at timestamptz
)
language sql
stable
security definer
set search_path = ''
set jit = off
as $$
  (select d.user_id, d.queued_at, d.due_at, d.claimed_at is not null, d.attempts, d.error_code, d.last_error,
      d.constraint_name, d.dead_at
    from profile_sync.deliveries d
    where not delivery_list.dead and d.dead_at is null
    order by d.due_at
    limit max_rows)
  union all
  (select d.user_id, d.queued_at, d.due_at, d.claimed_at is not null, d.attempts, d.error_code, d.last_error,
      d.constraint_name, d.dead_at
    from profile_sync.deliveries d
    where delivery_list.dead and d.dead_at is not null
    order by d.dead_at desc
    limit max_rows)
$$;

/*
 * profile_sync.replay_deliveries(user_ids, dead, since): queues users again, due now: the given
 * ids (whether or not they exist: a deleted user's profile is then removed), every dead letter
 * (dead), and/or every auth user created or updated at or after since. Returns how many rows
 * were queued or revived. Callers: postgres, service_role (`profile-sync replay`).
 */
create or replace function profile_sync.replay_deliveries(
  user_ids uuid[] default '{}',
  dead boolean default false,
  since timestamptz default null
)
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
set jit = off
as $$
#variable_conflict use_column
declare
  n bigint;
begin
  with wanted as (
    select i.id from pg_catalog.unnest(user_ids) as i (id) where i.id is not null
    union
    select d.user_id from profile_sync.deliveries d where replay_deliveries.dead and d.dead_at is not null
    union
    select u.id from auth.users u where since is not null and greatest(u.created_at, u.updated_at) >= since
  ),
  written as (
    insert into profile_sync.deliveries as d (user_id)
    select w.id from wanted w
    on conflict (user_id) do update set
      -- a row a drain holds keeps its lease and is settled as changed again
      due_at = case when d.claimed_at is not null then d.due_at else pg_catalog.now() end,
      changed_again = d.claimed_at is not null,
      dead_at = null,
      attempts = 0
    returning 1
  )
  select count(*) into n from written;
  return n;
end
$$;

/*
 * profile_sync.delivery_history(since): the hourly history from since on: (hour, delivered,
 * retried, dead), oldest first; hours without activity are absent. Callers: postgres,
 * service_role (the dashboard).
 */
create or replace function profile_sync.delivery_history(since timestamptz)
returns table (hour timestamptz, delivered bigint, retried bigint, dead bigint)
language sql
stable
security definer
set search_path = ''
set jit = off
as $$
  select h.hour, h.delivered, h.retried, h.dead
  from profile_sync.delivery_hours h
  where h.hour >= pg_catalog.date_trunc('hour', since)
  order by h.hour
$$;

/*
 * profile_sync.set_delivery_settings(history_days, max_attempts): how long the hourly history is
 * kept (days, 1–3650, default 90) and how many attempts a row gets before it is a dead letter
 * (1–100, default 8); null keeps a value. Callers: the database owner, service_role.
 */
create or replace function profile_sync.set_delivery_settings(history_days integer default null, max_attempts integer default null)
returns void
language sql
volatile
security definer
set search_path = ''
as $$
  update profile_sync.delivery_settings s set
    history_days = coalesce(set_delivery_settings.history_days, s.history_days),
    max_attempts = coalesce(set_delivery_settings.max_attempts, s.max_attempts)
$$;
