-- Drift between auth.users and the profiles: missing (auth user without a profile), stale (auth
-- changed after the last sync) and orphaned (profile without an auth user), measured in SQL:
-- whole-table checksums first, then per-key-range checksums, then exact classification only of
-- the ranges that differ. Read only.

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
set jit = off
as $$
  select greatest(pg_catalog.pg_stat_get_live_tuples(rel), c.reltuples::bigint, 0)
  from pg_catalog.pg_class c
  where c.oid = rel
$$;

/*
 * profile_sync.drift_buckets(): the cheap half of drift detection. Splits the key space into 65536
 * id ranges (the first 16 bits of the uuid) and compares, per range, order-independent checksums
 * (XOR of 64-bit hashes): auth.users (id, updated_at) against profile_state (user_id,
 * auth_updated_at), and profile_state ids against profiles ids. A range is in sync when both
 * match: every auth user has a profile and bookkeeping at its current version, and nothing else.
 * No joins: each table is read once, in chunks of one statement each (auth.users by heap ranges
 * of ctid; our tables by key ranges, from their indexes). A false "in sync" needs a 64-bit hash
 * collision. Writes only a temporary table. Callers: drift_counts.
 */
create or replace function profile_sync.drift_buckets()
returns table (bucket integer, auth_users bigint, profiles bigint, in_sync boolean)
language plpgsql
volatile  -- fills a temporary table
security definer
set search_path = ''
set jit = off
set work_mem = '64MB'  -- up to 65536 groups per chunk, hashed in memory
as $$
declare
  bucket_of constant text := 'get_byte(uuid_send(%1$s), 0) * 256 + get_byte(uuid_send(%1$s), 1)';
  version_hash constant text := 'uuid_hash_extended(%s, coalesce(hashfloat8(date_part(''epoch'', %s)), 0))';
  -- quarters of the key space, for the chunks of our own tables
  quarters constant text[] := array[
    '%1$s < ''40000000-0000-0000-0000-000000000000''',
    '%1$s >= ''40000000-0000-0000-0000-000000000000'' and %1$s < ''80000000-0000-0000-0000-000000000000''',
    '%1$s >= ''80000000-0000-0000-0000-000000000000'' and %1$s < ''c0000000-0000-0000-0000-000000000000''',
    '%1$s >= ''c0000000-0000-0000-0000-000000000000'''];
  quarter text;
  part text;
  parts text[] := '{}';
  pages bigint;
  chunk bigint;
  lo bigint := 0;
begin
  -- auth.users: heap chunks by ctid (we may not index it, and updated_at is in the heap anyway)
  pages := pg_catalog.pg_relation_size('auth.users') / pg_catalog.current_setting('block_size')::bigint;
  -- 16384 pages (128 MB) a chunk: a statement estimated well below jit_above_cost at any row width
  chunk := 16384;
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
      'select ''p'', %s, count(*), bit_xor(uuid_hash_extended(p.id, 0)), 0::bigint from profile_sync.targets p where %s group by 2',
      format(bucket_of, 'p.id'), format(quarter, 'p.id'));
    parts := parts || format(
      'select ''s'', %s, count(*), bit_xor(uuid_hash_extended(s.user_id, 0)), bit_xor(%s)
       from profile_sync.profile_state s where %s group by 2',
      format(bucket_of, 's.user_id'), format(version_hash, 's.user_id', 's.auth_updated_at'), format(quarter, 's.user_id'));
  end loop;

  -- each chunk a statement of its own (at a million users, the scan of all of them in one
  -- statement is estimated well past jit_above_cost); the per-range sums meet in a temporary table
  create temporary table if not exists profile_sync_drift_chunks (
    src text, bucket integer, n bigint, ids bigint, versions bigint
  ) on commit drop;
  truncate pg_temp.profile_sync_drift_chunks;
  foreach part in array parts loop
    execute 'insert into pg_temp.profile_sync_drift_chunks (src, bucket, n, ids, versions) ' || part;
  end loop;

  return query
    with by_bucket as (
      select c.bucket,
        coalesce(sum(c.n) filter (where c.src = 'u'), 0)::bigint as u_n,
        coalesce(sum(c.n) filter (where c.src = 'p'), 0)::bigint as p_n,
        coalesce(sum(c.n) filter (where c.src = 's'), 0)::bigint as s_n,
        coalesce(bit_xor(c.ids) filter (where c.src = 'p'), 0) as p_ids,
        coalesce(bit_xor(c.ids) filter (where c.src = 's'), 0) as s_ids,
        coalesce(bit_xor(c.versions) filter (where c.src = 'u'), 0) as u_versions,
        coalesce(bit_xor(c.versions) filter (where c.src = 's'), 0) as s_versions
      from pg_temp.profile_sync_drift_chunks c
      group by c.bucket
    )
    select b.bucket, b.u_n, b.p_n,
      b.u_n = b.s_n and b.u_versions = b.s_versions and b.s_n = b.p_n and b.s_ids = b.p_ids
    from by_bucket b;
end
$$;

/*
 * profile_sync._checksum(source): one table's count and checksums for drift_totals: its ids
 * (XOR of their hashes) and their versions (auth.users.updated_at, profile_state.auth_updated_at).
 * One statement per table (at a million users, the three in one are estimated near
 * jit_above_cost), each through RETURN QUERY, which may use parallel workers (SELECT INTO may
 * not). Internal.
 */
create or replace function profile_sync._checksum(source text)
returns table (n bigint, ids bigint, versions bigint)
language plpgsql
stable
set search_path = ''
set jit = off
rows 1
as $$
begin
  if source = 'auth.users' then
    return query select count(*), 0::bigint,
      coalesce(bit_xor(uuid_hash_extended(u.id, coalesce(hashfloat8(date_part('epoch', u.updated_at)), 0))), 0)
    from auth.users u;
  elsif source = 'targets' then
    return query select count(*), coalesce(bit_xor(uuid_hash_extended(p.id, 0)), 0), 0::bigint
    from profile_sync.targets p;
  else
    return query select count(*), coalesce(bit_xor(uuid_hash_extended(s.user_id, 0)), 0),
      coalesce(bit_xor(uuid_hash_extended(s.user_id, coalesce(hashfloat8(date_part('epoch', s.auth_updated_at)), 0))), 0)
    from profile_sync.profile_state s;
  end if;
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
language sql
stable
security definer
set search_path = ''
set jit = off
as $$
  select u.n, p.n, u.n = s.n and u.versions = s.versions and s.n = p.n and s.ids = p.ids
  from profile_sync._checksum('auth.users') u, profile_sync._checksum('targets') p, profile_sync._checksum('profile_state') s
$$;

/*
 * profile_sync._bucket_bound(bucket, last): the first (or last) id of a drift_buckets range.
 * Inlined into its callers. Internal.
 */
create or replace function profile_sync._bucket_bound(bucket integer, last boolean)
returns uuid
language sql
immutable
parallel safe
as $$
  select (pg_catalog.lpad(pg_catalog.to_hex(bucket), 4, '0')
    || case when last then 'ffff-ffff-ffff-ffff-ffffffffffff' else '0000-0000-0000-0000-000000000000' end)::uuid
$$;

/*
 * profile_sync._auth_users_in(bucket), profile_sync._targets_in(bucket): the auth users and the
 * target's keys in one id range of drift_buckets (the first 16 bits of the id), read through the
 * primary key. Functions with a row count of their own (16: a million users fill a range with 15),
 * because the planner cannot see a range's bounds when they come from a column: it guesses 0.5 % of
 * the table per range (5,000 rows at a million users), costs the statement that reads a few hundred
 * ranges past jit_above_cost, and probes or hashes for rows that are not there. Internal.
 */
create or replace function profile_sync._auth_users_in(bucket integer)
returns table (id uuid, updated_at timestamptz)
language sql
stable
set search_path = ''
set jit = off
rows 16
as $$
  select u.id, u.updated_at from auth.users u
  where u.id between profile_sync._bucket_bound(bucket, false) and profile_sync._bucket_bound(bucket, true)
$$;

create or replace function profile_sync._targets_in(bucket integer)
returns table (id uuid)
language sql
stable
set search_path = ''
set jit = off
rows 16
as $$
  select p.id from profile_sync.targets p
  where p.id between profile_sync._bucket_bound(bucket, false) and profile_sync._bucket_bound(bucket, true)
$$;

/*
 * profile_sync._bucket_chunks(buckets): buckets in key order, in chunks of at most 200 ranges
 * (about 3,000 users at a million): each drift statement over id ranges reads one chunk, so none
 * is estimated near jit_above_cost however many ranges differ. One null chunk for null (the whole
 * tables), none for no buckets. Internal.
 */
create or replace function profile_sync._bucket_chunks(buckets integer[])
returns setof integer[]
language sql
immutable
set search_path = ''
rows 10
as $$
  select null::integer[] where buckets is null
  union all
  select pg_catalog.array_agg(b.bucket order by b.bucket)
  from (select x.bucket, pg_catalog.row_number() over (order by x.bucket) - 1 as n from pg_catalog.unnest(buckets) as x (bucket)) b
  group by b.n / 200
  order by 1
$$;

/*
 * profile_sync.drift_from(buckets, side): the FROM clause that drift detection reads, as SQL
 * text: side 'users' gives auth users u with their profile p and bookkeeping s; side 'profiles'
 * gives profiles p with their auth user a (a.id null when there is none). With buckets
 * (parameter $1), only those id ranges, each read through the primary keys; without (null),
 * whole tables, joined by hash. Internal.
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
      left join profile_sync.targets p on p.id = u.id
      left join profile_sync.profile_state s on s.user_id = u.id$s$
    when side = 'users' then $s$
      unnest($1::integer[]) as b (bucket)
      cross join lateral profile_sync._auth_users_in(b.bucket) u
      left join profile_sync.targets p on p.id = u.id
      left join profile_sync.profile_state s on s.user_id = u.id$s$
    when buckets is null then 'profile_sync.targets p left join auth.users a on a.id = p.id'
    else $s$
      unnest($1::integer[]) as b (bucket)
      cross join lateral profile_sync._targets_in(b.bucket) p
      left join auth.users a on a.id = p.id$s$
  end
$$;

/*
 * profile_sync.drift_is(drift): the condition, as SQL text over drift_from's rows, for a drift class:
 *   missing  = auth user without a profile;
 *   stale    = profile whose auth row changed after it was last synced (or never synced here);
 *   orphaned = profile without an auth user (over side 'profiles', whose rows carry the auth
 *              user as a: in id ranges it is probed range by range, never hashed whole).
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
    when 'orphaned' then 'a.id is null'
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
set jit = off
set work_mem = '64MB'
as $$
declare
  chunk integer[];
  users_src text;
  profiles_src text;
  n_missing bigint := 0;
  n_stale bigint := 0;
  n_orphaned bigint := 0;
  c_missing bigint;
  c_stale bigint;
  c_orphaned bigint;
  part jsonb;
  sampled jsonb := '{"missing": [], "stale": [], "orphaned": []}';
begin
  -- chunk by chunk of ranges (_bucket_chunks), in key order
  for chunk in select * from profile_sync._bucket_chunks(buckets) loop
    users_src := profile_sync.drift_from(chunk, 'users');
    profiles_src := profile_sync.drift_from(chunk, 'profiles');
    execute format('select count(*) filter (where %s), count(*) filter (where %s) from %s',
      profile_sync.drift_is('missing'), profile_sync.drift_is('stale'), users_src)
      using chunk into c_missing, c_stale;
    execute format('select count(*) from %s where %s', profiles_src, profile_sync.drift_is('orphaned'))
      using chunk into c_orphaned;
    n_missing := n_missing + c_missing;
    n_stale := n_stale + c_stale;
    n_orphaned := n_orphaned + c_orphaned;

    if per_class > 0 and c_missing + c_stale + c_orphaned > 0 and (
      pg_catalog.jsonb_array_length(sampled -> 'missing') < per_class
      or pg_catalog.jsonb_array_length(sampled -> 'stale') < per_class
      or pg_catalog.jsonb_array_length(sampled -> 'orphaned') < per_class
    ) then
      execute format($q$select jsonb_build_object(
          'missing', (select coalesce(jsonb_agg(x.id order by x.id), '[]') from
            (select u.id from %1$s where %2$s order by u.id limit $2) x),
          'stale', (select coalesce(jsonb_agg(x.id order by x.id), '[]') from
            (select u.id from %1$s where %3$s order by u.id limit $2) x),
          'orphaned', (select coalesce(jsonb_agg(x.id order by x.id), '[]') from
            (select p.id from %4$s where %5$s order by p.id limit $2) x))$q$,
        users_src, profile_sync.drift_is('missing'), profile_sync.drift_is('stale'),
        profiles_src, profile_sync.drift_is('orphaned')) using chunk, per_class into part;
      -- the first per_class of each class in key order (chunks come in key order)
      select pg_catalog.jsonb_object_agg(k.class, (
          select coalesce(pg_catalog.jsonb_agg(e.id order by e.n), '[]')
          from pg_catalog.jsonb_array_elements((sampled -> k.class) || (part -> k.class)) with ordinality as e (id, n)
          where e.n <= per_class))
        into sampled
        from pg_catalog.unnest(array['missing', 'stale', 'orphaned']) as k (class);
    end if;
  end loop;
  return query select n_missing, n_stale, n_orphaned, sampled;
end
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
set jit = off
as $$
declare
  -- about what classifying ranges row by row costs as much as one pass over a million users; the
  -- setting profile_sync.range_rows_limit overrides it (tests reach "drift everywhere", and with
  -- it reconcile's walk of missing users, with thousands of users instead of tens of thousands)
  range_rows_limit constant bigint := coalesce(
    nullif(pg_catalog.current_setting('profile_sync.range_rows_limit', true), '')::bigint, 60000);
  ranges constant integer := 65536;
  n_users bigint;
  n_profiles bigint;
  totals record;
  differing integer[];
begin
  -- estimates are enough to tell "most users differ" (e.g. all missing); the live statistics
  -- follow every write, the planner's only the last analyze: the larger of the two
  n_users := profile_sync.estimated_rows('auth.users'::regclass);
  n_profiles := profile_sync.estimated_rows(profile_sync.target_table());
  if abs(n_users - n_profiles) > range_rows_limit then
    select count(*) into n_users from auth.users;
    select count(*) into n_profiles from profile_sync.targets;
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
set jit = off
as $$
  select d.auth_users, d.profiles, e.missing, e.stale, e.orphaned, e.samples
  from profile_sync.drift_scope() d
  cross join lateral profile_sync.drift_exact(d.buckets, per_class) e
$$;
