-- profile_sync: the private schema holding the one sync core every path calls.
-- Nothing here is reachable by anon or authenticated.
create schema if not exists profile_sync;
revoke all on schema profile_sync from public, anon, authenticated;
grant usage on schema profile_sync to service_role;

-- What was last taken from auth for each user: the base of the three-way merge (app edits win),
-- the creation-time role decision, and the auth version that guards against older states.
create table if not exists profile_sync.profile_state (
  user_id uuid primary key references auth.users (id) on delete cascade,
  synced_full_name text,
  synced_avatar_url text,
  synced_role text,
  full_name_edited boolean not null default false,
  avatar_url_edited boolean not null default false,
  role_edited boolean not null default false,
  initial_role text,
  auth_updated_at timestamptz,
  synced_at timestamptz
);
comment on table profile_sync.profile_state is
  'Per-user sync bookkeeping: values last synced from auth, sticky app-edit flags, auth version.';
alter table profile_sync.profile_state enable row level security;
revoke all on table profile_sync.profile_state from public, anon, authenticated;

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
set search_path = ''
as $$
  select case when jsonb_typeof(value) = 'string'
    then nullif(left(btrim(value #>> '{}'), max_length), '')
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
set search_path = ''
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
 */
create or replace function profile_sync.avatar_url_from(user_metadata jsonb)
returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
  select url from (
    select coalesce(
      profile_sync.clean_text(user_metadata -> 'avatar_url', 2048),
      profile_sync.clean_text(user_metadata -> 'picture', 2048)
    ) as url
  ) candidate
  where url ~* '^https?://[^[:space:]]+$'
$$;

revoke execute on all functions in schema profile_sync from public, anon, authenticated;

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
 *
 * Concurrency: rows of profile_state are locked in id order before auth is read, so syncs of the
 * same user run one after another and each reads the newest committed auth row; an auth version
 * older than the one last synced is never applied.
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
as $$
begin
  if default_role is null or btrim(default_role) = '' then
    raise exception 'default_role must be a non-empty role name' using errcode = '22023';
  end if;

  insert into profile_sync.profile_state (user_id)
    select u.id from auth.users u where u.id = any (ids) order by u.id
    on conflict do nothing;

  perform 1 from profile_sync.profile_state s
    where s.user_id = any (ids)
    order by s.user_id
    for update;

  -- A new statement: a fresh snapshot taken after the locks, so auth is read as of now.
  return query
  with wanted as (
    select distinct w.id from unnest(ids) as w (id) where w.id is not null
  ),
  source as (
    select
      w.id,
      u.id is not null as in_auth,
      p.id is not null as has_profile,
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
      s.synced_full_name, s.synced_avatar_url, s.synced_role,
      s.full_name_edited, s.avatar_url_edited, s.role_edited, s.initial_role,
      s.auth_updated_at as state_auth_updated_at
    from wanted w
    left join auth.users u on u.id = w.id
    left join public.profiles p on p.id = w.id
    left join profile_sync.profile_state s on s.user_id = w.id
  ),
  merged as (
    select
      src.*,
      coalesce(src.full_name_edited, false)
        or (src.has_profile and src.p_full_name is distinct from src.synced_full_name) as fn_edited,
      coalesce(src.avatar_url_edited, false)
        or (src.has_profile and src.p_avatar_url is distinct from src.synced_avatar_url) as av_edited,
      coalesce(src.role_edited, false)
        or (src.has_profile and src.p_role is distinct from src.synced_role) as ro_edited,
      coalesce(
        src.initial_role,
        case
          when not src.has_profile and src.claimed_role = any (self_assignable_roles) then src.claimed_role
          else default_role
        end
      ) as base_role,
      -- version guard: an auth state older than the one last synced is never applied
      src.state_auth_updated_at is not null and src.auth_updated_at is not null
        and src.auth_updated_at < src.state_auth_updated_at as is_older
    from source src
  ),
  target as (
    select
      m.*,
      case when m.soft_deleted then null when m.fn_edited then m.p_full_name else m.a_full_name end as n_full_name,
      case when m.soft_deleted then null when m.av_edited then m.p_avatar_url else m.a_avatar_url end as n_avatar_url,
      case when m.ro_edited then m.p_role else coalesce(m.app_role, m.base_role) end as n_role,
      case when m.soft_deleted then null else m.a_email end as n_email,
      case when m.soft_deleted then null else m.a_phone end as n_phone
    from merged m
    where m.in_auth and not m.is_older
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
      case when t.soft_deleted then null when t.fn_edited then t.synced_full_name else t.n_full_name end as s_full_name,
      case when t.soft_deleted then null when t.av_edited then t.synced_avatar_url else t.n_avatar_url end as s_avatar_url,
      case when t.ro_edited then t.synced_role else t.n_role end as s_role,
      t.fn_edited and not t.soft_deleted as s_fn_edited,
      t.av_edited and not t.soft_deleted as s_av_edited
    from target t
  ),
  upserted as (
    insert into public.profiles as p (
      id, email, phone, full_name, avatar_url, role, provider, is_anonymous,
      email_confirmed_at, last_sign_in_at, deleted_at
    )
    select
      d.id, d.n_email, d.n_phone, d.n_full_name, d.n_avatar_url, d.n_role, d.a_provider, d.a_is_anonymous,
      d.a_email_confirmed_at, d.a_last_sign_in_at, d.a_deleted_at
    from decided d
    where d.profile_changes
    order by d.id
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
    update profile_sync.profile_state s set
      synced_full_name = d.s_full_name,
      synced_avatar_url = d.s_avatar_url,
      synced_role = d.s_role,
      full_name_edited = d.s_fn_edited,
      avatar_url_edited = d.s_av_edited,
      role_edited = d.ro_edited,
      initial_role = d.base_role,
      auth_updated_at = d.auth_updated_at,
      synced_at = now()
    from decided d
    where s.user_id = d.id
      and (
        d.profile_changes
        or s.synced_full_name is distinct from d.s_full_name
        or s.synced_avatar_url is distinct from d.s_avatar_url
        or s.synced_role is distinct from d.s_role
        or s.full_name_edited is distinct from d.s_fn_edited
        or s.avatar_url_edited is distinct from d.s_av_edited
        or s.role_edited is distinct from d.ro_edited
        or s.initial_role is distinct from d.base_role
        or s.auth_updated_at is distinct from d.auth_updated_at
      )
    returning s.user_id
  ),
  removed as (
    delete from public.profiles p
    using merged m
    where p.id = m.id and not m.in_auth
    returning p.id
  )
  select
    m.id,
    case
      when not m.in_auth then case when m.has_profile then 'deleted' else 'not_found' end
      when m.is_older then 'unchanged'
      when d.soft_deleted and (not d.has_profile or d.p_deleted_at is null) then 'deleted'
      when not d.has_profile then 'created'
      when d.profile_changes then 'updated'
      else 'unchanged'
    end
  from merged m
  left join decided d on d.id = m.id
  -- upserted, state_written and removed run to completion whether or not they are read
  order by m.id;
end
$$;

comment on function profile_sync.sync_users(uuid[], text, text[]) is
  'Sync the profiles of the given auth user ids from the current auth.users rows. '
  'Returns (user_id, outcome) with outcome created|updated|unchanged|deleted|not_found.';

revoke execute on function profile_sync.sync_users(uuid[], text, text[]) from public, anon, authenticated;
grant execute on function profile_sync.sync_users(uuid[], text, text[]) to service_role;
