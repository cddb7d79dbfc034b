-- profile-sync core, generated from supabase/schemas/ by `npm run gen:migrations`: edit those
-- files, not this one.

-- ==============================================================================================
-- supabase/schemas/00_schema.sql
-- ==============================================================================================

-- profile_sync: the private schema holding the one sync core every path calls, its settings and
-- its bookkeeping. Nothing here is reachable by anon or authenticated (grants: 90_grants.sql).
create schema if not exists profile_sync;

-- The extensions the push path and the schedule use, where the database offers them (Supabase
-- does), in schema extensions as Supabase enables them (an extension created without a schema
-- lands in public, which Supabase's Security Advisor flags). pg_net keeps its own schema net
-- whatever is asked. pg_cron also needs shared_preload_libraries and cron.database_name: if it
-- cannot load here, say so and go on. Everything applies cleanly where they are absent: the
-- trigger then only warns, and reconcile is not scheduled.
do $$
begin
  if exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_net') then
    create schema if not exists extensions;
    create extension if not exists pg_net with schema extensions;
  end if;
exception when others then
  raise warning 'profile_sync: pg_net could not be enabled (%): auth.users changes will not be sent', sqlerrm;
end
$$;

do $$
begin
  if exists (select 1 from pg_catalog.pg_available_extensions where name = 'pg_cron') then
    create extension if not exists pg_cron;
  end if;
exception when others then
  raise warning 'profile_sync: pg_cron could not be enabled (%): reconcile is not scheduled', sqlerrm;
end
$$;

-- ==============================================================================================
-- supabase/schemas/10_profile_state.sql
-- ==============================================================================================

-- What was last taken from auth for each user: the base of the three-way merge (app edits win),
-- the sticky app-edit flags, the creation-time role decision, and the auth version that guards
-- against applying an older state.
--
-- No foreign key to auth.users: its insert-time key check (a key-share lock on the auth user per
-- row, through SPI) cost about as much as writing the row, and the profile written in the same
-- statement takes that lock already. What its cascade did, the trigger
-- profile_sync_auth_user_forgotten does (50_auth_users_triggers.sql). The drift scans read
-- (user_id, auth_updated_at) from the primary key alone (INCLUDE), so no second index is kept.
create table if not exists profile_sync.profile_state (
  user_id uuid not null,
  synced_full_name text,
  synced_avatar_url text,
  synced_role text,
  full_name_edited boolean not null default false,
  avatar_url_edited boolean not null default false,
  role_edited boolean not null default false,
  initial_role text,
  auth_updated_at timestamptz,
  synced_at timestamptz,
  constraint profile_state_pkey primary key (user_id) include (auth_updated_at)
);
comment on table profile_sync.profile_state is
  'Per-user sync bookkeeping: values last synced from auth, sticky app-edit flags, auth version. '
  'Deleted with the auth user (trigger profile_sync_auth_user_forgotten).';
alter table profile_sync.profile_state enable row level security;

-- ==============================================================================================
-- supabase/schemas/20_profiles.sql
-- ==============================================================================================

-- public.profiles: one row per auth user, kept true to auth.users by profile_sync.
-- RLS on; a signed-in user reads their own row and may edit only full_name and avatar_url;
-- anon gets nothing. Grants are explicit (90_grants.sql): new public tables are no longer
-- auto-granted.
create table if not exists public.profiles (
  id uuid primary key references auth.users (id) on delete cascade,
  email text,
  phone text,
  full_name text,
  avatar_url text,
  role text not null default 'user',
  provider text,
  is_anonymous boolean not null default false,
  email_confirmed_at timestamptz,
  last_sign_in_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  deleted_at timestamptz
);

comment on table public.profiles is
  'One profile per auth user, maintained by profile-sync. email/phone/provider/is_anonymous/'
  'email_confirmed_at/last_sign_in_at follow auth; full_name/avatar_url/role keep app edits.';

create or replace function public.profiles_touch_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

create or replace trigger profiles_touch_updated_at
  before update on public.profiles
  for each row execute function public.profiles_touch_updated_at();

alter table public.profiles enable row level security;

drop policy if exists "Users can read their own profile" on public.profiles;
create policy "Users can read their own profile"
  on public.profiles for select to authenticated
  using ((select auth.uid()) = id);

drop policy if exists "Users can update their own profile" on public.profiles;
create policy "Users can update their own profile"
  on public.profiles for update to authenticated
  using ((select auth.uid()) = id)
  with check ((select auth.uid()) = id);

-- ==============================================================================================
-- supabase/schemas/30_text_normalisers.sql
-- ==============================================================================================

-- The mapping helpers: how a value from auth becomes profile text. Plain SQL expressions, so the
-- planner inlines them into the statements that call them.

/*
 * The mapping helpers below are plain SQL expressions with no SET clause and no FROM, so the
 * planner inlines them into the statements that call them (a SET search_path would forbid
 * inlining and cost a function call with a GUC save/restore per value: most of the time of a
 * reconcile, see docs/benchmarks.md). Every name in them is schema-qualified instead, and
 * pg_catalog is searched first, so no caller's search_path can change what they mean.
 */

/*
 * profile_sync.clean_text(value, max_length): a JSON value as profile text.
 * Only JSON strings count (arrays, objects, numbers give null); trimmed; blank gives null;
 * cut to max_length characters so a 10,000-character name cannot bloat a profile.
 */
create or replace function profile_sync.clean_text(value jsonb, max_length integer)
returns text
language sql
immutable
parallel safe
as $$
  select case when pg_catalog.jsonb_typeof(value) = 'string'
    then nullif(pg_catalog.left(pg_catalog.btrim(value #>> '{}'), max_length), '')
  end
$$;

/*
 * profile_sync.full_name_from(user_metadata): first non-blank of full_name, name, user_name,
 * preferred_username (Google/Discord: name; GitHub: user_name; Azure: full_name only).
 */
create or replace function profile_sync.full_name_from(user_metadata jsonb)
returns text
language sql
immutable
parallel safe
as $$
  select coalesce(
    profile_sync.clean_text(user_metadata -> 'full_name', 200),
    profile_sync.clean_text(user_metadata -> 'name', 200),
    profile_sync.clean_text(user_metadata -> 'user_name', 200),
    profile_sync.clean_text(user_metadata -> 'preferred_username', 200)
  )
$$;

/*
 * profile_sync.avatar_url_from(user_metadata): avatar_url, else picture (Google, Discord);
 * only http(s) URLs, so a javascript: or data: value never reaches an <img src>.
 * (regexp_substr of a pattern anchored at both ends is the whole value or null: one
 * expression, so it inlines.)
 */
create or replace function profile_sync.avatar_url_from(user_metadata jsonb)
returns text
language sql
immutable
parallel safe
as $$
  select pg_catalog.regexp_substr(
    coalesce(
      profile_sync.clean_text(user_metadata -> 'avatar_url', 2048),
      profile_sync.clean_text(user_metadata -> 'picture', 2048)
    ),
    '^https?://[^[:space:]]+$', 1, 1, 'i'
  )
$$;

-- ==============================================================================================
-- supabase/schemas/40_sync_core.sql
-- ==============================================================================================

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

-- ==============================================================================================
-- supabase/schemas/50_auth_users_triggers.sql
-- ==============================================================================================

-- The triggers profile-sync puts on auth.users.
-- The push path: after insert, delete and relevant updates, a Standard-Webhooks-signed Database
-- Webhook goes to the auth-webhook function through pg_net (sent after commit). URL and secret
-- come from the Vault secrets profile_sync_webhook_url / profile_sync_webhook_secret. Any failure
-- is a warning: the auth write always goes on. Applies cleanly where pg_net and Vault are absent.
-- And the bookkeeping: a deleted user's profile_state goes with it.

/*
 * profile_sync.auth_user_webhook_record(u): the columns of an auth.users row the webhook carries.
 * An allowlist, so a secret column (encrypted_password, *_token) never leaves the database, even
 * one Auth adds later. Internal; called by the trigger function only.
 * No `set search_path` and every name qualified: a SET clause would stop Postgres inlining this
 * into the trigger's expression, which costs each signup a function call.
 */
create or replace function profile_sync.auth_user_webhook_record(u auth.users)
returns jsonb
language sql
stable
as $$
  select pg_catalog.jsonb_build_object(
    'id', u.id,
    'email', u.email,
    'phone', u.phone,
    'raw_user_meta_data', u.raw_user_meta_data,
    'raw_app_meta_data', u.raw_app_meta_data,
    'is_anonymous', u.is_anonymous,
    'email_confirmed_at', u.email_confirmed_at,
    'last_sign_in_at', u.last_sign_in_at,
    'created_at', u.created_at,
    'updated_at', u.updated_at,
    'deleted_at', u.deleted_at
  )
$$;

/*
 * profile_sync.base64_secret_key(secret): the HMAC key of a Standard Webhooks secret: the base64
 * after `v1,whsec_` / `whsec_`, decoded; missing `=` padding is restored, as the JS library allows it.
 * Internal; raises on a malformed secret without quoting it.
 */
create or replace function profile_sync.base64_secret_key(secret text)
returns bytea
language plpgsql
immutable
set search_path = ''
as $$
declare
  b64 text := pg_catalog.regexp_replace(secret, '^(v1,)?whsec_', '');
begin
  if secret !~ '^(v1,)?whsec_[A-Za-z0-9+/]+={0,2}$' then
    raise exception 'profile_sync_webhook_secret must be v1,whsec_<base64> (several joined by spaces or |)'
      using errcode = '22023';
  end if;
  return pg_catalog.decode(pg_catalog.rpad(b64, ((pg_catalog.length(b64) + 3) / 4) * 4, '='), 'base64');
end
$$;

/*
 * profile_sync.standard_webhook_signature(msg_id, msg_timestamp, body, secrets): the
 * `webhook-signature` header value of Standard Webhooks: `v1,` || base64(HMAC-SHA256(key,
 * msg_id.msg_timestamp.body)), key = base64-decoded secret after `v1,whsec_` / `whsec_`.
 * Several secrets (joined by spaces or |) give several signatures joined by a space.
 * body must be the exact text sent: for net.http_post that is payload::text.
 * Internal; raises on a malformed secret (the caller turns that into a warning).
 * No `set search_path` (it runs on every signup; the trigger calls it with search_path ''),
 * so every name and operator it relies on is pg_catalog's or qualified.
 */
create or replace function profile_sync.standard_webhook_signature(
  msg_id text,
  msg_timestamp bigint,
  body text,
  secrets text
)
returns text
language plpgsql
stable
as $$
declare
  message bytea := pg_catalog.convert_to(msg_id || '.' || msg_timestamp::text || '.' || body, 'UTF8');
  b64 text;
  secret text;
  signatures text[] := '{}';
begin
  -- The usual case, one well-formed secret: no split, one regexp, no helper call.
  if secrets ~ '^(v1,)?whsec_[A-Za-z0-9+/]+={0,2}$' then
    b64 := pg_catalog.substr(secrets, pg_catalog.strpos(secrets, '_') + 1);
    return 'v1,' || pg_catalog.translate(pg_catalog.encode(extensions.hmac(
      message,
      pg_catalog.decode(pg_catalog.rpad(b64, ((pg_catalog.length(b64) + 3) / 4) * 4, '='), 'base64'),
      'sha256'
    ), 'base64'), E'\n', '');
  end if;
  -- Rotation (several secrets) or something to reject with base64_secret_key's message.
  for secret in
    select s from pg_catalog.regexp_split_to_table(pg_catalog.btrim(secrets), '[[:space:]|]+') as s where s <> ''
  loop
    signatures := signatures || ('v1,' || pg_catalog.translate(pg_catalog.encode(
      extensions.hmac(message, profile_sync.base64_secret_key(secret), 'sha256'), 'base64'), E'\n', ''));
  end loop;
  if pg_catalog.cardinality(signatures) = 0 then
    raise exception 'profile_sync_webhook_secret is empty' using errcode = '22023';
  end if;
  return pg_catalog.array_to_string(signatures, ' ');
end
$$;

/*
 * profile_sync.notify_auth_user_change(): trigger function on auth.users (after insert, update of
 * a synced column, delete). Builds the Database Webhook payload {type, table, schema, record,
 * old_record} with non-secret columns only, signs it and queues it with net.http_post (sent by
 * pg_net after commit; 5 s timeout, pg_net does not retry: reconcile repairs what is lost).
 * Never fails the auth write: a missing pg_net or Vault secret, or any error, is a warning.
 * Runs as its owner (security definer) because Auth's role may not read Vault.
 * It runs inside every signup, so it checks nothing up front: a missing Vault or pg_net shows
 * up as the error of the statement that needs it, which the handler names.
 */
create or replace function profile_sync.notify_auth_user_change()
returns trigger
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  webhook_url text;
  webhook_secret text;
  payload jsonb;
  msg_id text;
  msg_timestamp bigint;
  stage text := 'vault';
begin
  begin
    select
        (select s.decrypted_secret from vault.decrypted_secrets s where s.name = 'profile_sync_webhook_url' limit 1),
        (select s.decrypted_secret from vault.decrypted_secrets s where s.name = 'profile_sync_webhook_secret' limit 1)
      into webhook_url, webhook_secret;
    if coalesce(webhook_url, '') = '' or coalesce(webhook_secret, '') = '' then
      raise warning 'profile_sync: Vault secrets profile_sync_webhook_url and profile_sync_webhook_secret '
        'must be set; % on auth.users not sent to auth-webhook', tg_op;
      return null;
    end if;

    stage := 'sign';
    payload := pg_catalog.jsonb_build_object(
      'type', tg_op,
      'table', tg_table_name,
      'schema', tg_table_schema,
      'record', case when tg_op <> 'DELETE' then profile_sync.auth_user_webhook_record(new) end,
      'old_record', case when tg_op <> 'INSERT' then profile_sync.auth_user_webhook_record(old) end
    );
    msg_id := 'msg_' || pg_catalog.gen_random_uuid()::text;
    -- The wall clock, not now(): the receiver allows 5 minutes from this moment.
    msg_timestamp := pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()))::bigint;

    -- pg_net sends convert_to(body::text, 'UTF8'): sign exactly payload::text. A timeout above
    -- pg_net's 1 s webhook default, for a cold-started function.
    stage := 'net';
    perform net.http_post(
      url := webhook_url,
      body := payload,
      params := '{}'::jsonb,
      headers := pg_catalog.jsonb_build_object(
        'Content-Type', 'application/json',
        'webhook-id', msg_id,
        'webhook-timestamp', msg_timestamp::text,
        'webhook-signature', profile_sync.standard_webhook_signature(msg_id, msg_timestamp, payload::text, webhook_secret)
      ),
      timeout_milliseconds := 5000
    );
  exception when others then
    -- 3F000: no such schema; 42P01: no such relation; 42883: no such function (or signature).
    if stage = 'vault' and sqlstate in ('3F000', '42P01') then
      raise warning 'profile_sync: Vault is not available; % on auth.users not sent to auth-webhook (%)', tg_op, sqlerrm;
    elsif stage = 'net' and sqlstate in ('3F000', '42883') and sqlerrm ~ 'net' then
      raise warning 'profile_sync: pg_net (net.http_post(text, jsonb, jsonb, jsonb, integer)) is not installed; '
        '% on auth.users not sent to auth-webhook (%)', tg_op, sqlerrm;
    else
      raise warning 'profile_sync: % on auth.users not sent to auth-webhook: % (SQLSTATE %)', tg_op, sqlerrm, sqlstate;
    end if;
  end;
  return null;
end
$$;

create or replace trigger profile_sync_auth_user_inserted_or_deleted
  after insert or delete on auth.users
  for each row execute function profile_sync.notify_auth_user_change();

create or replace trigger profile_sync_auth_user_updated
  after update on auth.users
  for each row
  when (
    old.email is distinct from new.email
    or old.phone is distinct from new.phone
    or old.raw_user_meta_data is distinct from new.raw_user_meta_data
    or old.raw_app_meta_data is distinct from new.raw_app_meta_data
    or old.is_anonymous is distinct from new.is_anonymous
    or old.email_confirmed_at is distinct from new.email_confirmed_at
    or old.last_sign_in_at is distinct from new.last_sign_in_at
    or old.deleted_at is distinct from new.deleted_at
  )
  execute function profile_sync.notify_auth_user_change();

/*
 * profile_sync.forget_deleted_user(): trigger function on auth.users (after delete, per row):
 * removes the deleted user's bookkeeping, as the foreign key's cascade did. Never raises for a
 * user that has none. Security definer: Auth's role may not touch profile_sync.
 */
create or replace function profile_sync.forget_deleted_user()
returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  delete from profile_sync.profile_state s where s.user_id = old.id;
  return null;
end
$$;

create or replace trigger profile_sync_auth_user_forgotten
  after delete on auth.users
  for each row execute function profile_sync.forget_deleted_user();

-- ==============================================================================================
-- supabase/schemas/60_drift.sql
-- ==============================================================================================

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
      left join public.profiles p on p.id = u.id
      left join profile_sync.profile_state s on s.user_id = u.id$s$
    when side = 'users' then $s$
      unnest($1::integer[]) as b (bucket)
      cross join lateral (
        select u.id, u.updated_at, p.id as p_id, s.user_id as s_user_id, s.auth_updated_at
        from auth.users u
        left join public.profiles p on p.id = u.id
        left join profile_sync.profile_state s on s.user_id = u.id
        where u.id between (lpad(to_hex(b.bucket), 4, '0') || '0000-0000-0000-0000-000000000000')::uuid
          and (lpad(to_hex(b.bucket), 4, '0') || 'ffff-ffff-ffff-ffff-ffffffffffff')::uuid
        offset 0  -- keep it a per-range index scan, whatever the row estimates say
      ) u
      cross join lateral (select u.p_id as id) p
      cross join lateral (select u.s_user_id as user_id, u.auth_updated_at) s$s$
    when buckets is null then 'public.profiles p left join auth.users a on a.id = p.id'
    else $s$
      unnest($1::integer[]) as b (bucket)
      cross join lateral (
        select p.id, a.id as a_id from public.profiles p
        left join auth.users a on a.id = p.id
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
as $$
declare
  -- about what classifying ranges row by row costs as much as one pass over a million users
  range_rows_limit constant bigint := 60000;
  ranges constant integer := 65536;
  n_users bigint;
  n_profiles bigint;
  totals record;
  differing integer[];
begin
  -- estimates are enough to tell "most users differ" (e.g. all missing); the live statistics
  -- follow every write, the planner's only the last analyze: the larger of the two
  n_users := profile_sync.estimated_rows('auth.users'::regclass);
  n_profiles := profile_sync.estimated_rows('public.profiles'::regclass);
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
as $$
  select d.auth_users, d.profiles, e.missing, e.stale, e.orphaned, e.samples
  from profile_sync.drift_scope() d
  cross join lateral profile_sync.drift_exact(d.buckets, per_class) e
$$;

-- ==============================================================================================
-- supabase/schemas/70_reconcile.sql
-- ==============================================================================================

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
  to_walk bigint := 0;
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
    execute format(
      'insert into profile_sync.reconcile_queue (user_id, drift)
       select u.id, case when %2$s then ''missing'' else ''stale'' end from %1$s where %3$s or %4$s
       union all select p.id, ''orphaned'' from %5$s where %6$s
       order by 1',
      profile_sync.drift_from(scope.buckets, 'users'), profile_sync.drift_is('missing'),
      case when walk then 'false' else profile_sync.drift_is('missing') end, profile_sync.drift_is('stale'),
      profile_sync.drift_from(scope.buckets, 'profiles'), profile_sync.drift_is('orphaned'))
      using scope.buckets;
    get diagnostics queued = row_count;
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
    and (select p.id from public.profiles p where p.id = u.id) is null
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
      -- the key range sync_users locks for this id (20261122000500)
      pg_catalog.get_byte(pg_catalog.uuid_send(a.id), 0) * 4
        + pg_catalog.get_byte(pg_catalog.uuid_send(a.id), 1) / 64 as key_range
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
 * profile_sync.reconcile_sync_page(run_id, page_from, page_last, default_role,
 * self_assignable_roles): syncs the run's queued ids and walked users in (page_from, page_last],
 * leaving out users that already failed in this run, through reconcile_sync (a failing user is
 * isolated and recorded). Needs no lock: any connection may sync a page the lock holder handed
 * out. Callers: postgres, service_role.
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
  walks boolean;
  ids uuid[];
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
  select * into created, updated, deleted, unchanged, failed
  from profile_sync.reconcile_sync(ids, default_role, self_assignable_roles);
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
 * profile_sync.reconcile_finish(run_id, status, error): ends a run as complete (the pass is done:
 * its queue is emptied), partial (time budget spent; the next run resumes from the cursor) or
 * failed, and releases the lock. A run that created or deleted more than a tenth of the profiles
 * (and at least 1,000) analyzes public.profiles' key first. Callers: postgres, service_role,
 * in the session that began the run.
 */
create or replace function profile_sync.reconcile_finish(run_id bigint, status text, error text default null)
returns void
language plpgsql
volatile
security definer
set search_path = ''
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
  if changed >= greatest(1000, profile_sync.estimated_rows('public.profiles'::regclass) / 10) then
    analyze public.profiles (id);
  end if;
  if status = 'complete' and profile_sync.reconcile_lock_holder() = pg_catalog.pg_backend_pid() then
    truncate profile_sync.reconcile_queue;
  end if;
  if profile_sync.reconcile_lock_holder() = pg_catalog.pg_backend_pid() then
    perform pg_catalog.pg_advisory_unlock(20261121, 400);
  end if;
end
$$;

-- ==============================================================================================
-- supabase/schemas/80_status.sql
-- ==============================================================================================

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

-- ==============================================================================================
-- supabase/schemas/85_schedule.sql
-- ==============================================================================================

-- The schedule: pg_cron calls POST /functions/v1/reconcile through pg_net every 10 minutes, with
-- the URL and the admin key read from the Vault secrets profile_sync_reconcile_url and
-- profile_sync_admin_key at each run. Where pg_cron is not offered this schedules nothing and
-- applies cleanly. Change it with profile_sync.schedule_reconcile('<cron>'); stop it with
-- profile_sync.unschedule_reconcile() (README "Scheduling").

/*
 * profile_sync.schedule_reconcile(schedule): (re)schedules the pg_cron job
 * 'profile-sync-reconcile' (same name: replaces the schedule) with a cron expression, default
 * every 10 minutes. The job posts to the URL in Vault 'profile_sync_reconcile_url' with the key in
 * Vault 'profile_sync_admin_key' as apikey; both are read when the job runs, so rotating a secret
 * needs no reschedule. Each call works 8 s and answers within pg_net's 10 s timeout (a timed-out
 * call would look like a failed delivery); the next call resumes where it stopped. pg_net does not
 * retry: a lost call is made good by the next one. Returns the job id. Raises 55000 without
 * pg_cron. Callers: the database owner only.
 */
create or replace function profile_sync.schedule_reconcile(schedule text default '*/10 * * * *')
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  if pg_catalog.to_regnamespace('cron') is null then
    raise exception 'pg_cron is not installed: enable it (create extension pg_cron) first'
      using errcode = '55000';
  end if;
  return cron.schedule('profile-sync-reconcile', schedule, $job$
    select net.http_post(
      url := (select decrypted_secret from vault.decrypted_secrets where name = 'profile_sync_reconcile_url'),
      headers := jsonb_build_object(
        'Content-Type', 'application/json',
        'apikey', (select decrypted_secret from vault.decrypted_secrets where name = 'profile_sync_admin_key')
      ),
      body := '{"time_budget_ms": 8000}'::jsonb,
      timeout_milliseconds := 10000
    )
  $job$);
end
$$;

/*
 * profile_sync.unschedule_reconcile(): removes the 'profile-sync-reconcile' job; false when there
 * was none (or no pg_cron). Callers: the database owner only.
 */
create or replace function profile_sync.unschedule_reconcile()
returns boolean
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  -- two statements: cron.job can only be planned once pg_cron is known to be there
  if pg_catalog.to_regnamespace('cron') is null then
    return false;
  end if;
  if not exists (select 1 from cron.job where jobname = 'profile-sync-reconcile') then
    return false;
  end if;
  return cron.unschedule('profile-sync-reconcile');
end
$$;

-- Schedule once: a job already there (perhaps with a schedule the operator chose) is left alone.
do $$
begin
  if pg_catalog.to_regnamespace('cron') is null then
    raise notice 'profile_sync: pg_cron is not installed; reconcile is not scheduled';
  elsif not exists (select 1 from cron.job where jobname = 'profile-sync-reconcile') then
    perform profile_sync.schedule_reconcile();
  end if;
end
$$;

-- ==============================================================================================
-- supabase/schemas/90_grants.sql
-- ==============================================================================================

-- Every grant profile-sync makes, in one place. Nothing in profile_sync is reachable by anon or
-- authenticated; service_role (the admin credential's role) may call the entry points; the
-- schedule is the database owner's alone.
revoke all on schema profile_sync from public, anon, authenticated;
grant usage on schema profile_sync to service_role;

revoke all on all tables in schema profile_sync from public, anon, authenticated;
grant select on table profile_sync.runs to service_role;
grant select on table profile_sync.failures to service_role;

revoke execute on all functions in schema profile_sync from public, anon, authenticated;
revoke execute on function profile_sync.schedule_reconcile(text) from service_role;
revoke execute on function profile_sync.unschedule_reconcile() from service_role;
grant execute on function profile_sync.sync_users(uuid[], text, text[]) to service_role;
grant execute on function profile_sync.drift_counts(integer) to service_role;
grant execute on function profile_sync.reconcile_status() to service_role;
grant execute on function profile_sync.reconcile_dry_run(integer) to service_role;
grant execute on function profile_sync.reconcile_begin(integer) to service_role;
grant execute on function profile_sync.reconcile_page(bigint, uuid, integer) to service_role;
grant execute on function profile_sync.reconcile_sync_page(bigint, uuid, uuid, text, text[]) to service_role;
grant execute on function profile_sync.reconcile_advance(bigint, uuid, uuid, integer, integer[], integer[]) to service_role;
grant execute on function profile_sync.reconcile_retry_failures(bigint, integer, text, text[]) to service_role;
grant execute on function profile_sync.reconcile_finish(bigint, text, text) to service_role;

revoke execute on function public.profiles_touch_updated_at() from public, anon, authenticated;
revoke all on table public.profiles from public, anon, authenticated;
grant select on table public.profiles to authenticated;
grant update (full_name, avatar_url) on table public.profiles to authenticated;
grant select, insert, update, delete on table public.profiles to service_role;
