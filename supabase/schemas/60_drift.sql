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
      'select ''p'', %s, count(*), bit_xor(uuid_hash_extended(p.id, 0)), 0::bigint from profile_sync.targets p where %s group by 2',
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
set jit = off
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
    select count(*) as n, coalesce(bit_xor(uuid_hash_extended(p.id, 0)), 0) as ids from profile_sync.targets p
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
      cross join lateral (
        select u.id, u.updated_at, p.id as p_id, s.user_id as s_user_id, s.auth_updated_at
        from auth.users u
        -- a key probe per user, never a join: the planner cannot see a range's bounds, guesses
        -- 0.5 % of auth.users per range, and where the profiles are few beside auth.users (a bulk
        -- import) it hashed all of them and profile_state once per range, ~17,000 times
        -- (20,000 users: reconcile_begin 7.2 s → 0.3 s)
        left join lateral (select p.id from profile_sync.targets p where p.id = u.id offset 0) p on true
        left join lateral (
          select s.user_id, s.auth_updated_at from profile_sync.profile_state s where s.user_id = u.id offset 0
        ) s on true
        where u.id between (lpad(to_hex(b.bucket), 4, '0') || '0000-0000-0000-0000-000000000000')::uuid
          and (lpad(to_hex(b.bucket), 4, '0') || 'ffff-ffff-ffff-ffff-ffffffffffff')::uuid
        offset 0  -- keep it a per-range index scan, whatever the row estimates say
      ) u
      cross join lateral (select u.p_id as id) p
      cross join lateral (select u.s_user_id as user_id, u.auth_updated_at) s$s$
    when buckets is null then 'profile_sync.targets p left join auth.users a on a.id = p.id'
    else $s$
      unnest($1::integer[]) as b (bucket)
      cross join lateral (
        select p.id, a.id as a_id from profile_sync.targets p
        left join lateral (select a.id from auth.users a where a.id = p.id offset 0) a on true
        where p.id between (lpad(to_hex(b.bucket), 4, '0') || '0000-0000-0000-0000-000000000000')::uuid
          and (lpad(to_hex(b.bucket), 4, '0') || 'ffff-ffff-ffff-ffff-ffffffffffff')::uuid
        offset 0
      ) p
      cross join lateral (select p.a_id as id) a$s$
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
