-- The sync core: the three-way merge (sync_decisions) and the one statement that applies it
-- (sync_users). Every path (auth-webhook, sync-profile, reconcile) syncs through sync_users.

/*
 * profile_sync.sync_decisions(ids, default_role, self_assignable_roles)
 *
 * What a sync of the given users would do, without doing it: one row per distinct id with the
 * profile and the bookkeeping it should have, whether either differs from what is stored, and the
 * outcome. The three-way merge lives here, and only here (this definition replaces the one in
 * 20261121000200_create_sync_core.sql).
 * A plain STABLE SQL query with no SET clause, so the planner inlines it into sync_users (whose
 * search_path is empty: every name is schema-qualified). Internal: called by sync_users only.
 */
create or replace function profile_sync.sync_decisions(
  ids uuid[],
  default_role text,
  self_assignable_roles text[]
)
returns table (
  user_id uuid,
  in_auth boolean,
  has_profile boolean,
  has_state boolean,
  -- true when the profile and bookkeeping below are to be written (in auth, not an older state)
  applies boolean,
  profile_changes boolean,
  state_changes boolean,
  outcome text,
  email text,
  phone text,
  full_name text,
  avatar_url text,
  role text,
  provider text,
  is_anonymous boolean,
  email_confirmed_at timestamptz,
  last_sign_in_at timestamptz,
  deleted_at timestamptz,
  -- the bookkeeping row as it should be after this sync (synced_at = now())
  state profile_sync.profile_state
)
language sql
stable
as $$
  with wanted as (
    select distinct w.id from pg_catalog.unnest(ids) as w (id) where w.id is not null
  ),
  source as (
    select
      w.id,
      u.id is not null as in_auth,
      p.id is not null as has_profile,
      s.user_id is not null as has_state,
      u.updated_at as auth_updated_at,
      u.deleted_at is not null as soft_deleted,
      nullif(u.email, '') as a_email,
      nullif(u.phone, '') as a_phone,
      profile_sync.clean_text(u.raw_app_meta_data -> 'provider', 100) as a_provider,
      coalesce(u.is_anonymous, false) as a_is_anonymous,
      u.email_confirmed_at as a_email_confirmed_at,
      u.last_sign_in_at as a_last_sign_in_at,
      u.deleted_at as a_deleted_at,
      profile_sync.full_name_from(u.raw_user_meta_data) as a_full_name,
      profile_sync.avatar_url_from(u.raw_user_meta_data) as a_avatar_url,
      profile_sync.clean_text(u.raw_app_meta_data -> 'role', 100) as app_role,
      profile_sync.clean_text(u.raw_user_meta_data -> 'role', 100) as claimed_role,
      p.email as p_email, p.phone as p_phone, p.full_name as p_full_name, p.avatar_url as p_avatar_url,
      p.role as p_role, p.provider as p_provider, p.is_anonymous as p_is_anonymous,
      p.email_confirmed_at as p_email_confirmed_at, p.last_sign_in_at as p_last_sign_in_at,
      p.deleted_at as p_deleted_at,
      s.synced_full_name as st_full_name, s.synced_avatar_url as st_avatar_url, s.synced_role as st_role,
      s.full_name_edited as st_fn_edited, s.avatar_url_edited as st_av_edited, s.role_edited as st_ro_edited,
      s.initial_role as st_initial_role, s.auth_updated_at as st_auth_updated_at
    -- Each table is read through its primary key for exactly the wanted ids, whatever the
    -- statistics said when the plan was made (sync_users reuses its plans and forbids seq scans;
    -- see there): one index scan per table for the whole batch (= any over the sorted ids walks
    -- the index once), the rows matched by hashing. The closing offset 0 keeps this a subquery
    -- of its own, so the mapping above is computed once per user: pulled up into the levels
    -- below, every reference to a_full_name, a_avatar_url … would compute it again.
    from wanted w
    left join (select * from auth.users x where x.id = any (ids)) u on u.id = w.id
    left join (select * from public.profiles x where x.id = any (ids)) p on p.id = w.id
    left join (select * from profile_sync.profile_state x where x.user_id = any (ids)) s on s.user_id = w.id
    offset 0
  ),
  merged as (
    select
      src.*,
      coalesce(src.st_fn_edited, false)
        or (src.has_profile and src.p_full_name is distinct from src.st_full_name) as fn_edited,
      coalesce(src.st_av_edited, false)
        or (src.has_profile and src.p_avatar_url is distinct from src.st_avatar_url) as av_edited,
      coalesce(src.st_ro_edited, false)
        or (src.has_profile and src.p_role is distinct from src.st_role) as ro_edited,
      coalesce(
        src.st_initial_role,
        case
          when not src.has_profile and src.claimed_role = any (self_assignable_roles) then src.claimed_role
          else default_role
        end
      ) as base_role,
      -- version guard: an auth state older than the one last synced is never applied
      src.st_auth_updated_at is not null and src.auth_updated_at is not null
        and src.auth_updated_at < src.st_auth_updated_at as is_older
    from source src
  ),
  target as (
    select
      m.*,
      m.in_auth and not m.is_older as applies,
      case when m.soft_deleted then null when m.fn_edited then m.p_full_name else m.a_full_name end as n_full_name,
      case when m.soft_deleted then null when m.av_edited then m.p_avatar_url else m.a_avatar_url end as n_avatar_url,
      case when m.ro_edited then m.p_role else coalesce(m.app_role, m.base_role) end as n_role,
      case when m.soft_deleted then null else m.a_email end as n_email,
      case when m.soft_deleted then null else m.a_phone end as n_phone
    from merged m
  ),
  decided as (
    select
      t.*,
      not t.has_profile
        or t.p_email is distinct from t.n_email
        or t.p_phone is distinct from t.n_phone
        or t.p_full_name is distinct from t.n_full_name
        or t.p_avatar_url is distinct from t.n_avatar_url
        or t.p_role is distinct from t.n_role
        or t.p_provider is distinct from t.a_provider
        or t.p_is_anonymous is distinct from t.a_is_anonymous
        or t.p_email_confirmed_at is distinct from t.a_email_confirmed_at
        or t.p_last_sign_in_at is distinct from t.a_last_sign_in_at
        or t.p_deleted_at is distinct from t.a_deleted_at as profile_changes,
      -- what auth said, the base of the next merge; cleared with the personal data on soft delete
      case when t.soft_deleted then null when t.fn_edited then t.st_full_name else t.n_full_name end as s_full_name,
      case when t.soft_deleted then null when t.av_edited then t.st_avatar_url else t.n_avatar_url end as s_avatar_url,
      case when t.ro_edited then t.st_role else t.n_role end as s_role,
      t.fn_edited and not t.soft_deleted as s_fn_edited,
      t.av_edited and not t.soft_deleted as s_av_edited
    from target t
  )
  select
    d.id,
    d.in_auth,
    d.has_profile,
    d.has_state,
    d.applies,
    d.profile_changes,
    (d.st_full_name, d.st_avatar_url, d.st_role, d.st_fn_edited, d.st_av_edited, d.st_ro_edited,
     d.st_initial_role, d.st_auth_updated_at)
      is distinct from
        (d.s_full_name, d.s_avatar_url, d.s_role, d.s_fn_edited, d.s_av_edited, d.ro_edited,
         d.base_role, d.auth_updated_at),
    case
      when not d.in_auth then case when d.has_profile then 'deleted' else 'not_found' end
      when d.is_older then 'unchanged'
      when d.soft_deleted and (not d.has_profile or d.p_deleted_at is null) then 'deleted'
      when not d.has_profile then 'created'
      when d.profile_changes then 'updated'
      else 'unchanged'
    end,
    d.n_email, d.n_phone, d.n_full_name, d.n_avatar_url, d.n_role, d.a_provider, d.a_is_anonymous,
    d.a_email_confirmed_at, d.a_last_sign_in_at, d.a_deleted_at,
    row(d.id, d.s_full_name, d.s_avatar_url, d.s_role, d.s_fn_edited, d.s_av_edited, d.ro_edited,
        d.base_role, d.auth_updated_at, now())::profile_sync.profile_state
  from decided d
$$;

/*
 * profile_sync.sync_users(ids, default_role, self_assignable_roles)
 *
 * Makes each listed user's profile true to the current auth.users row, set-based, and returns
 * one (user_id, outcome) per distinct id: created | updated | unchanged | deleted, or not_found
 * for an id that has neither an auth user nor a profile.
 *
 * Rules (DESIGN "Profile rules"): auth-owned fields always follow auth; full_name, avatar_url and
 * role follow auth until the app edits them (current value differs from the value last synced),
 * then never again; role comes from raw_app_meta_data.role, else (at creation only) from user
 * metadata when allowlisted, else default_role; a soft-deleted user keeps a tombstone with
 * personal fields cleared; a user gone from auth loses the profile. Nothing changed, nothing written.
 * The merge itself is profile_sync.sync_decisions.
 *
 * Concurrency: syncs of the same user are serialised by advisory locks on 1024 key ranges (the
 * first 10 bits of the id; taken in key order, so syncs never deadlock each other), then the
 * existing profile rows are locked in id order (the order in which Auth's delete cascades);
 * only then is auth read, so each sync sees the newest committed auth row and every earlier sync.
 * An auth version older than the one last synced is never applied.
 *
 * Callers: the edge functions over SUPABASE_DB_URL (postgres) and service_role. Security definer.
 */
create or replace function profile_sync.sync_users(
  ids uuid[],
  default_role text default 'user',
  self_assignable_roles text[] default '{}'
)
returns table (user_id uuid, outcome text)
language plpgsql
volatile
security definer
set search_path = ''
-- Planned once per session and reused (planning the inlined merge costs milliseconds, more than
-- a one-user sync). The reused plan must not depend on how big the tables were when it was made:
-- every table access is a probe by primary key (no seq scans), and rows passed between the
-- statement's parts are matched by hashing (no nested loops over them). These settings only steer
-- plan choice, for the length of the call (triggers an app puts on public.profiles included).
set plan_cache_mode = force_generic_plan
set enable_seqscan = off
set enable_nestloop = off
as $$
begin
  if default_role is null or btrim(default_role) = '' then
    raise exception 'default_role must be a non-empty role name' using errcode = '22023';
  end if;

  -- Syncs of the same user run one after another: each takes a transaction-level advisory lock
  -- on the key range of each of its users, one of 1024 (the first 10 bits of the id: a batch of
  -- any size holds at most 1024 locks), all in key order (so concurrent syncs never deadlock one
  -- another). Two users in the same range merely wait for each other. A reconcile batch walks
  -- consecutive ids, so it holds two or three ranges, not most of them: batches on parallel
  -- connections, and webhooks during a backfill, rarely wait.
  perform pg_catalog.pg_advisory_xact_lock(1886548852, b.bucket)
    from (
      select distinct (pg_catalog.get_byte(pg_catalog.uuid_send(i.id), 0) * 4
        + pg_catalog.get_byte(pg_catalog.uuid_send(i.id), 1) / 64)::integer as bucket
      from unnest(ids) as i (id)
      where i.id is not null
    ) b
    order by b.bucket;

  -- Then the existing profiles, in id order: the order in which Auth deleting a user cascades
  -- (profiles, then profile_state). Taken the other way round, a sync and Auth's delete of the
  -- same user can deadlock, and the one aborted may be Auth's delete
  -- (tests/reliability/auth_deletes_racing_syncs.test.ts).
  perform 1 from public.profiles p
    where p.id = any (ids)
    order by p.id
    for no key update;

  -- A new statement: a fresh snapshot taken after the locks, so auth is read as of now and every
  -- earlier sync of these users is seen.
  return query
  with decided as materialized (
    select d.* from profile_sync.sync_decisions(ids, default_role, self_assignable_roles) d
  ),
  upserted as (
    insert into public.profiles as p (
      id, email, phone, full_name, avatar_url, role, provider, is_anonymous,
      email_confirmed_at, last_sign_in_at, deleted_at
    )
    select
      d.user_id, d.email, d.phone, d.full_name, d.avatar_url, d.role, d.provider, d.is_anonymous,
      d.email_confirmed_at, d.last_sign_in_at, d.deleted_at
    from decided d
    where d.applies and d.profile_changes
    order by d.user_id
    on conflict (id) do update set
      email = excluded.email,
      phone = excluded.phone,
      full_name = excluded.full_name,
      avatar_url = excluded.avatar_url,
      role = excluded.role,
      provider = excluded.provider,
      is_anonymous = excluded.is_anonymous,
      email_confirmed_at = excluded.email_confirmed_at,
      last_sign_in_at = excluded.last_sign_in_at,
      deleted_at = excluded.deleted_at
    returning p.id
  ),
  state_written as (
    -- First syncs insert their bookkeeping; later ones update it, only when something moved.
    insert into profile_sync.profile_state as s
    select (d.state).* from decided d
    where d.applies and (not d.has_state or d.profile_changes or d.state_changes)
    order by d.user_id
    on conflict on constraint profile_state_pkey do update set
      synced_full_name = excluded.synced_full_name,
      synced_avatar_url = excluded.synced_avatar_url,
      synced_role = excluded.synced_role,
      full_name_edited = excluded.full_name_edited,
      avatar_url_edited = excluded.avatar_url_edited,
      role_edited = excluded.role_edited,
      initial_role = excluded.initial_role,
      auth_updated_at = excluded.auth_updated_at,
      synced_at = excluded.synced_at
    returning s.user_id
  ),
  removed as (
    delete from public.profiles p
    where p.id = any (array(select d.user_id from decided d where not d.in_auth))
    returning p.id
  )
  -- upserted, state_written and removed run to completion whether or not they are read
  select d.user_id, d.outcome from decided d order by d.user_id;
end
$$;

comment on function profile_sync.sync_users(uuid[], text, text[]) is
  'Sync the profiles of the given auth user ids from the current auth.users rows. '
  'Returns (user_id, outcome) with outcome created|updated|unchanged|deleted|not_found.';
