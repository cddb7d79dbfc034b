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

-- What was last taken from auth for each user: the creation-time role decision and the auth
-- version that guards against applying an older state; and, per app-owned column of the mapping,
-- the base of the three-way merge ("synced:<column>") and the sticky app-edit flag
-- ("edited:<column>"), added by profile_sync.compile_sync_core (40_sync_core.sql; the names:
-- profile_sync._name).
--
-- No foreign key to auth.users: its insert-time key check (a key-share lock on the auth user per
-- row, through SPI) cost about as much as writing the row, and the profile written in the same
-- statement takes that lock already. What its cascade did, the trigger
-- profile_sync_auth_user_forgotten does (50_auth_users_triggers.sql). The drift scans read
-- (user_id, auth_updated_at) from the primary key alone (INCLUDE), so no second index is kept.
create table if not exists profile_sync.profile_state (
  user_id uuid not null,
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
-- supabase/schemas/12_recent_syncs.sql
-- ==============================================================================================

-- When each user last synced themself through sync-profile, and which version of their auth.users
-- row (its xmin) that sync read. profile_sync.sync_profile answers a user's own call from the row,
-- without syncing, while that sync is recent (10 s) and the auth row is unchanged since: a
-- signed-in user calling sync-profile in a loop costs the database a key lookup a call, not a
-- sync. Every instance of the function reads the same rows, so the window holds across them.
--
-- Unlogged: losing it in a crash only means the next call syncs. No personal data (a user id, a
-- time, a transaction id); a deleted user's row goes with them (forget_deleted_user).
create unlogged table if not exists profile_sync.recent_syncs (
  user_id uuid not null constraint recent_syncs_pkey primary key,
  auth_version xid not null,
  synced_at timestamptz not null
);
comment on table profile_sync.recent_syncs is
  'Users'' last own sync through sync-profile and the auth.users row version it read: '
  'sync_profile answers from the row within 10 s of it while auth is unchanged.';
alter table profile_sync.recent_syncs enable row level security;

-- ==============================================================================================
-- supabase/schemas/15_settings.sql
-- ==============================================================================================

-- Settings owned by the database: the mapping in force (which table profile-sync keeps, how each
-- column is sourced) and the role policy. Every path reads them here (the edge functions, the
-- CLI, pg_cron), so no process's environment can apply another policy. Written only by
-- profile_sync.apply_mapping (a migration) and profile_sync.set_role_policy (the owner, or an
-- admin-only SQL call); service_role may read them.
create table if not exists profile_sync.settings (
  singleton boolean primary key default true constraint settings_singleton check (singleton),
  -- the mapping as applied, normalised: every default filled in (see 35_mapping.sql)
  mapping jsonb not null,
  -- the target table (schema-qualified, quoted as needed) and its key column holding auth.users.id
  target_table text not null,
  target_key text not null,
  default_role text not null default 'user'
    constraint settings_default_role_check check (default_role ~ '^[A-Za-z0-9_.:-]{1,100}$'),
  self_assignable_roles text[] not null default '{}'
    constraint settings_self_assignable_roles_check
    check (pg_catalog.array_to_string(self_assignable_roles, ',') ~ '^([A-Za-z0-9_.:-]{1,100}(,|$))*$'),
  -- triggers on auth.users that wrote the target table and were dropped when the mapping was applied
  replaced_triggers text[] not null default '{}',
  applied_at timestamptz not null default now(),
  -- what anon/authenticated may write to the target (36_user_writes.sql), by column number so a
  -- renamed column keeps its rule: {key, protected: [...], clean: [...]}
  user_writes jsonb,
  -- the target's definition the sync core was compiled for (37_table_changes.sql)
  compiled_for jsonb,
  -- how long reconcile runs are kept (the dashboard's history); each run prunes older ones
  history_days integer not null default 90
    constraint settings_history_days_check check (history_days between 1 and 3660)
);
alter table profile_sync.settings add column if not exists user_writes jsonb;
alter table profile_sync.settings add column if not exists compiled_for jsonb;
alter table profile_sync.settings add column if not exists history_days integer not null default 90
  constraint settings_history_days_check check (history_days between 1 and 3660);
comment on table profile_sync.settings is
  'The mapping in force and the role policy (one row). Written by apply_mapping and set_role_policy.';
alter table profile_sync.settings enable row level security;

/*
 * profile_sync.set_role_policy(default_role, self_assignable_roles): the role given to a new
 * profile when app metadata names none, and the roles a user may pick for themself in user
 * metadata at signup. Kept in the mapping too, so the stored mapping always says what is in
 * force. Callers: the database owner (a migration), or service_role.
 */
create or replace function profile_sync.set_role_policy(default_role text, self_assignable_roles text[] default '{}')
returns void
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  if default_role is null or default_role !~ '^[A-Za-z0-9_.:-]{1,100}$' then
    raise exception 'roles.default: a role name of letters, digits, _ . : - (at most 100)' using errcode = '22023';
  end if;
  if exists (select 1 from pg_catalog.unnest(self_assignable_roles) r where r is null or r !~ '^[A-Za-z0-9_.:-]{1,100}$') then
    raise exception 'roles.self_assignable: role names of letters, digits, _ . : - (at most 100)' using errcode = '22023';
  end if;
  update profile_sync.settings s set
    default_role = set_role_policy.default_role,
    self_assignable_roles = coalesce(set_role_policy.self_assignable_roles, '{}'),
    mapping = pg_catalog.jsonb_set(s.mapping, '{roles}', pg_catalog.jsonb_build_object(
      'default', set_role_policy.default_role,
      'self_assignable', pg_catalog.to_jsonb(coalesce(set_role_policy.self_assignable_roles, '{}'))));
  if not found then
    raise exception 'no mapping is applied yet: apply one first (profile_sync.apply_mapping)' using errcode = '55000';
  end if;
end
$$;

/*
 * profile_sync.history_days(): how many days of reconcile runs are kept (settings.history_days,
 * 90 before a mapping is applied). Change it with
 * `update profile_sync.settings set history_days = 365`. Callers: reconcile_begin, the dashboard.
 */
create or replace function profile_sync.history_days()
returns integer
language sql
stable
set search_path = ''
as $$
  select coalesce((select s.history_days from profile_sync.settings s), 90)
$$;

/*
 * profile_sync.target_table(): the table the mapping in force keeps (null before one is applied).
 */
create or replace function profile_sync.target_table()
returns regclass
language sql
stable
set search_path = ''
as $$
  select pg_catalog.to_regclass(s.target_table) from profile_sync.settings s
$$;

-- ==============================================================================================
-- supabase/schemas/20_default_profiles.sql
-- ==============================================================================================

-- public.profiles, the default target: one row per auth user, kept true to auth.users. Created by
-- applying the default mapping to a database that has no public.profiles (a project that already
-- has a profile table adopts it instead, with a mapping of its own: 35_mapping.sql).
-- RLS on; a signed-in user reads their own row and may edit only full_name and avatar_url;
-- anon gets nothing. Grants are explicit: new public tables are no longer auto-granted.

/*
 * profile_sync.touch_updated_at(): trigger function: sets updated_at on every update of the row.
 */
create or replace function profile_sync.touch_updated_at()
returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

/*
 * profile_sync.create_default_profiles(): creates public.profiles with its trigger, RLS policies
 * and grants. Internal: called by apply_mapping when the mapping targets public.profiles and the
 * table does not exist.
 */
create or replace function profile_sync.create_default_profiles()
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  create table public.profiles (
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

  create trigger profiles_touch_updated_at
    before update on public.profiles
    for each row execute function profile_sync.touch_updated_at();

  alter table public.profiles enable row level security;

  create policy "Users can read their own profile"
    on public.profiles for select to authenticated
    using ((select auth.uid()) = id);

  create policy "Users can update their own profile"
    on public.profiles for update to authenticated
    using ((select auth.uid()) = id)
    with check ((select auth.uid()) = id);

  -- what authenticated may update is granted by apply_mapping (the mapping's user_editable)
  revoke all on table public.profiles from public, anon, authenticated;
  grant select on table public.profiles to authenticated;
  grant select, insert, update, delete on table public.profiles to service_role;
end
$$;

-- ==============================================================================================
-- supabase/schemas/30_text_normalisers.sql
-- ==============================================================================================

-- The mapping helpers: how a value from auth becomes profile text, and what a clean display name
-- and a safe avatar URL are (the definition is tests/cleaning/clean.ts; the tests beside it check that these
-- agree with it on generated inputs). The same rules apply to what users write to the columns
-- they may edit (profile_sync._guard_user_write, 36_user_writes.sql).

/*
 * profile_sync.clean_name(raw): a display name as a profile may hold it, or null.
 * ANSI CSI sequences (ESC [ … final) removed; CR, LF, TAB, VT, FF, NEL and the line/paragraph
 * separators become spaces; other C0/C1 controls (BEL, ESC, …), DEL, zero-width space (U+200B),
 * word joiner (U+2060), BOM, LRM/RLM/ALM and bidi embeddings, overrides and isolates
 * (U+202A–U+202E, U+2066–U+2069) removed; runs of Unicode whitespace (NBSP, EM SPACE,
 * ideographic space, …) become one space; trimmed of spaces and of the joiners U+200C/U+200D
 * (which stay inside: emoji sequences and some scripts need them); cut to 200 characters; blank
 * gives null.
 * Callers: the mapping helpers below, and the users' write guard (_clean_user_value, 36_user_writes.sql).
 * No SET clause: inlined into its callers per value, as the mapping helpers below (why: there).
 */
create or replace function profile_sync.clean_name(raw text)
returns text
language sql
immutable
parallel safe
as $$
  select nullif(pg_catalog.rtrim(pg_catalog.left(pg_catalog.btrim(
    pg_catalog.regexp_replace(
      pg_catalog.regexp_replace(
        pg_catalog.regexp_replace(
          pg_catalog.regexp_replace(raw, '\u001b\[[0-?]*[ -/]*[@-~]', '', 'g'),
          '[\t\n\v\f\r\u0085\u2028\u2029]', ' ', 'g'),
        '[\u0001-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]', '', 'g'),
      '[ \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+', ' ', 'g'),
    E' \u200c\u200d'), 200), E' \u200c\u200d'), '')
$$;

/*
 * profile_sync.is_blocked_ipv4(quad): whether a canonical dotted quad is an address a server must
 * not be sent to: this network (0/8), private (10/8, 172.16/12, 192.168/16), shared
 * (100.64/10), loopback (127/8), link-local (169.254/16: cloud metadata), multicast and
 * reserved (≥ 224). Internal to safe_avatar_url.
 */
create or replace function profile_sync.is_blocked_ipv4(quad text)
returns boolean
language sql
immutable
parallel safe
set search_path = ''
as $$
  select o.a = 0 or o.a = 10 or o.a = 127 or o.a >= 224
    or (o.a = 100 and o.b between 64 and 127)
    or (o.a = 169 and o.b = 254)
    or (o.a = 172 and o.b between 16 and 31)
    or (o.a = 192 and o.b = 168)
  from (
    select pg_catalog.split_part(quad, '.', 1)::integer as a, pg_catalog.split_part(quad, '.', 2)::integer as b
  ) o
$$;

/*
 * profile_sync.safe_avatar_url(raw): an avatar URL as a profile may hold it, or null.
 * http or https; Unicode whitespace trimmed from the ends, then no whitespace, control, quote,
 * angle bracket or backslash anywhere; no credentials; a host of ASCII labels (letters, digits,
 * _ and -; IDN hosts in punycode), an optional port ≤ 65535; not localhost; an IP host only as a
 * canonical dotted quad outside 0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12,
 * 192.168/16 and ≥ 224 (any other numeric spelling, e.g. 2130706433 or 0x7f.1, is refused, as
 * are IPv6 literals); at most 2048 characters. Returned as given (trimmed), never rewritten.
 * Callers: the mapping helpers below, and the users' write guard (_clean_user_value, 36_user_writes.sql).
 * Never inlined (a function with a FROM clause is not), so it takes search_path '' like the rest:
 * the per-call save and restore of the setting costs a sync of 20,000 users about 5 %.
 */
create or replace function profile_sync.safe_avatar_url(raw text)
returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
  select case
    when p.url is null or p.url = '' or pg_catalog.char_length(p.url) > 2048 then null
    when p.url operator(pg_catalog.~)
      '[\u0001-\u0020\u007f-\u00a0\u1680\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff"''`<>\\]' then null
    when p.m is null then null
    when p.m[2] is not null and p.m[2]::integer > 65535 then null
    when p.host = 'localhost' or p.host operator(pg_catalog.~) '\.localhost$' then null
    when p.host operator(pg_catalog.~) '(^|\.)(0x[0-9a-f]*|[0-9]+)$' then
      case
        when p.host operator(pg_catalog.!~)
          '^(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(\.(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])){3}$'
          then null
        when profile_sync.is_blocked_ipv4(p.host) then null
        else p.url
      end
    else p.url
  end
  from (
    select t.url, t.m,
      pg_catalog.regexp_replace(pg_catalog.lower(t.m[1]), '\.$', '') as host
    from (
      select s.url, pg_catalog.regexp_match(s.url,
        '^[Hh][Tt][Tt][Pp][Ss]?://([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?)(?::([0-9]{1,5}))?(?:[/?#].*)?$') as m
      from (
        select pg_catalog.btrim(raw,
          E' \t\n\u000b\f\r\u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000'
        ) as url
      ) s
    ) t
  ) p
$$;

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
 * profile_sync.json_string(value): a JSON string's text; null for anything else (arrays,
 * objects, numbers, null).
 */
create or replace function profile_sync.json_string(value jsonb)
returns text
language sql
immutable
parallel safe
as $$
  select case when pg_catalog.jsonb_typeof(value) = 'string' then value #>> '{}' end
$$;

/*
 * profile_sync.full_name_from(user_metadata): the first of full_name, name, user_name,
 * preferred_username that is a clean name (clean_name: a name of only spaces, zero-width or
 * control characters counts as absent) (Google/Discord: name; GitHub: user_name; Azure:
 * full_name only).
 */
create or replace function profile_sync.full_name_from(user_metadata jsonb)
returns text
language sql
immutable
parallel safe
as $$
  select coalesce(
    profile_sync.clean_name(profile_sync.json_string(user_metadata -> 'full_name')),
    profile_sync.clean_name(profile_sync.json_string(user_metadata -> 'name')),
    profile_sync.clean_name(profile_sync.json_string(user_metadata -> 'user_name')),
    profile_sync.clean_name(profile_sync.json_string(user_metadata -> 'preferred_username'))
  )
$$;

/*
 * profile_sync.avatar_url_from(user_metadata): avatar_url, else picture (Google, Discord), the
 * first that is a safe avatar URL (safe_avatar_url: http(s) only, so a javascript: or data:
 * value never reaches an <img src>, and never an internal address).
 */
create or replace function profile_sync.avatar_url_from(user_metadata jsonb)
returns text
language sql
immutable
parallel safe
as $$
  select coalesce(
    profile_sync.safe_avatar_url(profile_sync.json_string(user_metadata -> 'avatar_url')),
    profile_sync.safe_avatar_url(profile_sync.json_string(user_metadata -> 'picture'))
  )
$$;

-- ==============================================================================================
-- supabase/schemas/35_mapping.sql
-- ==============================================================================================

-- The mapping: which table profile-sync keeps true to auth.users, and where each of its columns
-- comes from (DESIGN "Your table, not ours"). A team applies one with a migration:
--
--   select profile_sync.apply_mapping($mapping$ { "table": "public.user_profiles", … } $mapping$::jsonb);
--
-- apply_mapping validates it against the live table (errors name the field, SQLSTATE 22023,
-- nothing changed), stores it in profile_sync.settings, creates public.profiles when the default
-- mapping targets it and it does not exist, replaces pasted triggers on auth.users that write the
-- table (only after the rest succeeded), guards what users may write (36_user_writes.sql), and
-- compiles the sync core for the table
-- (40_sync_core.sql): static SQL per mapping, so every sync stays one set-based statement.

-- What drift and reconcile read of the target: its keys. compile_sync_core points it at the
-- target; until a mapping is applied it is empty.
do $$
begin
  if pg_catalog.to_regclass('profile_sync.targets') is null then
    create view profile_sync.targets as select null::uuid as id where false;
  end if;
end
$$;

/*
 * profile_sync.default_mapping(): the default mapping, which reproduces public.profiles and every
 * profile rule. Each field a mapping leaves out takes its value from here.
 */
create or replace function profile_sync.default_mapping()
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select '{
    "table": "public.profiles",
    "key": "id",
    "columns": {
      "email": "email",
      "phone": "phone",
      "full_name": "full_name",
      "avatar_url": "avatar_url",
      "role": "role",
      "provider": "provider",
      "is_anonymous": "is_anonymous",
      "email_confirmed_at": "email_confirmed_at",
      "last_sign_in_at": "last_sign_in_at"
    },
    "soft_delete": { "at": "deleted_at" },
    "clear_on_soft_delete": ["email", "phone", "full_name", "avatar_url"],
    "user_editable": ["full_name", "avatar_url"],
    "roles": { "default": "user", "self_assignable": [] }
  }'::jsonb
$$;

/*
 * profile_sync.mapping_source_sql(source, column_type): the SQL expression (over auth.users u)
 * a source gives for a column of column_type, or raises naming what is wrong. Sources: an auth
 * column, the normalised full_name / avatar_url / provider, user_metadata.<path> /
 * app_metadata.<path>. (role is the role policy's, computed by the core.) Internal.
 */
create or replace function profile_sync.mapping_source_sql(field text, source text, column_type text)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  text_like constant boolean := column_type in ('text', 'citext') or column_type ~ '^(character varying|character)(\(\d+\))?$';
  max_length integer := coalesce(pg_catalog.substring(column_type, '\((\d+)\)')::integer, 1000);
  json_value text;
  path text[];
begin
  if source in ('email', 'phone', 'full_name', 'avatar_url', 'provider') then
    if not text_like then
      raise exception '%: % is text; the column is %', field, source, column_type using errcode = '22023';
    end if;
    return case source
      when 'email' then 'nullif(u.email, '''')'
      when 'phone' then 'nullif(u.phone, '''')'
      when 'full_name' then pg_catalog.format('left(profile_sync.full_name_from(u.raw_user_meta_data), %s)', max_length)
      when 'avatar_url' then 'profile_sync.avatar_url_from(u.raw_user_meta_data)'
      else pg_catalog.format('profile_sync.clean_text(u.raw_app_meta_data -> ''provider'', %s)', least(max_length, 100))
    end;
  elsif source = 'is_anonymous' then
    if column_type <> 'boolean' then
      raise exception '%: is_anonymous is boolean; the column is %', field, column_type using errcode = '22023';
    end if;
    return 'coalesce(u.is_anonymous, false)';
  elsif source in ('email_confirmed_at', 'last_sign_in_at', 'created_at', 'updated_at', 'banned_until') then
    if column_type not in ('timestamp with time zone', 'timestamp without time zone') then
      raise exception '%: % is a timestamp; the column is %', field, source, column_type using errcode = '22023';
    end if;
    return pg_catalog.format('u.%I', source);
  elsif source ~ '^(user_metadata|app_metadata)\.[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$' then
    path := pg_catalog.string_to_array(pg_catalog.substr(source, pg_catalog.strpos(source, '.') + 1), '.');
    json_value := pg_catalog.format('(u.%s #> %L)',
      case when source like 'user_metadata.%' then 'raw_user_meta_data' else 'raw_app_meta_data' end, path::text);
    if text_like then
      return pg_catalog.format('profile_sync.clean_text(%s, %s)', json_value, max_length);
    elsif column_type = 'jsonb' then
      return json_value;
    elsif column_type = 'boolean' then
      return pg_catalog.format('case when pg_catalog.jsonb_typeof(%1$s) = ''boolean'' then (%1$s)::boolean end', json_value);
    elsif column_type in ('smallint', 'integer', 'bigint', 'numeric', 'real', 'double precision') then
      return pg_catalog.format(
        'case when pg_catalog.jsonb_typeof(%1$s) = ''number'' then profile_sync.number_or_null(%1$s, %2$L)::%2$s end',
        json_value, column_type);
    elsif column_type = 'uuid' then
      return pg_catalog.format(
        'case when (%1$s #>> ''{}'') ~* ''^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'' then (%1$s #>> ''{}'')::uuid end',
        json_value);
    end if;
    raise exception '%: a metadata value cannot fill a column of type % (text, jsonb, boolean, numbers and uuid can)',
      field, column_type using errcode = '22023';
  end if;
  raise exception '%: unknown source "%" (an auth column: email, phone, is_anonymous, email_confirmed_at, '
    'last_sign_in_at, created_at, updated_at, banned_until; full_name, avatar_url, provider, role; '
    'user_metadata.<path>; app_metadata.<path>)', field, source using errcode = '22023';
end
$$;

/*
 * profile_sync.number_or_null(value, type): a JSON number as the column's numeric type, or null
 * when it does not fit (a metadata value out of range must not fail the sync). Internal.
 */
create or replace function profile_sync.number_or_null(value jsonb, column_type text)
returns numeric
language plpgsql
immutable
set search_path = ''
as $$
begin
  return case column_type
    when 'smallint' then (value)::numeric::smallint
    when 'integer' then (value)::numeric::integer
    when 'bigint' then (value)::numeric::bigint
    else (value)::numeric
  end;
exception when numeric_value_out_of_range then
  return null;
end
$$;

/*
 * profile_sync.normalise_mapping(mapping): the mapping checked against the live table, every
 * default filled in, each column's spec spelled out with the SQL it compiles to:
 *   columns.<name> = {from, owner, default?, type, sql} or {value, owner, type, sql}.
 * Raises SQLSTATE 22023 with a message naming the field for anything wrong. Changes nothing.
 */
create or replace function profile_sync.normalise_mapping(mapping jsonb)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
  d constant jsonb := profile_sync.default_mapping();
  m jsonb := coalesce(mapping, '{}'::jsonb);
  target regclass;
  target_name text;
  key_name text;
  out_columns jsonb := '{}';
  col record;
  spec jsonb;
  src text;
  owner text;
  expr text;
  literal text;
  soft jsonb;
  clear jsonb;
  editable jsonb;
  roles jsonb;
  field text;
  k text;
  personal text[] := '{}';
  mapped text[];
  clean_in jsonb;
  clean jsonb := '{}';
  rule text;
  col_type text;
begin
  if pg_catalog.jsonb_typeof(m) <> 'object' then
    raise exception 'mapping: must be a JSON object' using errcode = '22023';
  end if;
  for k in select pg_catalog.jsonb_object_keys(m) loop
    if k not in ('$schema', 'table', 'key', 'columns', 'soft_delete', 'clear_on_soft_delete', 'user_editable', 'roles', 'clean') then
      raise exception 'mapping.%: unknown field', k using errcode = '22023';
    end if;
  end loop;

  -- table and key
  target_name := coalesce(m ->> 'table', d ->> 'table');
  if pg_catalog.jsonb_typeof(coalesce(m -> 'table', d -> 'table')) <> 'string' or target_name !~ '^[^.]+\.[^.]+$' then
    raise exception 'mapping.table: a schema-qualified table name, e.g. public.profiles' using errcode = '22023';
  end if;
  target := pg_catalog.to_regclass(target_name);
  if target is null and target_name <> 'public.profiles' then
    raise exception 'mapping.table: table % does not exist', target_name using errcode = '22023';
  end if;
  if target is null then
    -- the default table, created by apply_mapping: checked against its own definition
    return profile_sync.normalise_default_profiles(m);
  end if;
  if (select c.relkind from pg_catalog.pg_class c where c.oid = target) not in ('r', 'p') then
    raise exception 'mapping.table: % is not a table', target_name using errcode = '22023';
  end if;
  if (select n.nspname from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.oid = target)
      in ('auth', 'profile_sync', 'storage', 'pg_catalog', 'information_schema') then
    raise exception 'mapping.table: % is in a schema profile-sync may not write', target_name using errcode = '22023';
  end if;

  key_name := coalesce(m ->> 'key', d ->> 'key');
  if not exists (select 1 from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = key_name and a.attnum > 0 and not a.attisdropped) then
    raise exception 'mapping.key: column % does not exist in %', key_name, target_name using errcode = '22023';
  end if;
  if pg_catalog.format_type((select a.atttypid from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = key_name), null) <> 'uuid' then
    raise exception 'mapping.key: column % must be uuid (it holds auth.users.id; a text column holding uuids converts with: alter table % alter column % type uuid using %::uuid)',
      key_name, target_name, key_name, key_name using errcode = '22023';
  end if;
  if not exists (
    select 1 from pg_catalog.pg_index i
    where i.indrelid = target and i.indisunique and i.indpred is null and i.indexprs is null and i.indnatts = 1
      and i.indkey[0] = (select a.attnum from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = key_name)
  ) then
    raise exception 'mapping.key: column % has no unique constraint (add one: alter table % add unique (%))',
      key_name, target_name, key_name using errcode = '22023';
  end if;
  -- a key that does not reference auth.users while another column does is a mistake (user_profiles'
  -- own id beside its user_id): name the column that holds the auth id
  select a.attname into k
  from pg_catalog.pg_constraint fk
  join pg_catalog.pg_attribute a on a.attrelid = fk.conrelid and a.attnum = fk.conkey[1]
  where fk.conrelid = target and fk.contype = 'f' and fk.confrelid = 'auth.users'::regclass
    and pg_catalog.cardinality(fk.conkey) = 1 and a.attname <> key_name
    and exists (select 1 from pg_catalog.pg_index i where i.indrelid = target and i.indisunique and i.indpred is null
      and i.indnatts = 1 and i.indkey[0] = a.attnum)
    and not exists (select 1 from pg_catalog.pg_constraint f2
      join pg_catalog.pg_attribute a2 on a2.attrelid = f2.conrelid and a2.attnum = f2.conkey[1]
      where f2.conrelid = target and f2.contype = 'f' and f2.confrelid = 'auth.users'::regclass and a2.attname = key_name)
  order by a.attnum limit 1;
  if found then
    raise exception 'mapping.key: % does not reference auth.users, but % does (and is unique): set "key": "%"',
      key_name, k, k using errcode = '22023';
  end if;

  -- columns
  spec := coalesce(m -> 'columns', d -> 'columns');
  if pg_catalog.jsonb_typeof(spec) <> 'object' then
    raise exception 'mapping.columns: an object of target column → source' using errcode = '22023';
  end if;
  for k in select pg_catalog.jsonb_object_keys(spec) order by 1 loop
    field := 'mapping.columns.' || k;
    select a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod) as type, a.attnotnull, a.attgenerated,
        pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) as default_sql,
        exists (select 1 from pg_catalog.pg_type ty where ty.oid = a.atttypid and ty.typtype = 'e') as is_enum
      into col
      from pg_catalog.pg_attribute a
      left join pg_catalog.pg_attrdef ad on ad.adrelid = a.attrelid and ad.adnum = a.attnum
      where a.attrelid = target and a.attname = k and a.attnum > 0 and not a.attisdropped;
    if not found then
      raise exception '%: column % does not exist in %', field, k, target_name using errcode = '22023';
    end if;
    if k = key_name then
      raise exception '%: the key column is always auth.users.id; do not map it', field using errcode = '22023';
    end if;
    if col.attgenerated <> '' then
      raise exception '%: % is a generated column', field, k using errcode = '22023';
    end if;
    -- the compiled names are "<what>:<column>" (profile_sync._name) and must fit Postgres' 63 bytes
    if pg_catalog.octet_length(k) > 50 then
      raise exception '%: column names longer than 50 bytes are not supported', field using errcode = '22023';
    end if;
    if pg_catalog.jsonb_typeof(spec -> k) = 'string' then
      spec := pg_catalog.jsonb_set(spec, array[k], pg_catalog.jsonb_build_object('from', spec ->> k));
    end if;
    if pg_catalog.jsonb_typeof(spec -> k) <> 'object' then
      raise exception '%: a source name, {"from": …}, or {"value": …}', field using errcode = '22023';
    end if;
    if exists (select 1 from pg_catalog.jsonb_object_keys(spec -> k) x where x not in ('from', 'owner', 'default', 'value')) then
      raise exception '%: only from, owner, default and value are allowed', field using errcode = '22023';
    end if;
    if (spec -> k) ? 'value' then
      if (spec -> k) ? 'from' then
        raise exception '%: either from or value, not both', field using errcode = '22023';
      end if;
      owner := coalesce(spec -> k ->> 'owner', 'insert');
      literal := profile_sync.mapping_literal(field || '.value', spec -> k -> 'value', col.type);
      expr := literal;
      src := null;
    else
      src := spec -> k ->> 'from';
      if src is null then
        raise exception '%.from: a source is required', field using errcode = '22023';
      end if;
      -- a user picks their own metadata at signup: it never names a role
      if src ~* '^user_metadata\.roles?(\.|$)' or (k ~* '^roles?$' and src like 'user_metadata.%') then
        raise exception '%.from: % is chosen by the user at signup; a role never comes from user metadata (map the role with "role": the role policy, whose roles.self_assignable lists what a user may pick)',
          field, src using errcode = '22023';
      end if;
      owner := coalesce(spec -> k ->> 'owner',
        case when src in ('full_name', 'avatar_url', 'role') then 'app' else 'auth' end);
      if src = 'role' then
        if not (col.type in ('text', 'citext') or col.type ~ '^character varying' or col.is_enum) then
          raise exception '%: role is text; the column is %', field, col.type using errcode = '22023';
        end if;
        expr := null;  -- the role policy's result, computed by the core
      elsif col.is_enum then
        -- a text source into an enum column: only the enum's own labels, anything else is null
        expr := pg_catalog.format('(select case when v.t = any (pg_catalog.enum_range(null::%1$s)::text[]) then v.t::%1$s end from (select %2$s as t) v)',
          col.type, profile_sync.mapping_source_sql(field || '.from', src, 'text'));
      else
        expr := profile_sync.mapping_source_sql(field || '.from', src, col.type);
      end if;
      if (spec -> k) ? 'default' then
        literal := profile_sync.mapping_literal(field || '.default', spec -> k -> 'default', col.type);
        if expr is not null then
          expr := pg_catalog.format('coalesce(%s, %s)', expr, literal);
        end if;
      elsif col.attnotnull and col.default_sql is not null and expr is not null then
        -- a source that can be null, for a NOT NULL column: the column's own default
        expr := pg_catalog.format('coalesce(%s, %s)', expr, col.default_sql);
      end if;
    end if;
    if owner not in ('auth', 'app', 'insert') then
      raise exception '%.owner: auth, app or insert', field using errcode = '22023';
    end if;
    if src in ('email', 'phone', 'full_name', 'avatar_url') or src like 'user_metadata.%' then
      personal := personal || k;
    end if;
    out_columns := out_columns || pg_catalog.jsonb_build_object(k,
      pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
        'from', src, 'value', spec -> k -> 'value', 'owner', owner, 'default', spec -> k -> 'default',
        'type', col.type, 'enum', col.is_enum, 'not_null', col.attnotnull, 'sql', expr,
        'column_default', col.default_sql)));
  end loop;
  mapped := array(select pg_catalog.jsonb_object_keys(out_columns));

  -- soft delete: {at}, {flag, active, at?} or null
  soft := case when m ? 'soft_delete' then m -> 'soft_delete'
    when exists (select 1 from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = 'deleted_at' and not a.attisdropped)
      then d -> 'soft_delete'
    else 'null'::jsonb end;
  if pg_catalog.jsonb_typeof(soft) = 'object' then
    if exists (select 1 from pg_catalog.jsonb_object_keys(soft) x where x not in ('at', 'flag', 'active')) then
      raise exception 'mapping.soft_delete: only at, flag and active are allowed' using errcode = '22023';
    end if;
    if not (soft ? 'at' or soft ? 'flag') then
      raise exception 'mapping.soft_delete: name a timestamp column (at) or a boolean column (flag), or use null'
        using errcode = '22023';
    end if;
    if soft ? 'at' then
      perform profile_sync.mapping_check_column('mapping.soft_delete.at', target, soft ->> 'at',
        array['timestamp with time zone', 'timestamp without time zone'], mapped || key_name);
    end if;
    if soft ? 'flag' then
      perform profile_sync.mapping_check_column('mapping.soft_delete.flag', target, soft ->> 'flag', array['boolean'], mapped || key_name);
      if pg_catalog.jsonb_typeof(coalesce(soft -> 'active', 'true')) <> 'boolean' then
        raise exception 'mapping.soft_delete.active: true or false (the flag''s value for an active user)' using errcode = '22023';
      end if;
      soft := soft || pg_catalog.jsonb_build_object('active', coalesce(soft -> 'active', 'true'));
    end if;
  elsif pg_catalog.jsonb_typeof(soft) <> 'null' then
    raise exception 'mapping.soft_delete: {"at": …}, {"flag": …, "active": …, "at": …} or null' using errcode = '22023';
  end if;

  -- clear_on_soft_delete: mapped columns; a NOT NULL one needs a default to clear to
  clear := coalesce(m -> 'clear_on_soft_delete', pg_catalog.to_jsonb(personal));
  if pg_catalog.jsonb_typeof(clear) <> 'array' then
    raise exception 'mapping.clear_on_soft_delete: an array of mapped columns' using errcode = '22023';
  end if;
  for k in select x from pg_catalog.jsonb_array_elements_text(clear) x loop
    if not k = any (mapped) then
      raise exception 'mapping.clear_on_soft_delete: % is not a mapped column', k using errcode = '22023';
    end if;
    if (out_columns -> k ->> 'not_null')::boolean and not (out_columns -> k ? 'default') and not (out_columns -> k ? 'column_default') then
      raise exception 'mapping.clear_on_soft_delete: % is NOT NULL without a default to clear it to (give it a "default")', k
        using errcode = '22023';
    end if;
  end loop;

  -- user_editable: app-owned mapped columns, or columns profile-sync does not map; never the role
  -- or anything auth owns
  editable := coalesce(m -> 'user_editable',
    pg_catalog.to_jsonb(array(
      select x from pg_catalog.jsonb_array_elements_text(d -> 'user_editable') x
      where out_columns -> x ->> 'owner' = 'app')));
  if pg_catalog.jsonb_typeof(editable) <> 'array' then
    raise exception 'mapping.user_editable: an array of column names' using errcode = '22023';
  end if;
  for k in select x from pg_catalog.jsonb_array_elements_text(editable) x loop
    if not exists (select 1 from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = k and a.attnum > 0 and not a.attisdropped) then
      raise exception 'mapping.user_editable: column % does not exist in %', k, target_name using errcode = '22023';
    end if;
    if k = key_name then
      raise exception 'mapping.user_editable: % is the key (it holds auth.users.id); users may never write it', k using errcode = '22023';
    end if;
    if out_columns -> k ->> 'from' = 'role' or k ~* '^roles?$' then
      raise exception 'mapping.user_editable: % holds the role; users may never write it', k using errcode = '22023';
    end if;
    if k = key_name or k = soft ->> 'at' or k = soft ->> 'flag' or (out_columns ? k and out_columns -> k ->> 'owner' <> 'app') then
      raise exception 'mapping.user_editable: % is owned by auth (or written once); users may not write it', k using errcode = '22023';
    end if;
  end loop;

  -- clean: the rule each user-editable text column's values pass (36_user_writes.sql); by kind
  -- of column when the mapping names none
  clean_in := coalesce(m -> 'clean', '{}'::jsonb);
  if pg_catalog.jsonb_typeof(clean_in) <> 'object' then
    raise exception 'mapping.clean: an object of user-editable column → "url", "name", "text" or "storage_path" (or {"rule": …, "max_length": …})'
      using errcode = '22023';
  end if;
  for k in select pg_catalog.jsonb_object_keys(clean_in) loop
    if not editable ? k then
      raise exception 'mapping.clean.%: % is not in user_editable (rules are for what users write)', k, k using errcode = '22023';
    end if;
  end loop;
  for k in select x from pg_catalog.jsonb_array_elements_text(editable) x loop
    field := 'mapping.clean.' || k;
    select pg_catalog.format_type(a.atttypid, a.atttypmod) into col_type
    from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = k and a.attnum > 0 and not a.attisdropped;
    if not (col_type in ('text', 'citext') or col_type ~ '^(character varying|character)(\(\d+\))?$') then
      if clean_in ? k then
        raise exception '%: % is %; rules are for text columns', field, k, col_type using errcode = '22023';
      end if;
      continue;
    end if;
    rule := case
      when not clean_in ? k then profile_sync._clean_rule_default(k, out_columns -> k ->> 'from')
      when pg_catalog.jsonb_typeof(clean_in -> k) = 'string' then clean_in ->> k
      when pg_catalog.jsonb_typeof(clean_in -> k) = 'object' then clean_in -> k ->> 'rule'
    end;
    if pg_catalog.jsonb_typeof(clean_in -> k) = 'object' and exists (
      select 1 from pg_catalog.jsonb_object_keys(clean_in -> k) x where x not in ('rule', 'max_length')) then
      raise exception '%: only rule and max_length are allowed', field using errcode = '22023';
    end if;
    if rule is null or rule not in ('url', 'name', 'text', 'storage_path') then
      raise exception '%: "url", "name", "text" or "storage_path" (or {"rule": …, "max_length": …})', field using errcode = '22023';
    end if;
    if (clean_in -> k) ? 'max_length' and (pg_catalog.jsonb_typeof(clean_in -> k -> 'max_length') <> 'number'
        or (clean_in -> k ->> 'max_length') !~ '^[1-9][0-9]{0,6}$') then
      raise exception '%.max_length: a whole number from 1 to 9999999', field using errcode = '22023';
    end if;
    clean := clean || pg_catalog.jsonb_build_object(k, pg_catalog.jsonb_build_object('rule', rule, 'max_length', least(
      coalesce((clean_in -> k ->> 'max_length')::integer, profile_sync._clean_rule_cap(rule)),
      coalesce(pg_catalog.substring(col_type, '\((\d+)\)')::integer, 2147483647))));
  end loop;

  -- NOT NULL columns without a default must be mapped
  select a.attname into k
  from pg_catalog.pg_attribute a
  left join pg_catalog.pg_attrdef ad on ad.adrelid = a.attrelid and ad.adnum = a.attnum
  where a.attrelid = target and a.attnum > 0 and not a.attisdropped and a.attnotnull and ad.adbin is null
    and a.attidentity = '' and a.attgenerated = ''
    and a.attname <> key_name and not a.attname = any (mapped)
    and a.attname is distinct from soft ->> 'at' and a.attname is distinct from soft ->> 'flag'
  order by a.attnum limit 1;
  if found then
    raise exception 'mapping.columns: % is NOT NULL without a default: map it (a source, or {"value": …})', k
      using errcode = '22023';
  end if;

  -- roles
  roles := coalesce(m -> 'roles', '{}'::jsonb);
  if pg_catalog.jsonb_typeof(roles) <> 'object' then
    raise exception 'mapping.roles: {"default": …, "self_assignable": […]}' using errcode = '22023';
  end if;
  roles := (d -> 'roles') || roles;
  if pg_catalog.jsonb_typeof(roles -> 'default') <> 'string' or roles ->> 'default' !~ '^[A-Za-z0-9_.:-]{1,100}$' then
    raise exception 'mapping.roles.default: a role name of letters, digits, _ . : - (at most 100)' using errcode = '22023';
  end if;
  if pg_catalog.jsonb_typeof(roles -> 'self_assignable') <> 'array' or exists (
    select 1 from pg_catalog.jsonb_array_elements(roles -> 'self_assignable') r
    where pg_catalog.jsonb_typeof(r) <> 'string' or r #>> '{}' !~ '^[A-Za-z0-9_.:-]{1,100}$'
  ) then
    raise exception 'mapping.roles.self_assignable: an array of role names' using errcode = '22023';
  end if;

  return pg_catalog.jsonb_build_object(
    'table', pg_catalog.format('%I.%I',
      (select n.nspname from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.oid = target),
      (select c.relname from pg_catalog.pg_class c where c.oid = target)),
    'key', key_name,
    'columns', out_columns,
    'soft_delete', soft,
    'clear_on_soft_delete', clear,
    'user_editable', editable,
    'clean', clean,
    'roles', roles);
end
$$;

/*
 * profile_sync.normalise_default_profiles(mapping): normalise_mapping for a mapping that targets
 * public.profiles before it exists: checked against the table create_default_profiles makes, in
 * a savepoint that is rolled back. Internal.
 */
create or replace function profile_sync.normalise_default_profiles(mapping jsonb)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
  result jsonb;
begin
  begin
    perform profile_sync.create_default_profiles();
    result := profile_sync.normalise_mapping(mapping);
    raise exception using errcode = 'P0004', message = 'rollback';
  exception when sqlstate 'P0004' then
    null;  -- the table is gone again; result stays
  end;
  return result;
end
$$;

/*
 * profile_sync.mapping_literal(field, value, column_type): a JSON constant as an SQL literal of
 * the column's type, checked by casting it now. Internal.
 */
create or replace function profile_sync.mapping_literal(field text, value jsonb, column_type text)
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  literal text;
begin
  if value is null or pg_catalog.jsonb_typeof(value) = 'null' then
    return pg_catalog.format('null::%s', column_type);
  end if;
  literal := pg_catalog.format('%L::%s',
    case when pg_catalog.jsonb_typeof(value) = 'string' then value #>> '{}' else value::text end, column_type);
  begin
    execute 'select ' || literal;
  exception when others then
    raise exception '%: % is not a valid % (%)', field, value, column_type, sqlerrm using errcode = '22023';
  end;
  return literal;
end
$$;

/*
 * profile_sync.mapping_check_column(field, table, column, types, taken): raises unless column
 * exists in table with one of types and is not among taken. Internal.
 */
create or replace function profile_sync.mapping_check_column(field text, target regclass, col text, types text[], taken text[])
returns void
language plpgsql
stable
set search_path = ''
as $$
declare
  col_type text;
begin
  select pg_catalog.format_type(a.atttypid, a.atttypmod) into col_type
  from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = col and a.attnum > 0 and not a.attisdropped;
  if col_type is null then
    raise exception '%: column % does not exist in %', field, col, target using errcode = '22023';
  end if;
  if not col_type = any (types) then
    raise exception '%: column % is %; it must be %', field, col, col_type, pg_catalog.array_to_string(types, ' or ')
      using errcode = '22023';
  end if;
  if col = any (taken) then
    raise exception '%: column % is also mapped in columns (or is the key)', field, col using errcode = '22023';
  end if;
end
$$;

/*
 * profile_sync._tables_written(body): the tables a function body writes (insert into, update,
 * delete from, merge into), as (schema, name) the way Postgres reads the names (unquoted ones
 * folded to lower case; schema null when unqualified). A reading of the text, not a parse: enough
 * to recognise a pasted handle_new_user. Internal: replace_pasted_triggers compares the names
 * with the target's exactly.
 */
create or replace function profile_sync._tables_written(body text)
returns table (schema_name text, table_name text)
language plpgsql
immutable
set search_path = ''
as $$
declare
  written text[];
  parts text[];
begin
  for written in
    select pg_catalog.regexp_matches(body,
      '\m(?:insert\s+into|update|delete\s+from|merge\s+into)\s+((?:"(?:[^"]|"")+"|[^\s(;,."]+)(?:\s*\.\s*(?:"(?:[^"]|"")+"|[^\s(;,."]+))?)',
      'gi')
  loop
    begin
      parts := pg_catalog.parse_ident(written[1], false);
    exception when others then
      continue;  -- not a name after all
    end;
    if pg_catalog.cardinality(parts) = 2 then
      return query select parts[1], parts[2];
    elsif pg_catalog.cardinality(parts) = 1 then
      return query select null::text, parts[1];
    end if;
  end loop;
end
$$;

/*
 * profile_sync.replace_pasted_triggers(target): takes the triggers on auth.users (not
 * profile-sync's own) whose function writes the target table — the pasted handle_new_user and its
 * kind — out of the signup, so users are synced once, by profile-sync, and a signup can no longer
 * fail in them. The trigger is dropped where the migration's role may (hosted Supabase lets
 * postgres drop triggers on auth tables); where it may not (auth.users belongs to Auth), its
 * function — a trigger function, which only triggers can call — is replaced by one that does
 * nothing, with a comment saying so. Returns what was replaced as "trigger → function (how)".
 * Internal: called by apply_mapping, in the same transaction that makes profile-sync's trigger
 * the one that syncs.
 */
create or replace function profile_sync.replace_pasted_triggers(target regclass)
returns text[]
language plpgsql
volatile
set search_path = ''
as $$
declare
  t record;
  rel_name text := (select c.relname from pg_catalog.pg_class c where c.oid = target);
  rel_schema text := (select n.nspname from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace where c.oid = target);
  replaced text[] := '{}';
  how text;
begin
  for t in
    select tg.tgname, p.oid as fn, p.oid::regprocedure::text as function, p.prolang
    from pg_catalog.pg_trigger tg
    join pg_catalog.pg_proc p on p.oid = tg.tgfoid
    where tg.tgrelid = 'auth.users'::regclass and not tg.tgisinternal
      and p.pronamespace <> 'profile_sync'::regnamespace
      -- the body names the table (qualified or not) in a statement that writes it: names compared
      -- exactly, as Postgres reads them
      and exists (
        select 1 from profile_sync._tables_written(p.prosrc) w
        where w.table_name = rel_name and (w.schema_name is null or w.schema_name = rel_schema))
  loop
    begin
      execute pg_catalog.format('drop trigger %I on auth.users', t.tgname);
      how := 'dropped';
    exception when insufficient_privilege then
      execute pg_catalog.format('create or replace function %s returns trigger language plpgsql as %L', t.function,
        ' begin if tg_op = ''DELETE'' then return old; end if; return new; end ');
      execute pg_catalog.format('comment on function %s is %L', t.function,
        'Neutralised by profile-sync (apply_mapping, ' || pg_catalog.now()::date || '): it wrote ' || target::text
        || ', which profile-sync now keeps. Drop trigger ' || t.tgname || ' on auth.users when you can.');
      how := 'function neutralised: no privilege to drop the trigger';
    end;
    replaced := replaced || pg_catalog.format('%s → %s (%s)', t.tgname, t.function, how);
    raise notice 'profile_sync: replaced trigger % on auth.users (it wrote %): %', t.tgname, target, how;
  end loop;
  return replaced;
end
$$;

/*
 * profile_sync.apply_mapping(mapping): makes mapping the one in force, in one transaction:
 * validates it (normalise_mapping), creates public.profiles for the default mapping if absent,
 * stores it, compiles the sync core and the users' write guard for the table (_compile_mapping),
 * takes from anon/authenticated only what users never need (_limit_user_grants: the app's own
 * grants and RLS policies are kept, so its profile form keeps working), and only then replaces
 * the pasted triggers on auth.users that write the table: a mapping that fails anywhere leaves
 * the pasted trigger syncing every signup (never a half-install). Existing rows are adopted as
 * they are: the first sync of each keeps every app-owned value that differs from auth (see
 * sync_decisions). Returns the normalised mapping. Callers: the database owner (a migration).
 */
create or replace function profile_sync.apply_mapping(mapping jsonb)
returns jsonb
language plpgsql
volatile
set search_path = ''
as $$
declare
  m jsonb := profile_sync.normalise_mapping(mapping);
  target regclass;
  replaced text[];
  previous text;
begin
  if m ->> 'table' = 'public.profiles' and pg_catalog.to_regclass('public.profiles') is null then
    perform profile_sync.create_default_profiles();
  end if;
  target := (m ->> 'table')::regclass;

  -- Another table (or key): the bookkeeping was the old table's merge base; the new table is
  -- adopted afresh. A previous target keeps its rows; it only stops being synced.
  select s.target_table into previous from profile_sync.settings s
  where s.target_table <> m ->> 'table' or s.target_key <> m ->> 'key';
  if found then
    truncate profile_sync.profile_state;
    if pg_catalog.to_regclass(previous) is not null then
      execute pg_catalog.format('drop trigger if exists profile_sync_user_edits on %s', previous);
      execute pg_catalog.format('drop trigger if exists profile_sync_user_writes on %s', previous);
    end if;
  end if;
  insert into profile_sync.settings as s (mapping, target_table, target_key, default_role, self_assignable_roles)
  values (m, m ->> 'table', m ->> 'key', m #>> '{roles,default}',
    array(select pg_catalog.jsonb_array_elements_text(m #> '{roles,self_assignable}')))
  on conflict (singleton) do update set
    mapping = excluded.mapping,
    target_table = excluded.target_table,
    target_key = excluded.target_key,
    default_role = excluded.default_role,
    self_assignable_roles = excluded.self_assignable_roles,
    applied_at = now();

  perform profile_sync._limit_user_grants(target, m);
  perform profile_sync._compile_mapping();

  -- last: the pasted trigger goes only with a compiled core in the same transaction
  replaced := profile_sync.replace_pasted_triggers(target);
  update profile_sync.settings s set replaced_triggers = s.replaced_triggers || replaced;
  return m;
end
$$;

/*
 * profile_sync.recompile(): compiles the sync core again for the mapping in force (after an
 * upgrade of profile-sync changed its templates); nothing when no mapping is applied yet.
 */
create or replace function profile_sync.recompile()
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  if exists (select 1 from profile_sync.settings) then
    perform profile_sync._compile_mapping();
  end if;
end
$$;

-- ==============================================================================================
-- supabase/schemas/36_user_writes.sql
-- ==============================================================================================

-- What signed-in users may write to the target table. The app's own grants and RLS policies stay
-- as the app made them (its profile form keeps working); what users may never write — the key,
-- the role, auth-owned, insert-owned and soft-delete columns, another user's row — is refused per
-- column by one trigger for anon/authenticated, and what they may write to a user-editable text
-- column passes that column's cleaning rule (the mapping's "clean", shown by doctor).

/*
 * profile_sync._clean_rule_default(column_name, source): the cleaning rule a user-editable text
 * column gets when the mapping names none: by its source (full_name: name; avatar_url:
 * storage_path), else by its name (avatar/picture/photo/image/logo/icon/banner/cover:
 * storage_path; url/uri/website/homepage/link/site/blog: url; name/username/handle/nickname/
 * login/alias: name), else text. Internal: normalise_mapping.
 */
create or replace function profile_sync._clean_rule_default(column_name text, source text)
returns text
language sql
immutable
set search_path = ''
as $$
  select case
    when source = 'full_name' then 'name'
    when source = 'avatar_url' then 'storage_path'
    when column_name operator(pg_catalog.~*) '(avatar|picture|photo|image|logo|icon|banner|cover)' then 'storage_path'
    when column_name operator(pg_catalog.~*) '(^|_)(url|uri|website|homepage|home_page|link|site|blog)(_|$)' then 'url'
    when column_name operator(pg_catalog.~*) '(^|_)(name|username|handle|nickname|nick|login|alias)(_|$)' then 'name'
    else 'text'
  end
$$;

/*
 * profile_sync._clean_rule_cap(rule): the longest value a rule accepts when the column's own type
 * is not shorter: name 200 (longer is cut), url 2048, storage_path 1024, text 5000 (longer is
 * refused). Internal.
 */
create or replace function profile_sync._clean_rule_cap(rule text)
returns integer
language sql
immutable
set search_path = ''
as $$
  select case rule when 'name' then 200 when 'url' then 2048 when 'storage_path' then 1024 else 5000 end
$$;

/*
 * profile_sync._clean_user_value(rule, value, max_length): what a user's value becomes under the
 * rule, or null when it is refused:
 *   name          cleaned as a synced name is (clean_name: controls, bidi and zero-width
 *                 characters removed, spaces collapsed, trimmed), cut to max_length; refused
 *                 when nothing printable is left;
 *   url           an http(s) URL as an avatar URL must be (safe_avatar_url), at most max_length;
 *   storage_path  such a URL, or a Storage object path as apps store it (`0.8263.png`,
 *                 `<user id>/avatar.png`): ASCII letters, digits and . _ - ~ @ = + , in
 *                 /-separated segments, none of them . or .., not starting with / or . (so never
 *                 a scheme, a protocol-relative URL or a way up), at most max_length;
 *   text          kept as written, refused when it holds a control character other than tab,
 *                 line feed and carriage return, a bidi control, a zero-width space, word joiner
 *                 or BOM, or is longer than max_length.
 * Internal: the trigger _guard_user_write.
 */
create or replace function profile_sync._clean_user_value(rule text, value text, max_length integer)
returns text
language sql
immutable
set search_path = ''
as $$
  select case
    when value is null then null
    when rule = 'name' then nullif(pg_catalog.rtrim(pg_catalog.left(profile_sync.clean_name(value), max_length)), '')
    when pg_catalog.char_length(value) > max_length then null
    when rule = 'url' then profile_sync.safe_avatar_url(value)
    when rule = 'storage_path' then coalesce(profile_sync.safe_avatar_url(value),
      case when value operator(pg_catalog.~) '^[A-Za-z0-9_~@=+,-][A-Za-z0-9._~@=+,-]*(/[A-Za-z0-9._~@=+,-]+)*$'
        and value operator(pg_catalog.!~) '(^|/)\.\.?(/|$)' then value end)
    when rule = 'text' then case when value operator(pg_catalog.!~)
      '[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]'
      then value end
  end
$$;

/*
 * profile_sync._clean_rule_refusal(rule, max_length): what the error says a value of the rule
 * must be. Internal.
 */
create or replace function profile_sync._clean_rule_refusal(rule text, max_length integer)
returns text
language sql
immutable
set search_path = ''
as $$
  select case rule
    when 'name' then 'a name must hold a printable character'
    when 'url' then pg_catalog.format('an http(s) URL (at most %s characters) is required', max_length)
    when 'storage_path' then pg_catalog.format(
      'a Storage object path (e.g. 0.8263.png) or an http(s) URL (at most %s characters) is required', max_length)
    else pg_catalog.format(
      'at most %s characters, without control, bidi or zero-width characters', max_length)
  end
$$;

/*
 * profile_sync._user_write_rules(mapping): the rules _guard_user_write applies, from a normalised
 * mapping and the live table, each column by number (a rename keeps its rule):
 *   {key: {attnum, name}, protected: [{attnum, name, reason, type, default, volatile}],
 *    clean: [{attnum, name, rule, max_length}]}
 * Protected: every mapped column that is not user-editable and the soft-delete columns.
 * Internal: _compile_mapping.
 */
create or replace function profile_sync._user_write_rules(mapping jsonb)
returns jsonb
language sql
stable
set search_path = ''
as $$
  with target as (
    select pg_catalog.to_regclass(mapping ->> 'table') as rel
  ),
  cols as (
    select a.attnum, a.attname::text as name, pg_catalog.format_type(a.atttypid, a.atttypmod) as type,
      pg_catalog.pg_get_expr(d.adbin, d.adrelid) as default_sql
    from target t
    join pg_catalog.pg_attribute a on a.attrelid = t.rel and a.attnum > 0 and not a.attisdropped
    left join pg_catalog.pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
  ),
  editable as (
    select x as name from pg_catalog.jsonb_array_elements_text(mapping -> 'user_editable') x
  ),
  protected as (
    select c.*, case
        when e.value ->> 'from' = 'role' then 'it holds the role, which only the role policy and admins set'
        when e.value ->> 'owner' = 'auth' then 'it follows auth (auth-owned)'
        when e.value ->> 'owner' = 'insert' then 'profile-sync writes it when the row is created'
        else 'profile-sync keeps it and the mapping does not make it user-editable'
      end as reason
    from pg_catalog.jsonb_each(mapping -> 'columns') e
    join cols c on c.name = e.key
    where e.key not in (select name from editable)
    union all
    select c.*, 'it marks a soft-deleted user'
    from cols c
    where c.name in (mapping #>> '{soft_delete,at}', mapping #>> '{soft_delete,flag}')
  )
  select pg_catalog.jsonb_build_object(
    'key', (select pg_catalog.jsonb_build_object('attnum', c.attnum, 'name', c.name) from cols c where c.name = mapping ->> 'key'),
    'protected', coalesce((
      select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
        'attnum', p.attnum, 'name', p.name, 'reason', p.reason, 'type', p.type, 'default', p.default_sql,
        -- a default that differs on every call cannot tell a user's value from the default's
        'volatile', coalesce(p.default_sql operator(pg_catalog.~*)
          '(nextval|random|gen_random_uuid|uuid_generate_v[0-9a-z_]*|uuidv[47]|clock_timestamp|statement_timestamp|timeofday)\s*\(', false))
        order by p.attnum)
      from protected p), '[]'),
    'clean', coalesce((
      select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
        'attnum', c.attnum, 'name', c.name, 'rule', r.value ->> 'rule', 'max_length', (r.value ->> 'max_length')::integer)
        order by c.attnum)
      from pg_catalog.jsonb_each(coalesce(mapping -> 'clean', '{}')) r
      join cols c on c.name = r.key), '[]'))
$$;

/*
 * profile_sync._guard_user_write(): trigger function (before insert, update or delete, per row,
 * fired only when current_user is anon or authenticated: PostgREST's requests, not profile-sync,
 * the service role or the app's own security-definer functions). A user writes only their own
 * row (key = auth.uid()); never a protected column (an insert may leave it to its default); and
 * what they write to a user-editable text column passes its rule (_clean_user_value: names are
 * cleaned, anything else refused). Refusals: SQLSTATE 42501 (not theirs to write) or 23514 (a
 * value its rule refuses), naming the column. Values a user did not change are not checked, and
 * an insert of a row that exists already (an upsert) is checked as the update it becomes.
 * Rules come from settings.user_writes by column number, names from the catalog now, so a
 * renamed column keeps its rule and a dropped one is skipped.
 */
create or replace function profile_sync._guard_user_write()
returns trigger
language plpgsql
volatile
security definer
set search_path = ''
set jit = off
as $$
declare
  rules jsonb;
  names jsonb;
  uid uuid := auth.uid();
  n jsonb;
  o jsonb;
  r jsonb;
  key_col text;
  col text;
  value text;
  cleaned text;
  patch jsonb := '{}';
  default_value jsonb;
  rel text := pg_catalog.format('%I.%I', tg_table_schema, tg_table_name);
begin
  select s.user_writes into rules from profile_sync.settings s where pg_catalog.to_regclass(s.target_table) = tg_relid;
  if rules is null then
    return case when tg_op = 'DELETE' then old else new end;
  end if;
  select pg_catalog.jsonb_object_agg(a.attnum::text, a.attname) into names
  from pg_catalog.pg_attribute a where a.attrelid = tg_relid and a.attnum > 0 and not a.attisdropped;
  key_col := names ->> (rules #>> '{key,attnum}');
  if tg_op <> 'INSERT' then o := pg_catalog.to_jsonb(old); end if;
  if tg_op <> 'DELETE' then n := pg_catalog.to_jsonb(new); end if;

  if uid is null or key_col is null
    or (o is not null and o ->> key_col is distinct from uid::text)
    or (n is not null and n ->> key_col is distinct from uid::text) then
    raise exception 'profile_sync: a user may write only their own row of % (% = auth.uid())', rel, coalesce(key_col, 'its key')
      using errcode = '42501', schema = tg_table_schema, table = tg_table_name, column = coalesce(key_col, '');
  end if;
  if tg_op = 'DELETE' then
    return old;
  end if;
  if tg_op = 'INSERT' then
    -- an upsert of the user's existing row: its update is checked against the row
    execute pg_catalog.format('select pg_catalog.to_jsonb(t) from %s t where t.%I = $1', rel, key_col) into o using uid;
    if o is not null then
      return new;
    end if;
  end if;

  for r in select x from pg_catalog.jsonb_array_elements(rules -> 'protected') x loop
    col := names ->> (r ->> 'attnum');
    continue when col is null;
    if tg_op = 'UPDATE' then
      continue when n -> col is not distinct from o -> col;
    else
      continue when n -> col = 'null'::jsonb or (r ->> 'volatile')::boolean;
      if r ->> 'default' is not null then
        execute pg_catalog.format('select pg_catalog.to_jsonb((%s)::%s)', r ->> 'default', r ->> 'type') into default_value;
        continue when n -> col = default_value;
      end if;
    end if;
    raise exception 'profile_sync: users may not write %.% (%)', rel, col, r ->> 'reason'
      using errcode = '42501', schema = tg_table_schema, table = tg_table_name, column = col;
  end loop;

  for r in select x from pg_catalog.jsonb_array_elements(rules -> 'clean') x loop
    col := names ->> (r ->> 'attnum');
    continue when col is null or pg_catalog.jsonb_typeof(n -> col) is distinct from 'string'
      or (tg_op = 'UPDATE' and n -> col is not distinct from o -> col);
    value := n ->> col;
    cleaned := profile_sync._clean_user_value(r ->> 'rule', value, (r ->> 'max_length')::integer);
    if cleaned is null then
      raise exception 'profile_sync: %.%: % (rule %)', rel, col,
        profile_sync._clean_rule_refusal(r ->> 'rule', (r ->> 'max_length')::integer), r ->> 'rule'
        using errcode = '23514', schema = tg_table_schema, table = tg_table_name, column = col;
    end if;
    if cleaned is distinct from value then
      patch := patch || pg_catalog.jsonb_build_object(col, cleaned);
    end if;
  end loop;
  if patch <> '{}'::jsonb then
    new := pg_catalog.jsonb_populate_record(new, patch);
  end if;
  return new;
end
$$;

/*
 * profile_sync._install_user_write_guard(): stores the rules of the mapping in force and puts the
 * trigger profile_sync_user_writes on its table (when missing). It replaces the compiled
 * user-edit trigger of earlier versions (profile_sync_user_edits, check_user_edit()), which it
 * removes. Internal: compile_sync_core.
 */
create or replace function profile_sync._install_user_write_guard()
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
  target regclass;
begin
  update profile_sync.settings s set user_writes = profile_sync._user_write_rules(s.mapping)
  returning pg_catalog.to_regclass(s.target_table) into target;
  execute pg_catalog.format('drop trigger if exists profile_sync_user_edits on %s', target);
  drop function if exists profile_sync.check_user_edit();
  if not exists (select 1 from pg_catalog.pg_trigger t
      where t.tgrelid = target and t.tgname = 'profile_sync_user_writes' and t.tgenabled <> 'D') then
    execute pg_catalog.format(
      'create or replace trigger profile_sync_user_writes before insert or update or delete on %s for each row '
      'when (current_user in (''anon'', ''authenticated'')) execute function profile_sync._guard_user_write()', target);
  end if;
end
$$;

/*
 * profile_sync._limit_user_grants(target, mapping): what apply_mapping does to the target's
 * grants. The app's own grants and policies are kept (the guard refuses what users may not
 * write); only what users never need goes: TRUNCATE (it passes by triggers and RLS), TRIGGER and
 * REFERENCES, for anon and authenticated. public.profiles as profile-sync creates it keeps its
 * own contract: users update only the user-editable columns, never insert or delete.
 * Internal: apply_mapping.
 */
create or replace function profile_sync._limit_user_grants(target regclass, mapping jsonb)
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  execute pg_catalog.format('revoke truncate, trigger, references on table %s from anon, authenticated', target);
  execute pg_catalog.format('revoke references (%s) on table %s from anon, authenticated',
    (select pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' order by a.attnum)
     from pg_catalog.pg_attribute a where a.attrelid = target and a.attnum > 0 and not a.attisdropped), target);
  if exists (select 1 from pg_catalog.pg_trigger t
      where t.tgrelid = target and t.tgfoid = 'profile_sync.touch_updated_at()'::regprocedure) then
    execute pg_catalog.format('revoke insert, update, delete on table %s from anon, authenticated', target);
    if pg_catalog.jsonb_array_length(mapping -> 'user_editable') > 0 then
      execute pg_catalog.format('grant update (%s) on table %s to authenticated',
        (select pg_catalog.string_agg(pg_catalog.quote_ident(x), ', ')
         from pg_catalog.jsonb_array_elements_text(mapping -> 'user_editable') x), target);
    end if;
  end if;
end
$$;

/*
 * profile_sync.user_edit_rules(): the rule each user-editable text column's values pass, for
 * doctor: (column_name, rule, max_length, on_bad_value) where on_bad_value is 'cleaned' (name)
 * or 'refused'. Empty before a mapping is applied.
 */
create or replace function profile_sync.user_edit_rules()
returns table (column_name text, rule text, max_length integer, on_bad_value text)
language sql
stable
set search_path = ''
as $$
  select r.key, r.value ->> 'rule', (r.value ->> 'max_length')::integer,
    case when r.value ->> 'rule' = 'name' then 'cleaned' else 'refused' end
  from profile_sync.settings s, pg_catalog.jsonb_each(coalesce(s.mapping -> 'clean', '{}')) r
  order by 1
$$;

/*
 * profile_sync.user_write_findings(): for doctor: every grant or policy on the target that would
 * let a user write what they may not, or that users never need. (level, subject, message, fix):
 *   error  users' writes are not guarded (trigger profile_sync_user_writes missing or disabled)
 *          and anon/authenticated may insert or update a protected column;
 *   warn   anon/authenticated hold TRUNCATE, TRIGGER or REFERENCES; a write policy whose
 *          condition does not involve auth.uid() (the guard refuses other users' rows anyway);
 *          RLS off; a role-like column outside the mapping that users may write.
 * Empty before a mapping is applied.
 */
create or replace function profile_sync.user_write_findings()
returns table (level text, subject text, message text, fix text)
language plpgsql
stable
set search_path = ''
as $$
declare
  st record;
  target regclass;
  guarded boolean;
  who text;
  priv text;
  r record;
begin
  select s.target_table, s.user_writes into st from profile_sync.settings s;
  target := pg_catalog.to_regclass(st.target_table);
  if target is null then
    return;
  end if;
  guarded := exists (select 1 from pg_catalog.pg_trigger t
    where t.tgrelid = target and t.tgname = 'profile_sync_user_writes' and t.tgenabled <> 'D');
  if not guarded then
    level := 'error'; subject := pg_catalog.format('trigger profile_sync_user_writes on %s', target);
    message := pg_catalog.format('users'' writes to %s are not guarded (the trigger is missing or disabled)', target);
    fix := 'select profile_sync.recompile();';
    return next;
  end if;

  foreach who in array array['anon', 'authenticated'] loop
    foreach priv in array array['TRUNCATE', 'TRIGGER', 'REFERENCES'] loop
      if pg_catalog.has_table_privilege(who, target, priv)
        or (priv = 'REFERENCES' and pg_catalog.has_any_column_privilege(who, target, priv)) then
        level := 'warn'; subject := pg_catalog.format('grant %s on %s to %s', pg_catalog.lower(priv), target, who);
        message := pg_catalog.format('%s holds %s on %s, which users never need', who, priv, target);
        fix := pg_catalog.format('revoke %s on table %s from %s;', pg_catalog.lower(priv), target, who);
        return next;
      end if;
    end loop;
    if not guarded then
      for r in
        select p ->> 'name' as col, p ->> 'reason' as reason from pg_catalog.jsonb_array_elements(st.user_writes -> 'protected') p
        where exists (select 1 from pg_catalog.pg_attribute a where a.attrelid = target and a.attname = p ->> 'name' and not a.attisdropped)
          and (pg_catalog.has_column_privilege(who, target, p ->> 'name', 'UPDATE')
            or pg_catalog.has_column_privilege(who, target, p ->> 'name', 'INSERT'))
      loop
        level := 'error'; subject := pg_catalog.format('grant on %s.%I to %s', target, r.col, who);
        message := pg_catalog.format('%s may write %s.%I (%s) and nothing refuses it', who, target, r.col, r.reason);
        fix := 'select profile_sync.recompile();';
        return next;
      end loop;
    end if;
    for r in
      select a.attname::text as col from pg_catalog.pg_attribute a
      where a.attrelid = target and a.attnum > 0 and not a.attisdropped
        and a.attname operator(pg_catalog.~*) '^(roles?|.*_roles?|is_admin|is_superuser|permissions)$'
        and not exists (select 1 from pg_catalog.jsonb_array_elements(st.user_writes -> 'protected') p where p ->> 'name' = a.attname)
        and (pg_catalog.has_column_privilege(who, target, a.attnum, 'UPDATE')
          or pg_catalog.has_column_privilege(who, target, a.attnum, 'INSERT'))
    loop
      level := 'warn'; subject := pg_catalog.format('grant on %s.%I to %s', target, r.col, who);
      message := pg_catalog.format('%s may write %s.%I, which is not in the mapping, so profile-sync does not guard it', who, target, r.col);
      fix := pg_catalog.format('map it ("%s": "role") or revoke insert, update on table %s from %s and grant only the columns users edit',
        r.col, target, who);
      return next;
    end loop;
  end loop;

  for r in
    select p.polname::text as name from pg_catalog.pg_policy p
    where p.polrelid = target and p.polcmd in ('a', 'w', '*')
      and (p.polroles = '{0}' or p.polroles && array(select o.oid from pg_catalog.pg_roles o where o.rolname in ('anon', 'authenticated')))
      and coalesce(pg_catalog.pg_get_expr(p.polqual, p.polrelid), '') !~ 'auth\.uid\(\)'
      and coalesce(pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid), '') !~ 'auth\.uid\(\)'
  loop
    level := 'warn'; subject := pg_catalog.format('policy %I on %s', r.name, target);
    message := pg_catalog.format('policy %I lets users write rows of %s without checking auth.uid() (the guard still refuses other users'' rows)', r.name, target);
    fix := pg_catalog.format('limit it to the user''s own row: using ((select auth.uid()) = %I)', st.user_writes #>> '{key,name}');
    return next;
  end loop;

  if not (select c.relrowsecurity from pg_catalog.pg_class c where c.oid = target) then
    level := 'warn'; subject := pg_catalog.format('row level security on %s', target);
    message := pg_catalog.format('RLS is off on %s: every user may read every row', target);
    fix := pg_catalog.format('alter table %s enable row level security;', target);
    return next;
  end if;
end
$$;

-- ==============================================================================================
-- supabase/schemas/37_table_changes.sql
-- ==============================================================================================

-- Table changes are noticed: the sync core is compiled for the target's definition at the time
-- (its columns, their types and defaults, what authenticated may read); every sync path compares
-- that with the table now and compiles again when it changed (a column added is returned by
-- sync-profile at once), or fails with a coded error naming the mapping field to fix when the
-- mapping no longer fits (a mapped column renamed or dropped). doctor lists the differences.

/*
 * profile_sync._table_definition(target): what the compiled sync core depends on in target, as
 * one value to compare: each column's number, name, type, NOT NULL, default and whether
 * authenticated may read it. Internal.
 */
create or replace function profile_sync._table_definition(target regclass)
returns jsonb
language sql
stable
set search_path = ''
set jit = off
as $$
  select pg_catalog.jsonb_build_object('table', target::text, 'columns', pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(
      a.attnum, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
      pg_catalog.pg_get_expr(d.adbin, d.adrelid),
      pg_catalog.has_column_privilege('authenticated', a.attrelid, a.attnum, 'select'))
    order by a.attnum))
  from pg_catalog.pg_attribute a
  left join pg_catalog.pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
  where a.attrelid = target and a.attnum > 0 and not a.attisdropped
$$;

/*
 * profile_sync._table_stamp(target): a cheap stand-in for _table_definition on the hot path: the
 * versions (xmin) of target's pg_attribute rows, which any change of a column (added, dropped,
 * renamed, retyped, its default or its grants) rewrites, and the table's grants. It changes whenever the definition may have (and, after
 * a catalog rewrite such as VACUUM FULL, when it has not: the definition then decides). Internal.
 */
create or replace function profile_sync._table_stamp(target regclass)
returns text
language sql
stable
set search_path = ''
set jit = off
as $$
  select coalesce(c.relacl::text, '')
    || ':' || coalesce((select pg_catalog.string_agg(a.xmin::text, ',' order by a.attnum)
                        from pg_catalog.pg_attribute a where a.attrelid = c.oid and a.attnum > 0), '')
  from pg_catalog.pg_class c where c.oid = target
$$;

/*
 * profile_sync._mapping_document(mapping): a normalised mapping as a document normalise_mapping
 * takes again (the computed per-column fields removed). Internal.
 */
create or replace function profile_sync._mapping_document(mapping jsonb)
returns jsonb
language sql
immutable
set search_path = ''
as $$
  select mapping || pg_catalog.jsonb_build_object('columns', coalesce((
    select pg_catalog.jsonb_object_agg(e.key, e.value - array['type', 'enum', 'not_null', 'sql', 'column_default'])
    from pg_catalog.jsonb_each(mapping -> 'columns') e), '{}'::jsonb))
$$;

/*
 * profile_sync._compile_mapping(): compiles everything the mapping in force needs for its table,
 * as it is now (compile_sync_core: the sync core and the users' write guard), and records the
 * table definition it was built for. Internal: apply_mapping, recompile, _ensure_compiled.
 */
create or replace function profile_sync._compile_mapping()
returns void
language plpgsql
volatile
set search_path = ''
as $$
begin
  perform profile_sync.compile_sync_core();
  update profile_sync.settings s set compiled_for = profile_sync._table_definition(pg_catalog.to_regclass(s.target_table))
    || pg_catalog.jsonb_build_object('stamp', profile_sync._table_stamp(pg_catalog.to_regclass(s.target_table)));
end
$$;

/*
 * profile_sync._ensure_compiled(): called first by every sync path (sync_isolated, the dry run).
 * When the target's catalog rows are the ones the core was compiled for (the usual case: one
 * cheap read, _table_stamp), nothing. Else the stored mapping is checked against the table again and, when it still
 * fits, stored normalised anew and compiled (one session does it; the others wait for it). When it
 * no longer fits: SQLSTATE 55000, the message naming the table, the mapping field and what is
 * wrong, the hint the command that fixes it. Nothing when no mapping is applied.
 */
create or replace function profile_sync._ensure_compiled()
returns void
language plpgsql
volatile
set search_path = ''
set jit = off
as $$
declare
  st record;
  m jsonb;
  target regclass;
begin
  select s.target_table, s.compiled_for ->> 'stamp' as stamp into st from profile_sync.settings s;
  if not found or st.stamp is not distinct from profile_sync._table_stamp(pg_catalog.to_regclass(st.target_table)) then
    return;
  end if;
  perform pg_catalog.pg_advisory_xact_lock(profile_sync.sync_lock_class(), -1);
  select s.target_table, s.compiled_for, s.mapping into st from profile_sync.settings s;
  target := pg_catalog.to_regclass(st.target_table);
  if st.compiled_for ->> 'stamp' is not distinct from profile_sync._table_stamp(target) then
    return;  -- another session compiled it meanwhile
  end if;
  if st.compiled_for - 'stamp' = profile_sync._table_definition(target) then
    -- the catalog rows were rewritten, the definition is the same: nothing to compile
    update profile_sync.settings s set compiled_for = s.compiled_for || pg_catalog.jsonb_build_object('stamp', profile_sync._table_stamp(target));
    return;
  end if;
  begin
    m := profile_sync.normalise_mapping(profile_sync._mapping_document(st.mapping));
  exception when sqlstate '22023' then
    raise exception 'profile_sync: % changed since the sync core was compiled for it, and the mapping no longer fits: %; '
      'fix it in supabase/profile-sync.json, then run npx profile-sync generate and supabase db push', st.target_table, sqlerrm
      using errcode = '55000',
        hint = 'select * from profile_sync.table_changes() lists every difference (npx profile-sync doctor shows them)';
  end;
  update profile_sync.settings s set mapping = m;
  perform profile_sync._compile_mapping();
end
$$;

/*
 * profile_sync.table_changes(): for doctor: how the target differs from the definition the sync
 * core was compiled for. (level, field, message, fix):
 *   error  a mapped column, the key or a soft-delete column renamed (named with its new name) or
 *          dropped, the table gone, or anything else that makes the stored mapping not fit
 *          (normalise_mapping's message); the fix names the mapping field and the command;
 *   info   columns added, or changed in a way a recompile absorbs (the next sync does it).
 * Empty when nothing changed or no mapping is applied.
 */
create or replace function profile_sync.table_changes()
returns table (level text, field text, message text, fix text)
language plpgsql
volatile
set search_path = ''
as $$
declare
  st record;
  target regclass;
  now_def jsonb;
  c record;
  refs jsonb;
  reported boolean := false;
  generate constant text := 'then run `npx profile-sync generate` and `supabase db push`';
begin
  select s.target_table, s.compiled_for, s.mapping into st from profile_sync.settings s;
  if not found or st.compiled_for is null then
    return;
  end if;
  target := pg_catalog.to_regclass(st.target_table);
  if target is null then
    level := 'error'; field := 'mapping.table';
    message := pg_catalog.format('table %s no longer exists (renamed or dropped)', st.target_table);
    fix := pg_catalog.format('set "table" in supabase/profile-sync.json to the table''s name now, %s', generate);
    return next;
    return;
  end if;
  now_def := profile_sync._table_definition(target);
  st.compiled_for := st.compiled_for - 'stamp';
  if now_def = st.compiled_for then
    return;
  end if;

  -- every column the mapping names, with the field that names it
  refs := pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_array('mapping.key', st.mapping ->> 'key'))
    || coalesce((select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array('mapping.columns.' || k, k))
                 from pg_catalog.jsonb_object_keys(st.mapping -> 'columns') k), '[]')
    || coalesce((select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array('mapping.soft_delete.' || k, st.mapping #>> array['soft_delete', k]))
                 from pg_catalog.unnest(array['at', 'flag']) k where st.mapping #>> array['soft_delete', k] is not null), '[]')
    || coalesce((select pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array('mapping.user_editable', x))
                 from pg_catalog.jsonb_array_elements_text(st.mapping -> 'user_editable') x), '[]');
  for c in
    select r ->> 0 as field, r ->> 1 as col, was.v ->> 0 as attnum, was.v ->> 2 as was_type,
      (select n.v ->> 1 from pg_catalog.jsonb_array_elements(now_def -> 'columns') n (v) where n.v -> 0 = was.v -> 0) as now_name,
      (select n.v ->> 2 from pg_catalog.jsonb_array_elements(now_def -> 'columns') n (v) where n.v -> 0 = was.v -> 0) as now_type
    from pg_catalog.jsonb_array_elements(refs) r
    left join lateral (
      select w.v from pg_catalog.jsonb_array_elements(st.compiled_for -> 'columns') w (v) where w.v ->> 1 = r ->> 1
    ) was on true
  loop
    continue when c.now_name = c.col and c.now_type = c.was_type;
    level := 'error'; field := c.field;
    if c.now_name is null then
      message := pg_catalog.format('column %I of %s was dropped; %s still names it', c.col, target, c.field);
      fix := pg_catalog.format('remove or change %s in supabase/profile-sync.json, %s', c.field, generate);
    elsif c.now_name <> c.col then
      message := pg_catalog.format('column %I of %s was renamed to %I; %s still names %I', c.col, target, c.now_name, c.field, c.col);
      fix := pg_catalog.format('rename it to %s in %s in supabase/profile-sync.json, %s', c.now_name, c.field, generate);
    else
      message := pg_catalog.format('column %I of %s changed type from %s to %s', c.col, target, c.was_type, c.now_type);
      fix := pg_catalog.format('check %s in supabase/profile-sync.json, %s', c.field, generate);
    end if;
    reported := true;
    return next;
  end loop;

  -- anything else the mapping no longer passes
  if not reported then
    begin
      perform profile_sync.normalise_mapping(profile_sync._mapping_document(st.mapping));
    exception when sqlstate '22023' then
      level := 'error'; field := pg_catalog.split_part(sqlerrm, ':', 1); message := sqlerrm;
      fix := pg_catalog.format('fix %s in supabase/profile-sync.json (table %s), %s', field, target, generate);
      reported := true;
      return next;
    end;
  end if;

  for c in
    select n.v ->> 1 as col from pg_catalog.jsonb_array_elements(now_def -> 'columns') n (v)
    where not exists (select 1 from pg_catalog.jsonb_array_elements(st.compiled_for -> 'columns') w (v) where w.v -> 0 = n.v -> 0)
  loop
    level := 'info'; field := null;
    message := pg_catalog.format('column %I was added to %s since the sync core was compiled', c.col, target);
    fix := case when reported then null else 'nothing: the next sync compiles it again (or: select profile_sync.recompile();)' end;
    return next;
  end loop;
end
$$;

-- ==============================================================================================
-- supabase/schemas/40_sync_core.sql
-- ==============================================================================================

-- The sync core: the three-way merge (sync_decisions) and the one statement that applies it
-- (sync_users), compiled for the table the mapping in force names (compile_sync_core); the
-- failure isolation every path syncs through (sync_isolated); and sync-profile's one call
-- (sync_profile).
--
-- Why compiled: the merge reads and writes the target's own columns, and a set-based statement
-- can only name columns it knows when it is planned. compile_sync_core writes static SQL for the
-- mapping (no dynamic SQL per row or per call); the templates below are the one definition of the
-- merge. `select profile_sync.compiled_sql()` shows what is in force.

/*
 * profile_sync.sync_lock_class(): the first key of the transaction-level advisory locks that
 * serialise syncs of the same user ('prst' in ASCII). profile_sync.reconcile_lock_key() is the
 * reconcile's.
 */
create or replace function profile_sync.sync_lock_class()
returns integer
language sql
immutable
parallel safe
set search_path = '' -- a constant: folded into its callers' plans all the same
as $$
  select 1886548852
$$;

/*
 * profile_sync.key_range(id): the key range of a user id, one of 1024: its first 10 bits. Syncs
 * lock ranges, not users (a batch of any size holds at most 1024 locks), and reconcile pages end
 * on range boundaries so that pages synced in parallel rarely wait for each other. Auth's ids are
 * random (v4), so ranges fill evenly.
 * No SET clause: inlined per user into reconcile's page statements and lock_key_ranges (a SET
 * clause would forbid that); every name in it is qualified.
 */
create or replace function profile_sync.key_range(id uuid)
returns integer
language sql
immutable
parallel safe
as $$
  select (pg_catalog.get_byte(pg_catalog.uuid_send(id), 0) * 4 + pg_catalog.get_byte(pg_catalog.uuid_send(id), 1) / 64)::integer
$$;

/*
 * profile_sync.lock_key_ranges(ids): takes the transaction-level advisory lock of each key range
 * the ids fall in, in range order (so concurrent syncs never deadlock one another). Two users in
 * the same range merely wait for each other; a reconcile page of consecutive ids holds two or
 * three ranges. Internal: called by sync_users.
 */
create or replace function profile_sync.lock_key_ranges(ids uuid[])
returns void
language sql
volatile
set search_path = ''
as $$
  select pg_catalog.pg_advisory_xact_lock(profile_sync.sync_lock_class(), r.key_range)
  from (
    select distinct profile_sync.key_range(i.id) as key_range from pg_catalog.unnest(ids) as i (id) where i.id is not null
  ) r
  order by r.key_range
$$;

/*
 * The compiled core's generated names (the legend, written once). Inside the compiled statement,
 * every value of a mapped column c travels under a quoted name "<what>:c":
 *   "auth:c"          what auth says c should hold (its source; for the role, the policy's result)
 *   "row:c"           what the target row holds now (null when there is no row)
 *   "new:c"           what the sync writes
 *   "synced:c"        the merge base: the value last synced from auth (profile_state."synced:c")
 *   "edited:c"        the sticky app-edit flag as stored (profile_state."edited:c")
 *   "keep:c"          the decision: the app edited c, so its value is kept
 *   "next_synced:c"   "next_edited:c"   what profile_state holds after the sync
 * The statement's own names (id, in_auth, has_profile, base_role, …) have no colon, and every
 * generated name starts with a fixed word and a colon: a user's column, whatever it is called,
 * meets neither (a column "deleted_at" gives "auth:deleted_at", never the statement's
 * auth_deleted_at). Columns of the target itself are only ever read qualified (p.c, t.c, new.c).
 */
create or replace function profile_sync._name(what text, col text)
returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
  select pg_catalog.quote_ident(what || ':' || col)
$$;

/*
 * profile_sync._comment_safe(name): a name as it may appear inside a `--` comment of generated
 * SQL: control characters (a newline would end the comment and turn the rest into code) dropped.
 * Internal.
 */
create or replace function profile_sync._comment_safe(name text)
returns text
language sql
immutable
parallel safe
set search_path = ''
as $$
  select pg_catalog.regexp_replace(name, '[[:cntrl:]]', '', 'g')
$$;

/*
 * profile_sync._fill(template, pieces): the template with each {{name}} replaced by
 * pieces ->> name, in one pass (a piece is never scanned for further names). The compilers below
 * write their SQL as templates with named pieces; a name with no piece raises. Internal.
 */
create or replace function profile_sync._fill(template text, pieces jsonb)
returns text
language plpgsql
immutable
set search_path = ''
as $$
declare
  texts text[] := pg_catalog.regexp_split_to_array(template, '\{\{[a-z_]+\}\}');
  names text[] := array(
    select m.m[1] from pg_catalog.regexp_matches(template, '\{\{([a-z_]+)\}\}', 'g') with ordinality as m (m, n)
    order by m.n);
  filled text := texts[1];
begin
  for i in 1 .. coalesce(pg_catalog.cardinality(names), 0) loop
    if not pieces ? names[i] then
      raise exception 'compile_sync_core: no piece named % for the template', names[i];
    end if;
    filled := filled || (pieces ->> names[i]) || texts[i + 1];
  end loop;
  return filled;
end
$$;

/*
 * profile_sync._function_sql(header, body, pieces): a CREATE FUNCTION statement: the header
 * template filled, then AS and the filled body as one quoted literal (never dollar quotes, which
 * a value inside the body could close). Internal.
 */
create or replace function profile_sync._function_sql(header text, body text, pieces jsonb)
returns text
language sql
immutable
set search_path = ''
as $$
  select profile_sync._fill(header, pieces) || E'\nas ' || pg_catalog.quote_literal(profile_sync._fill(body, pieces))
$$;

/*
 * profile_sync._column_plan(mapping): one row per column the compiled sync writes, in order: the
 * mapped columns (by name), then the soft-delete columns. For each:
 *   rule        auth (always follows auth), app (three-way merge), insert (written on creation);
 *               the soft-delete columns are auth-owned;
 *   soft        'at' / 'flag' for the soft-delete columns, else null;
 *   source_sql  SQL over auth.users u giving "auth:c" (null: the role and soft-delete columns,
 *               which the statement derives later);
 *   auth_value  SQL over the statement's row x for what auth says c should hold;
 *   clear_value SQL for the value a soft delete leaves in c (null: a soft delete keeps c).
 * Every name is quoted with %I, every value from the mapping with %L (the sources' SQL was built
 * so by normalise_mapping). Internal: the compilers read it.
 */
create or replace function profile_sync._column_plan(mapping jsonb)
returns table (ord integer, col text, col_type text, rule text, soft text, source_sql text, auth_value text, clear_value text)
language sql
stable
set search_path = ''
rows 20
as $$
  with soft as (
    select mapping -> 'soft_delete' as spec,
      pg_catalog.jsonb_typeof(mapping -> 'soft_delete') = 'object' as marks
  ),
  cleared as (
    select pg_catalog.jsonb_array_elements_text(mapping -> 'clear_on_soft_delete') as col
  )
  select (pg_catalog.row_number() over (order by c.key))::integer, c.key, c.value ->> 'type', c.value ->> 'owner', null::text,
      case when c.value ->> 'from' is distinct from 'role' then c.value ->> 'sql' end,
      case
        when c.value ->> 'from' is distinct from 'role' then pg_catalog.format('x.%s', profile_sync._name('auth', c.key))
        -- an enum column takes only its own labels: another role is null, then the column's default
        when (c.value ->> 'enum')::boolean then pg_catalog.format(
          'coalesce(case when x.role_value = any (pg_catalog.enum_range(null::%s)::text[]) then x.role_value::%s end, %s)',
          c.value ->> 'type', c.value ->> 'type', coalesce(c.value ->> 'column_default', 'null'))
        else 'x.role_value'
      end,
      case when s.marks and c.key in (select cl.col from cleared cl) then coalesce(
        case when c.value ? 'default' then profile_sync.mapping_literal(c.key, c.value -> 'default', c.value ->> 'type') end,
        case when (c.value ->> 'not_null')::boolean then c.value ->> 'column_default' end,
        pg_catalog.format('null::%s', c.value ->> 'type'))
      end
  from pg_catalog.jsonb_each(mapping -> 'columns') c, soft s
  union all
  select 1000001, s.spec ->> 'at',
    pg_catalog.format_type(a.atttypid, a.atttypmod), 'auth', 'at', null,
    pg_catalog.format('x.auth_deleted_at::%s', pg_catalog.format_type(a.atttypid, a.atttypmod)), null
  from soft s
  join pg_catalog.pg_attribute a on a.attrelid = (mapping ->> 'table')::regclass and a.attname = s.spec ->> 'at'
    and a.attnum > 0 and not a.attisdropped
  where s.spec ? 'at'
  union all
  select 1000002, s.spec ->> 'flag', 'boolean', 'auth', 'flag', null,
    pg_catalog.format('(x.auth_deleted_at is null) = %L::boolean', s.spec ->> 'active'), null
  from soft s
  where s.spec ? 'flag'
  order by 1
$$;

/*
 * profile_sync._compile_decisions(mapping): the statement that creates sync_decisions(ids), what
 * a sync of the users would do (the merge), one row per distinct id, without doing it. The rules
 * (DESIGN "Profile rules", for any mapping):
 * - auth-owned columns always follow auth; insert-owned ones are written when the row is created;
 * - app-owned columns (full_name, avatar_url, role by default) follow auth until the app edits
 *   them (the current value differs from the value last synced), then never again. A row the
 *   sync has never seen (adopted with the table) counts as edited where it holds a value that
 *   differs from auth (a null is filled from auth);
 * - role: raw_app_meta_data.role, else the creation-time decision: user metadata's role if
 *   self-assignable, when the profile is created, else the default role (settings);
 * - soft delete (auth deleted_at): marks the row (timestamp and/or flag) and clears the listed
 *   columns; hard delete: the row goes;
 * - an auth state older than the one last synced is never applied; nothing changed, nothing written.
 * Internal: compile_sync_core executes it.
 */
create or replace function profile_sync._compile_decisions(mapping jsonb)
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  target constant text := mapping ->> 'table';
  key constant text := pg_catalog.quote_ident(mapping ->> 'key');
  pieces jsonb;
begin
  with plan as (
    select p.*, p.clear_value is not null as cleared
    from profile_sync._column_plan(mapping) p
  ),
  -- what the function returns per column: the values the callers read (sync_users writes "new:c",
  -- the preview compares "row:c", and the bookkeeping of app-owned columns)
  outputs as (
    select p.ord, o.n, o.name, o.type
    from plan p
    cross join lateral (values
      (1, profile_sync._name('new', p.col), p.col_type),
      (2, profile_sync._name('row', p.col), p.col_type),
      (3, profile_sync._name('auth', p.col), p.col_type),
      (4, profile_sync._name('keep', p.col), 'boolean'),
      (5, profile_sync._name('next_synced', p.col), p.col_type),
      (6, profile_sync._name('next_edited', p.col), 'boolean')
    ) as o (n, name, type)
    where o.n <= 2 or p.rule = 'app'
  )
  select pg_catalog.jsonb_build_object(
    'table_comment', profile_sync._comment_safe(target),
    'key_comment', profile_sync._comment_safe(key),
    'table', target,
    'key', key,
    'columns', (select pg_catalog.string_agg(pg_catalog.format('%s %s', o.name, o.type), E',\n  ' order by o.ord, o.n) from outputs o),
    'outputs', (select pg_catalog.string_agg('d.' || o.name, E',\n    ' order by o.ord, o.n) from outputs o),
    'soft_deleted', case when pg_catalog.jsonb_typeof(mapping -> 'soft_delete') = 'object'
      then 'u.deleted_at is not null' else 'false' end,
    -- source: what each table holds, read once per user
    'source_columns', coalesce((select pg_catalog.string_agg(x.line, '' order by x.ord, x.n) from (
        select p.ord, 1 as n, pg_catalog.format(E',\n      %s as %s', p.source_sql, profile_sync._name('auth', p.col)) as line
        from plan p where p.source_sql is not null
        union all
        select p.ord, 2, pg_catalog.format(E',\n      p.%I as %s', p.col, profile_sync._name('row', p.col)) from plan p
        union all
        select p.ord, 3, pg_catalog.format(E',\n      s.%s as %s, s.%s as %s',
          profile_sync._name('synced', p.col), profile_sync._name('synced', p.col),
          profile_sync._name('edited', p.col), profile_sync._name('edited', p.col))
        from plan p where p.rule = 'app'
      ) x), ''),
    -- keep: has the app edited an app-owned column (the three-way merge's question)
    'keep_columns', coalesce((select pg_catalog.string_agg(pg_catalog.format(
        E',\n      case when x.has_state then x.%2$s or (x.has_profile and x.%1$s is distinct from x.%3$s)' ||
        E'\n        else x.has_profile and x.%1$s is not null and x.%1$s is distinct from %4$s end as %5$s',
        profile_sync._name('row', p.col), profile_sync._name('edited', p.col), profile_sync._name('synced', p.col),
        p.auth_value, profile_sync._name('keep', p.col)), '' order by p.ord)
      from plan p where p.rule = 'app'), ''),
    -- new: what the sync writes, by the column's rule
    'new_columns', (select pg_catalog.string_agg(E',\n      ' || case p.rule
        when 'insert' then pg_catalog.format('case when x.has_profile then x.%s else %s end',
          profile_sync._name('row', p.col), p.auth_value)
        when 'app' then pg_catalog.format('case%s when x.%s then x.%s else %s end',
          case when p.cleared then pg_catalog.format(' when x.soft_deleted then %s', p.clear_value) else '' end,
          profile_sync._name('keep', p.col), profile_sync._name('row', p.col), p.auth_value)
        else case when p.cleared then pg_catalog.format('case when x.soft_deleted then %s else %s end', p.clear_value, p.auth_value)
          else p.auth_value end
      end || ' as ' || profile_sync._name('new', p.col), '' order by p.ord)
      from plan p),
    -- next: the bookkeeping of app-owned columns (a cleared column starts afresh)
    'next_columns', coalesce((select pg_catalog.string_agg(pg_catalog.format(
        E',\n      case%1$s when x.%2$s then x.%3$s else x.%4$s end as %5$s,' ||
        E'\n      x.%2$s%6$s as %7$s%8$s',
        case when p.cleared then ' when x.soft_deleted then null' else '' end,
        profile_sync._name('keep', p.col), profile_sync._name('synced', p.col), profile_sync._name('new', p.col),
        profile_sync._name('next_synced', p.col), case when p.cleared then ' and not x.soft_deleted' else '' end,
        profile_sync._name('next_edited', p.col),
        -- the role's "auth:c" is the policy's result, known only from here on
        case when p.source_sql is null then pg_catalog.format(E',\n      %s as %s', p.auth_value, profile_sync._name('auth', p.col)) else '' end),
        '' order by p.ord)
      from plan p where p.rule = 'app'), ''),
    'changed', coalesce((select pg_catalog.string_agg(pg_catalog.format(E'\n      or d.%s is distinct from d.%s',
        profile_sync._name('row', p.col), profile_sync._name('new', p.col)), '' order by p.ord)
      from plan p where p.rule <> 'insert'), ''),
    'stored_state', coalesce((select pg_catalog.string_agg(pg_catalog.format(', d.%s, d.%s',
        profile_sync._name('synced', p.col), profile_sync._name('edited', p.col)), '' order by p.ord)
      from plan p where p.rule = 'app'), ''),
    'next_state', coalesce((select pg_catalog.string_agg(pg_catalog.format(', d.%s, d.%s',
        profile_sync._name('next_synced', p.col), profile_sync._name('next_edited', p.col)), '' order by p.ord)
      from plan p where p.rule = 'app'), ''),
    -- a soft-deleted user whose row is not marked yet is 'deleted' (the flag, when there is one, says)
    'not_marked', coalesce((select pg_catalog.format(
        case p.soft when 'flag' then 'd.%1$s is distinct from d.%2$s' else 'd.%1$s is null' end,
        profile_sync._name('row', p.col), profile_sync._name('new', p.col))
      from plan p where p.soft is not null order by p.soft = 'flag' desc limit 1), 'false')
  ) into pieces;

  return profile_sync._function_sql($tpl$create function profile_sync.sync_decisions(ids uuid[])
returns table (
  user_id uuid, in_auth boolean, has_profile boolean, has_state boolean, applies boolean,
  profile_changes boolean, state_changes boolean, outcome text, soft_deleted boolean,
  {{columns}},
  base_role text, auth_updated_at timestamptz
)
language sql
stable
-- No SET clause (search_path, jit): its callers inline it into their own statement, which a SET
-- clause would prevent; every name in it is qualified, and its callers carry both settings.
$tpl$, $tpl$
  -- compiled by profile_sync.compile_sync_core() for {{table_comment}} (key {{key_comment}});
  -- the names "<what>:<column>" are explained above profile_sync._name
  with wanted as (
    select distinct w.id from pg_catalog.unnest($1) as w (id) where w.id is not null
  ),
  -- each table probed through its key for the wanted ids, the settings joined once; offset 0 keeps
  -- this level a subquery of its own, so each mapped value is computed once per user
  source as (
    select
      w.id,
      u.id is not null as in_auth,
      p.{{key}} is not null as has_profile,
      s.user_id is not null as has_state,
      u.updated_at as auth_updated_at,
      {{soft_deleted}} as soft_deleted,
      u.deleted_at as auth_deleted_at,
      profile_sync.clean_text(u.raw_app_meta_data -> 'role', 100) as app_role,
      profile_sync.clean_text(u.raw_user_meta_data -> 'role', 100) as claimed_role,
      ps.default_role,
      ps.self_assignable_roles,
      s.initial_role as stored_initial_role,
      s.auth_updated_at as stored_auth_updated_at{{source_columns}}
    from wanted w
    -- the one settings row (limit 1: so estimated, not as a page's worth of rows)
    cross join (select s.default_role, s.self_assignable_roles from profile_sync.settings s limit 1) ps
    left join auth.users u on u.id = w.id
    left join {{table}} p on p.{{key}} = w.id
    left join profile_sync.profile_state s on s.user_id = w.id
    offset 0
  ),
  based as (
    select
      x.*,
      coalesce(
        x.stored_initial_role,
        case
          when not x.has_profile and x.claimed_role = any (x.self_assignable_roles) then x.claimed_role
          else x.default_role
        end
      ) as base_role,
      -- version guard: an auth state older than the one last synced is never applied
      x.stored_auth_updated_at is not null and x.auth_updated_at is not null
        and x.auth_updated_at < x.stored_auth_updated_at as is_older
    from source x
  ),
  valued as (
    select x.*, coalesce(x.app_role, x.base_role) as role_value
    from based x
  ),
  merged as (
    select x.*{{keep_columns}}
    from valued x
  ),
  target as (
    select x.*, x.in_auth and not x.is_older as applies{{new_columns}}
    from merged x
  ),
  decided as (
    select x.*{{next_columns}}
    from target x
  )
  select
    d.id, d.in_auth, d.has_profile, d.has_state, d.applies,
    not d.has_profile{{changed}} as profile_changes,
    row(d.stored_initial_role, d.stored_auth_updated_at{{stored_state}})
      is distinct from row(d.base_role, d.auth_updated_at{{next_state}}) as state_changes,
    case
      when not d.in_auth then case when d.has_profile then 'deleted' else 'not_found' end
      when d.is_older then 'unchanged'
      when d.soft_deleted and (not d.has_profile or {{not_marked}}) then 'deleted'
      when not d.has_profile then 'created'
      when not d.has_profile{{changed}} then 'updated'
      else 'unchanged'
    end as outcome,
    d.soft_deleted,
    {{outputs}},
    d.base_role, d.auth_updated_at
  from decided d
$tpl$, pieces);
end
$$;

/*
 * profile_sync._compile_sync_users(mapping): the statement that creates sync_users(ids), which
 * does what sync_decisions decides: one statement writes the rows, the bookkeeping, and removes
 * the rows of users gone from auth; returns (user_id, outcome). Internal.
 */
create or replace function profile_sync._compile_sync_users(mapping jsonb)
returns text
language plpgsql
stable
set search_path = ''
as $$
declare
  pieces jsonb;
begin
  with plan as (select * from profile_sync._column_plan(mapping))
  select pg_catalog.jsonb_build_object(
    'table_comment', profile_sync._comment_safe(mapping ->> 'table'),
    'table', mapping ->> 'table',
    'key', pg_catalog.quote_ident(mapping ->> 'key'),
    'insert_columns', (select pg_catalog.string_agg(pg_catalog.format('%I', p.col), ', ' order by p.ord) from plan p),
    'insert_values', (select pg_catalog.string_agg('d.' || profile_sync._name('new', p.col), ', ' order by p.ord) from plan p),
    'on_conflict', coalesce(E'update set\n      ' || (select pg_catalog.string_agg(pg_catalog.format('%1$I = excluded.%1$I', p.col), E',\n      ' order by p.ord)
      from plan p where p.rule <> 'insert'), 'nothing'),
    'state_columns', coalesce((select pg_catalog.string_agg(pg_catalog.format(', %s, %s',
      profile_sync._name('synced', p.col), profile_sync._name('edited', p.col)), '' order by p.ord) from plan p where p.rule = 'app'), ''),
    'state_values', coalesce((select pg_catalog.string_agg(pg_catalog.format(', d.%s, d.%s',
      profile_sync._name('next_synced', p.col), profile_sync._name('next_edited', p.col)), '' order by p.ord) from plan p where p.rule = 'app'), ''),
    'state_updates', coalesce((select pg_catalog.string_agg(pg_catalog.format(E',\n      %1$s = excluded.%1$s, %2$s = excluded.%2$s',
      profile_sync._name('synced', p.col), profile_sync._name('edited', p.col)), '' order by p.ord) from plan p where p.rule = 'app'), '')
  ) into pieces;

  -- the two statements a sync runs, each written once: run as they are for a few ids, and through
  -- execute (their text as a literal) for many
  pieces := pieces || pg_catalog.jsonb_build_object('lock_rows', profile_sync._fill(
    $tpl$from {{table}} p where p.{{key}} = any ($1) order by p.{{key}} for no key update$tpl$, pieces));
  pieces := pieces || pg_catalog.jsonb_build_object('write', profile_sync._fill($tpl$with decided as materialized (
    select d.* from profile_sync.sync_decisions($1) d
  ),
  upserted as (
    insert into {{table}} as p ({{key}}, {{insert_columns}})
    select d.user_id, {{insert_values}}
    from decided d
    where d.applies and d.profile_changes
    order by d.user_id
    on conflict ({{key}}) do {{on_conflict}}
    returning p.{{key}}
  ),
  state_written as (
    -- first syncs insert their bookkeeping; later ones update it, only when something moved
    insert into profile_sync.profile_state as s (user_id, initial_role, auth_updated_at, synced_at{{state_columns}})
    select d.user_id, d.base_role, d.auth_updated_at, pg_catalog.now(){{state_values}}
    from decided d
    where d.applies and (not d.has_state or d.profile_changes or d.state_changes)
    order by d.user_id
    on conflict on constraint profile_state_pkey do update set
      initial_role = excluded.initial_role,
      auth_updated_at = excluded.auth_updated_at,
      synced_at = excluded.synced_at{{state_updates}}
    returning s.user_id
  ),
  removed as (
    delete from {{table}} p
    where p.{{key}} = any (array(select d.user_id from decided d where not d.in_auth))
    returning p.{{key}}
  )
  -- upserted, state_written and removed run to completion whether or not they are read
  select d.user_id, d.outcome from decided d order by d.user_id$tpl$, pieces));
  pieces := pieces || pg_catalog.jsonb_build_object(
    'lock_rows_literal', pg_catalog.quote_literal('select 1 ' || (pieces ->> 'lock_rows')),
    'write_literal', pg_catalog.quote_literal(pieces ->> 'write'));

  return profile_sync._function_sql($tpl$create or replace function profile_sync.sync_users(ids uuid[])
returns table (user_id uuid, outcome text)
language plpgsql
volatile
security definer
set search_path = ''
-- jit = off: see docs/reliability.md, "JIT". plan_cache_mode: see the body.
set jit = off
set plan_cache_mode = force_generic_plan
$tpl$, $tpl$
#variable_conflict use_column
begin
  -- compiled by profile_sync.compile_sync_core() for {{table_comment}}
  -- Syncs of the same user run one after another (lock_key_ranges); then the existing rows are
  -- locked in key order, the order in which Auth deleting users cascades (taken the other way
  -- round, a sync and Auth's delete of the same user can deadlock, and the one aborted may be
  -- Auth's). A new statement follows: a fresh snapshot taken after the locks, so auth is read as
  -- of now and every earlier sync of these users is seen.
  perform profile_sync.lock_key_ranges($1);

  -- Plans. A call for up to 100 users runs the statements as they are, on the plan this session
  -- made once (plan_cache_mode above): planning them (~2 ms) costs more than syncing a few users,
  -- and left to choose, Postgres would plan afresh on every call (the reused plan, estimated for
  -- unnest's 10 ids, never looks cheaper than one made for the actual 1). A larger call runs them
  -- through execute, planned for its own ids and for the tables as they are now, at ~1 % of its
  -- cost: a reused plan made while a table was empty reads that table whole for every user once
  -- it has grown, until autovacuum analyzes it (a reconcile of 20,000 missing users into an
  -- emptied table took 32 s that way, 2 s planned per call). Not by switching plan_cache_mode for
  -- the call: the foreign-key checks of every row written would be planned afresh too.
  if pg_catalog.cardinality($1) > 100 then
    execute {{lock_rows_literal}} using $1;
    return query execute {{write_literal}} using $1;
    return;
  end if;
  perform 1 {{lock_rows}};

  return query
  {{write}};
end
$tpl$, pieces);
end
$$;

/*
 * profile_sync._compile_preview(mapping): the statement that creates sync_preview(ids), the per-
 * column changes a sync would make in rows that exist, and the app-edited values it keeps although
 * auth differs (the dry run's report). Internal.
 */
create or replace function profile_sync._compile_preview(mapping jsonb)
returns text
language sql
stable
set search_path = ''
as $$
  select profile_sync._function_sql($tpl$create function profile_sync.sync_preview(ids uuid[])
returns table (user_id uuid, column_name text, from_value jsonb, to_value jsonb, kept boolean)
language sql
stable
set search_path = ''
set jit = off
rows 1000
$tpl$, $tpl$
  -- compiled by profile_sync.compile_sync_core() for {{table_comment}}
  select d.user_id, v.column_name, v.from_value, v.to_value, v.kept
  from profile_sync.sync_decisions($1) d
  cross join lateral (values
    {{columns}}
  ) as v (column_name, from_value, to_value, kept)
  where d.applies and d.has_profile and (v.from_value is distinct from v.to_value or v.kept)
$tpl$, pg_catalog.jsonb_build_object(
    'table_comment', profile_sync._comment_safe(mapping ->> 'table'),
    'columns', coalesce((
      select pg_catalog.string_agg(pg_catalog.format('(%L, pg_catalog.to_jsonb(d.%s), pg_catalog.to_jsonb(d.%s), %s)',
        p.col, profile_sync._name('row', p.col), profile_sync._name('new', p.col),
        case when p.rule = 'app' then pg_catalog.format('d.%s and d.%s is distinct from d.%s',
          profile_sync._name('keep', p.col), profile_sync._name('row', p.col), profile_sync._name('auth', p.col))
          else 'false' end), E',\n    ' order by p.ord)
      from profile_sync._column_plan(mapping) p where p.rule <> 'insert'),
      '(null::text, null::jsonb, null::jsonb, false)')))
$$;

/*
 * profile_sync._compile_target_profile(mapping): the statement that creates target_profile(id),
 * the row as its user may read it (sync-profile's answer): the columns authenticated may select
 * (all, by default; the key alone when none), timestamps as JavaScript writes them (milliseconds
 * and Z). Internal.
 */
create or replace function profile_sync._compile_target_profile(mapping jsonb)
returns text
language sql
stable
set search_path = ''
as $$
  select profile_sync._function_sql($tpl$create or replace function profile_sync.target_profile(id uuid)
returns jsonb
language sql
stable
set search_path = ''
set jit = off
$tpl$, $tpl$
  -- compiled by profile_sync.compile_sync_core() for {{table_comment}}
  select pg_catalog.jsonb_build_object({{readable}}) from {{table}} t where t.{{key}} = $1
$tpl$, pg_catalog.jsonb_build_object(
    'table_comment', profile_sync._comment_safe(mapping ->> 'table'),
    'table', mapping ->> 'table',
    'key', pg_catalog.quote_ident(mapping ->> 'key'),
    'readable', coalesce((
      select pg_catalog.string_agg(case pg_catalog.format_type(a.atttypid, null)
          when 'timestamp with time zone' then pg_catalog.format(
            '%L, pg_catalog.to_char(t.%I at time zone ''UTC'', ''YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'')', a.attname, a.attname)
          else pg_catalog.format('%L, t.%I', a.attname, a.attname)
        end, ', ' order by a.attnum)
      from pg_catalog.pg_attribute a
      where a.attrelid = (mapping ->> 'table')::regclass and a.attnum > 0 and not a.attisdropped
        and pg_catalog.has_column_privilege('authenticated', (mapping ->> 'table')::regclass, a.attnum, 'select')),
      pg_catalog.format('%L, t.%I', mapping ->> 'key', mapping ->> 'key'))))
$$;

/*
 * profile_sync._compile_targets(mapping): the statement that points the view profile_sync.targets
 * (what drift and reconcile read: the target's keys) at the target. Internal.
 */
create or replace function profile_sync._compile_targets(mapping jsonb)
returns text
language sql
stable
set search_path = ''
as $$
  select pg_catalog.format('create or replace view profile_sync.targets as select t.%I as id from %s t',
    mapping ->> 'key', (mapping ->> 'table')::regclass)
$$;

/*
 * profile_sync._add_bookkeeping(mapping): the columns profile_state needs for the mapping: per
 * app-owned column c, "synced:c" (of c's type; a column whose type changed starts afresh) and
 * "edited:c". Bookkeeping kept under the names used before (synced_c, c_edited) is renamed.
 * Internal.
 */
create or replace function profile_sync._add_bookkeeping(mapping jsonb)
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
  p record;
  existing text;
begin
  for p in select * from profile_sync._column_plan(mapping) x where x.rule = 'app' order by x.ord loop
    foreach existing in array array['synced', 'edited'] loop
      if not exists (select 1 from pg_catalog.pg_attribute a where a.attrelid = 'profile_sync.profile_state'::regclass
          and a.attname = existing || ':' || p.col and not a.attisdropped)
        and exists (select 1 from pg_catalog.pg_attribute a where a.attrelid = 'profile_sync.profile_state'::regclass
          and a.attname = case existing when 'synced' then 'synced_' || p.col else p.col || '_edited' end
          and a.attname not in ('user_id', 'initial_role', 'auth_updated_at', 'synced_at') and not a.attisdropped) then
        execute pg_catalog.format('alter table profile_sync.profile_state rename column %I to %s',
          case existing when 'synced' then 'synced_' || p.col else p.col || '_edited' end, profile_sync._name(existing, p.col));
      end if;
    end loop;
    if exists (
      select 1 from pg_catalog.pg_attribute a
      where a.attrelid = 'profile_sync.profile_state'::regclass and a.attname = 'synced:' || p.col
        and not a.attisdropped and pg_catalog.format_type(a.atttypid, a.atttypmod) <> p.col_type
    ) then
      execute pg_catalog.format('alter table profile_sync.profile_state drop column %s', profile_sync._name('synced', p.col));
    end if;
    execute pg_catalog.format('alter table profile_sync.profile_state add column if not exists %s %s',
      profile_sync._name('synced', p.col), p.col_type);
    execute pg_catalog.format('alter table profile_sync.profile_state add column if not exists %s boolean not null default false',
      profile_sync._name('edited', p.col));
  end loop;
end
$$;

/*
 * profile_sync.compile_sync_core(): (re)creates, for the mapping in profile_sync.settings:
 *   sync_decisions(ids)  what a sync of the users would do (the merge), without doing it;
 *   sync_users(ids)      does it: one statement, returns (user_id, outcome);
 *   sync_preview(ids)    the per-column changes a sync would make (the dry run's report);
 *   target_profile(id)   the row as its user may read it (sync-profile's answer);
 *   targets              a view of the target's keys (what drift and reconcile read);
 *   the users' write guard: its rules and its trigger on the target (_install_user_write_guard,
 *                        36_user_writes.sql);
 * and the bookkeeping columns the mapping needs in profile_state. Each comes from its own
 * compiler (_compile_*) over one column plan (_column_plan). Internal: called by apply_mapping
 * and recompile.
 */
create or replace function profile_sync.compile_sync_core()
returns void
language plpgsql
volatile
set search_path = ''
as $$
declare
  m jsonb;
  statement text;
begin
  select s.mapping into m from profile_sync.settings s;
  if not found then
    raise exception 'no mapping is applied: apply one first (profile_sync.apply_mapping)' using errcode = '55000';
  end if;

  perform profile_sync._add_bookkeeping(m);
  drop function if exists profile_sync.sync_preview(uuid[]);
  drop function if exists profile_sync.sync_decisions(uuid[]);
  execute profile_sync._compile_decisions(m);
  execute profile_sync._compile_sync_users(m);
  execute profile_sync._compile_preview(m);
  execute profile_sync._compile_target_profile(m);
  execute profile_sync._compile_targets(m);
  perform profile_sync._install_user_write_guard();

  revoke all on function profile_sync.sync_decisions(uuid[]) from public;
  revoke all on function profile_sync.sync_preview(uuid[]) from public;
  revoke all on function profile_sync.sync_users(uuid[]) from public, anon, authenticated;
  revoke all on function profile_sync.target_profile(uuid) from public, anon, authenticated;
  revoke all on table profile_sync.targets from public, anon, authenticated;
  grant execute on function profile_sync.sync_users(uuid[]) to service_role;
end
$$;

/*
 * profile_sync.compiled_sql(): the SQL compile_sync_core made for the mapping in force, for
 * reading (doctor and reviewers): the definitions of sync_decisions, sync_users, sync_preview,
 * target_profile and the targets view.
 */
create or replace function profile_sync.compiled_sql()
returns text
language sql
stable
set search_path = ''
as $$
  select pg_catalog.string_agg(d, E'\n')
  from (
    select pg_catalog.pg_get_functiondef(p.oid) as d
    from pg_catalog.pg_proc p
    where p.pronamespace = 'profile_sync'::regnamespace
      and p.proname in ('sync_decisions', 'sync_users', 'sync_preview', 'target_profile')
    union all
    select 'create view profile_sync.targets as' || pg_catalog.pg_get_viewdef('profile_sync.targets'::regclass)
    where pg_catalog.to_regclass('profile_sync.targets') is not null
  ) x
$$;

/*
 * profile_sync.sync_isolated(ids, source): sync_users with failure isolation, the way every path
 * syncs. When the batch fails on a row the target refuses (a unique, check or NOT NULL
 * constraint, a value its type rejects, an error its own trigger raises), it is split in halves
 * and each is tried again, down to the one user that fails: that user gets outcome 'failed' and a
 * row in profile_sync.failures (SQLSTATE, message, the constraint's name), retried by every
 * reconcile; the others are synced. Transient errors (lock, serialization, connection, shutdown)
 * are raised, for the caller to retry. A successful sync removes the user's failure row.
 * Returns (user_id, outcome) per distinct id, in id order. Callers: the edge functions, reconcile.
 */
create or replace function profile_sync.sync_isolated(ids uuid[], source text)
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
  half integer;
  err_code text;
  err_message text;
  err_constraint text;
begin
  if pg_catalog.cardinality(wanted) = 0 then
    return;
  end if;
  perform profile_sync._ensure_compiled();  -- the table changed since the core was compiled?
  begin
    select pg_catalog.array_agg(r.user_id order by r.user_id), pg_catalog.array_agg(r.outcome order by r.user_id)
      into synced_ids, outcomes
      from profile_sync.sync_users(wanted) r;
    delete from profile_sync.failures f where f.user_id = any (wanted);
  exception when others then
    get stacked diagnostics err_code = returned_sqlstate, err_message = message_text, err_constraint = constraint_name;
    -- 08 connection, 40 rollback (serialization, deadlock), 53 resources, 57 operator, 55P03 lock
    if err_code ~ '^(08|40|53|57)' or err_code = '55P03' then
      raise;
    end if;
    if pg_catalog.cardinality(wanted) = 1 then
      insert into profile_sync.failures as f (user_id, source, error_code, error_message, constraint_name)
      values (wanted[1], sync_isolated.source, err_code, pg_catalog.left(err_message, 500), err_constraint)
      on conflict (user_id) do update set
        source = excluded.source,
        error_code = excluded.error_code,
        error_message = excluded.error_message,
        constraint_name = excluded.constraint_name,
        attempts = f.attempts + 1,
        last_seen = pg_catalog.now();
      return query select wanted[1], 'failed'::text;
      return;
    end if;
    half := pg_catalog.cardinality(wanted) / 2;
    return query select * from profile_sync.sync_isolated(wanted[1:half], sync_isolated.source);
    return query select * from profile_sync.sync_isolated(wanted[half + 1:], sync_isolated.source);
    return;
  end;
  return query select r.id, r.outcome from rows from (pg_catalog.unnest(synced_ids), pg_catalog.unnest(outcomes)) as r (id, outcome);
end
$$;

/*
 * profile_sync.sync_profile(user_id, as_user): sync-profile in one call. For a user's own call
 * (as_user), a banned user (auth banned_until in the future) is refused: banned = true and nothing
 * is synced; and a call within 10 s of the user's last own sync, with their auth.users row
 * unchanged since (same xmin) and their row present, is answered from the row without syncing:
 * outcome 'served_from_row' (profile_sync.recent_syncs). Otherwise the user is synced
 * (sync_isolated) and the row returned as the user may read it (target_profile); profile is null
 * when the user is gone, soft-deleted (the tombstone is not theirs to read) or the row was
 * refused (outcome 'failed'). Callers: the edge functions.
 */
create or replace function profile_sync.sync_profile(user_id uuid, as_user boolean)
returns table (outcome text, banned boolean, profile jsonb)
language plpgsql
volatile
security definer
set search_path = ''
set jit = off
as $$
#variable_conflict use_variable
declare
  result text;
  -- the auth row as this call found it: its version (xmin), ban and soft delete
  seen xid;
  is_banned boolean;
  is_deleted boolean;
  answer jsonb;
begin
  select u.xmin, coalesce(u.banned_until > pg_catalog.now(), false), u.deleted_at is not null
    into seen, is_banned, is_deleted
  from auth.users u where u.id = user_id;
  if as_user and is_banned then
    return query select null::text, true, null::jsonb;
    return;
  end if;
  if as_user and not is_deleted and exists (
    select 1 from profile_sync.recent_syncs r
    where r.user_id = sync_profile.user_id and r.auth_version = seen
      and r.synced_at > pg_catalog.now() - interval '10 seconds'
  ) then
    perform profile_sync._ensure_compiled();  -- target_profile as the table is now
    answer := profile_sync.target_profile(user_id);
    if answer is not null then
      return query select 'served_from_row'::text, false, answer;
      return;
    end if;
  end if;
  select r.outcome into result from profile_sync.sync_isolated(array[user_id], 'sync-profile') r;
  -- the version read before the sync: a change committed meanwhile makes the next call sync again
  if as_user and seen is not null and result in ('created', 'updated', 'unchanged') then
    insert into profile_sync.recent_syncs as r (user_id, auth_version, synced_at)
    values (user_id, seen, pg_catalog.now())
    on conflict on constraint recent_syncs_pkey do update
      set auth_version = excluded.auth_version, synced_at = excluded.synced_at;
  end if;
  return query select result, false,
    case when result in ('created', 'updated', 'unchanged')
      and not exists (select 1 from auth.users u where u.id = user_id and u.deleted_at is not null)
      then profile_sync.target_profile(user_id) end;
end
$$;

-- ==============================================================================================
-- supabase/schemas/45_deliveries.sql
-- ==============================================================================================

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

-- ==============================================================================================
-- supabase/schemas/50_auth_users_triggers.sql
-- ==============================================================================================

-- The triggers profile-sync puts on auth.users.
-- The push path: after insert, delete and relevant updates, statement-level triggers queue the
-- changed users in profile_sync.deliveries (45_deliveries.sql) in the change's own transaction,
-- and one Standard-Webhooks-signed wake-up per transaction goes to auth-webhook through pg_net
-- (sent after commit); auth-webhook then drains the queue. URL and secret come from the Vault
-- secrets profile_sync_webhook_url / profile_sync_webhook_secret. Any failure is a warning: the
-- auth write always goes on. Applies cleanly where pg_net and Vault are absent.
-- And the bookkeeping: a deleted user's profile_state goes with it.

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
set search_path = ''
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
 * profile_sync.wake_up_drain(queued): asks auth-webhook to drain the queue, once per transaction
 * (a later call in the same transaction does nothing): a Standard-Webhooks-signed POST of
 * {"type":"WAKE_UP","schema":"profile_sync","table":"deliveries"} queued with net.http_post,
 * which pg_net sends after commit (nothing for a transaction that rolls back). URL and secret
 * come from the Vault secrets profile_sync_webhook_url / profile_sync_webhook_secret.
 * The signed request is made once a minute per session (or when a Vault secret changes) and kept
 * in the session setting profile_sync.wake_up (URL, body, headers: a signature over that fixed
 * body, valid for the receiver's 5 minutes; never the secret): so a signup decrypts no Vault
 * secret and computes no HMAC.
 * Replaying it can only make auth-webhook drain. A missing Vault secret, Vault or pg_net is one
 * warning for the transaction, with the number of users its statement queued; the queue keeps
 * them for the pg_cron drain (profile-sync-drain) and reconcile. Anything else raises, for the
 * caller's one handler (notify_auth_user_change: an exception block here would be a second
 * subtransaction on every signup). Internal: the triggers.
 */
create or replace function profile_sync.wake_up_drain(queued bigint)
returns void
language plpgsql
volatile
security definer
set search_path = ''
set jit = off
as $$
declare
  wake jsonb;
  version text;
  webhook_url text;
  webhook_secret text;
  body jsonb;
  msg_id text;
  msg_timestamp bigint;
begin
  if pg_catalog.current_setting('profile_sync.woken', true) = 'on' then
    return;
  end if;
  -- One attempt per transaction, sent or not (so a missing secret is one warning per transaction).
  perform pg_catalog.set_config('profile_sync.woken', 'on', true);
  if pg_catalog.to_regclass('vault.secrets') is null or pg_catalog.to_regclass('vault.decrypted_secrets') is null then
    raise warning 'profile_sync: Vault is not available (no vault.secrets / vault.decrypted_secrets); '
      '% changed auth users queued without a wake-up', queued;
    return;
  end if;
  wake := nullif(pg_catalog.current_setting('profile_sync.wake_up', true), '')::jsonb;
  -- Which secrets the cached request was made with (read from vault.secrets without decrypting;
  -- creating, updating or deleting one moves the count or the latest updated_at): a changed or
  -- rotated secret is used at once.
  version := (select pg_catalog.count(*)::text || '@' || pg_catalog.max(s.updated_at)::text
    from vault.secrets s where s.name in ('profile_sync_webhook_url', 'profile_sync_webhook_secret'));
  -- The wall clock, not now(): the receiver allows 5 minutes from the signature's timestamp.
  if wake is null or wake ->> 'version' is distinct from version
      or (wake ->> 'until')::bigint < pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()) then
    -- checked when the request is made (once a minute): a pg_net dropped since makes
    -- net.http_post raise below, which the trigger's handler turns into a warning
    if pg_catalog.to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is null then
      raise warning 'profile_sync: pg_net (net.http_post(text, jsonb, jsonb, jsonb, integer)) is not installed (no such function); '
        '% changed auth users queued without a wake-up', queued;
      return;
    end if;
    select
        (select s.decrypted_secret from vault.decrypted_secrets s where s.name = 'profile_sync_webhook_url' limit 1),
        (select s.decrypted_secret from vault.decrypted_secrets s where s.name = 'profile_sync_webhook_secret' limit 1)
      into webhook_url, webhook_secret;
    if coalesce(webhook_url, '') = '' or coalesce(webhook_secret, '') = '' then
      raise warning 'profile_sync: Vault secrets profile_sync_webhook_url and profile_sync_webhook_secret must be set; '
        '% changed auth users queued without a wake-up (the pg_cron drain or reconcile delivers them)', queued;
      return;
    end if;
    body := '{"type": "WAKE_UP", "schema": "profile_sync", "table": "deliveries"}'::jsonb;
    msg_id := 'msg_' || pg_catalog.gen_random_uuid()::text;
    msg_timestamp := pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.clock_timestamp()))::bigint;
    -- pg_net sends convert_to(body::text, 'UTF8'): sign exactly body::text.
    wake := pg_catalog.jsonb_build_object(
      'url', webhook_url,
      'body', body,
      'until', msg_timestamp + 60,
      'version', version,
      'headers', pg_catalog.jsonb_build_object(
        'Content-Type', 'application/json',
        'webhook-id', msg_id,
        'webhook-timestamp', msg_timestamp::text,
        'webhook-signature', profile_sync.standard_webhook_signature(msg_id, msg_timestamp, body::text, webhook_secret)
      )
    );
    perform pg_catalog.set_config('profile_sync.wake_up', wake::text, false);
  end if;
  -- A timeout above pg_net's 1 s webhook default, for a cold-started function.
  perform net.http_post(
    url := wake ->> 'url',
    body := wake -> 'body',
    params := '{}'::jsonb,
    headers := wake -> 'headers',
    timeout_milliseconds := 5000
  );
end
$$;

/*
 * profile_sync.notify_auth_user_change(): the statement-level trigger function on auth.users
 * (after insert, after update, after delete; transition tables changed_new / changed_old):
 * queues every changed user in one insert (profile_sync.enqueue_users: a bulk import is one
 * statement's work), then wakes auth-webhook once per transaction (wake_up_drain). For an
 * UPDATE only users whose synced columns changed are queued (the filter the row trigger's WHEN
 * clause held). Never fails the auth write: a failure to queue is one warning for the statement,
 * with the count (reconcile repairs those users). Security definer: Auth's role may not write
 * profile_sync. TRUNCATE (the retired trigger below): nothing to do.
 */
create or replace function profile_sync.notify_auth_user_change()
returns trigger
language plpgsql
volatile
security definer
set search_path = ''
set jit = off
as $$
declare
  changed uuid[];
  queued bigint;
  err_message text;
  err_state text;
begin
  if tg_op = 'TRUNCATE' then
    return null;
  end if;
  if tg_op = 'UPDATE' then
    -- Only users whose synced columns changed (what the row trigger's WHEN clause held). Read
    -- before the exception block: an update that changes none of them (Auth setting a new
    -- user's role, a token, a timestamp) costs this one read of the transition tables, with no
    -- subtransaction, no queue write and no wake-up.
    changed := array(
      select n.id from changed_new n join changed_old o on o.id = n.id
      where o.email is distinct from n.email
        or o.phone is distinct from n.phone
        or o.raw_user_meta_data is distinct from n.raw_user_meta_data
        or o.raw_app_meta_data is distinct from n.raw_app_meta_data
        or o.is_anonymous is distinct from n.is_anonymous
        or o.email_confirmed_at is distinct from n.email_confirmed_at
        or o.last_sign_in_at is distinct from n.last_sign_in_at
        or o.deleted_at is distinct from n.deleted_at);
    if pg_catalog.cardinality(changed) = 0 then
      return null;
    end if;
  end if;
  -- One exception block (one subtransaction) on the way a signup takes: the queue insert and the
  -- wake-up. When anything in it fails, the change is queued again on its own below, so a failed
  -- wake-up never loses it.
  begin
    if tg_op = 'INSERT' then
      -- New users are new keys: a plain insert (an anti-join, no speculative insertion per row)
      -- keeps a bulk import cheap. Only an id deleted and created again can still have a row:
      -- that one is left as it is (its sync reads the current user); a race on it takes the
      -- general path below.
      insert into profile_sync.deliveries (user_id)
      select n.id from changed_new n
      where not exists (select 1 from profile_sync.deliveries d where d.user_id = n.id);
      get diagnostics queued = row_count;
    elsif tg_op = 'DELETE' then
      queued := profile_sync.enqueue_users(array(select o.id from changed_old o));
    else
      queued := profile_sync.enqueue_users(changed);
    end if;
    if queued > 0 then
      perform profile_sync.wake_up_drain(queued);
    end if;
  exception when others then
    get stacked diagnostics err_message = message_text, err_state = returned_sqlstate;
    -- each transition table is named only where it exists (plpgsql plans a statement when it runs)
    begin
      -- the general path (enqueue_users): what the queue refused above, or what a failed
      -- wake-up took with it
      if tg_op = 'DELETE' then
        queued := profile_sync.enqueue_users(array(select o.id from changed_old o));
      elsif tg_op = 'UPDATE' then
        queued := profile_sync.enqueue_users(changed);
      else
        queued := profile_sync.enqueue_users(array(select n.id from changed_new n));
      end if;
      raise warning 'profile_sync: % changed auth users queued without a wake-up: % (SQLSTATE %)',
        queued, err_message, err_state;
    exception when others then
      if tg_op = 'DELETE' then
        queued := (select count(*) from changed_old);
      elsif tg_op = 'UPDATE' then
        queued := pg_catalog.cardinality(changed);
      else
        queued := (select count(*) from changed_new);
      end if;
      raise warning 'profile_sync: % auth users changed by this %, not queued for auth-webhook: % (SQLSTATE %); '
        'reconcile repairs them', queued, tg_op, sqlerrm, sqlstate;
    end;
  end;
  return null;
end
$$;

create or replace trigger profile_sync_auth_users_inserted
  after insert on auth.users
  referencing new table as changed_new
  for each statement execute function profile_sync.notify_auth_user_change();

create or replace trigger profile_sync_auth_user_updated
  after update on auth.users
  referencing old table as changed_old new table as changed_new
  for each statement execute function profile_sync.notify_auth_user_change();

create or replace trigger profile_sync_auth_users_deleted
  after delete on auth.users
  referencing old table as changed_old
  for each statement execute function profile_sync.notify_auth_user_change();

-- Earlier versions sent one webhook per row from a row trigger of this name. Dropping a trigger
-- takes owning auth.users, which the hosted `postgres` role does not: where the drop is refused
-- the trigger is replaced by one that never fires for a row (after truncate, doing nothing), in
-- this same transaction as the queue's triggers, so no change is sent twice or missed.
do $$
begin
  if exists (select 1 from pg_catalog.pg_trigger t where t.tgrelid = 'auth.users'::regclass
      and t.tgname = 'profile_sync_auth_user_inserted_or_deleted') then
    begin
      drop trigger profile_sync_auth_user_inserted_or_deleted on auth.users;
    exception when insufficient_privilege then
      create or replace trigger profile_sync_auth_user_inserted_or_deleted
        after truncate on auth.users
        for each statement execute function profile_sync.notify_auth_user_change();
    end;
  end if;
end
$$;
drop function if exists profile_sync.auth_user_webhook_record(auth.users);

/*
 * profile_sync.forget_deleted_user(): trigger function on auth.users (after delete, per row):
 * removes the deleted user's bookkeeping, as the foreign key's cascade did, and their
 * sync-profile window (recent_syncs), which would otherwise stay forever. Never raises for a
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
  delete from profile_sync.recent_syncs r where r.user_id = old.id;
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
 * Internal.
 */
create or replace function profile_sync._bucket_bound(bucket integer, last boolean)
returns uuid
language sql
immutable
parallel safe
set search_path = ''
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
-- the dashboard's charts read real runs by time, and reconcile_begin prunes by it
create index if not exists runs_started_idx on profile_sync.runs (started_at) where not dry_run;
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
-- the dashboard groups failures by constraint (none: ''), with the first few users of each
create index if not exists failures_constraint_idx
  on profile_sync.failures ((coalesce(constraint_name, '')), error_code, first_seen);
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

  -- keep the log bounded (settings.history_days, 90 by default): a run every 10 minutes is
  -- ~4,400 rows a month
  delete from profile_sync.runs r
  where r.started_at < now() - pg_catalog.make_interval(days => profile_sync.history_days());

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

-- ==============================================================================================
-- supabase/schemas/80_status.sql
-- ==============================================================================================

-- What status, the dry run and doctor read: drift counts with samples and the last run.

/*
 * profile_sync.reconcile_dry_run(per_class): what a reconcile would do, writing nothing (no run
 * row either): exact drift counts, up to per_class sample ids per class
 * ({"missing":[…],"stale":[…],"orphaned":[…]}), and the preservation report a team reads before
 * adopting its table: changes = per target column, the rows whose value would change
 * {"rows", "kept", "samples": [{user_id, from, to}] (up to per_class)}, and kept = the app-edited
 * values that stay although auth differs. Needs no lock. Callers: postgres, service_role.
 */
create or replace function profile_sync.reconcile_dry_run(per_class integer default 20)
returns table (missing bigint, stale bigint, orphaned bigint, samples jsonb, changes jsonb, kept bigint)
language plpgsql
volatile
security definer
set search_path = ''
set jit = off
set work_mem = '64MB'
as $$
declare
  counts record;
  scope record;
  stale_ids uuid[];
  buckets integer[];
  chunk_ids uuid[];
  chunk constant integer := 5000;
  i integer := 1;
  report jsonb;
  n_kept bigint;
begin
  perform profile_sync._ensure_compiled();  -- the table changed since the core was compiled?
  select * into counts from profile_sync.drift_counts(per_class);
  create temporary table if not exists profile_sync_preview (
    user_id uuid, column_name text, from_value jsonb, to_value jsonb, kept boolean
  ) on commit drop;
  truncate pg_temp.profile_sync_preview;
  if counts.stale > 0 then
    select * into scope from profile_sync.drift_scope();
    for buckets in select * from profile_sync._bucket_chunks(scope.buckets) loop
      execute pg_catalog.format('select array_agg(u.id order by u.id) from %s where %s',
        profile_sync.drift_from(buckets, 'users'), profile_sync.drift_is('stale'))
        using buckets into chunk_ids;
      stale_ids := coalesce(stale_ids || chunk_ids, stale_ids, chunk_ids);
    end loop;
    while i <= coalesce(pg_catalog.cardinality(stale_ids), 0) loop
      insert into pg_temp.profile_sync_preview select * from profile_sync.sync_preview(stale_ids[i:i + chunk - 1]);
      i := i + chunk;
    end loop;
  end if;
  select
    coalesce(pg_catalog.jsonb_object_agg(c.column_name, pg_catalog.jsonb_build_object(
      'rows', c.n_rows, 'kept', c.n_kept, 'samples', c.samples)), '{}'),
    coalesce(sum(c.n_kept), 0)::bigint
  into report, n_kept
  from (
    select v.column_name,
      count(*) filter (where v.from_value is distinct from v.to_value) as n_rows,
      count(*) filter (where v.kept) as n_kept,
      coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('user_id', v.user_id, 'from', v.from_value, 'to', v.to_value)
        order by v.user_id) filter (where v.from_value is distinct from v.to_value and v.rn <= per_class), '[]') as samples
    from (
      select p.*, pg_catalog.row_number() over (
        partition by p.column_name, p.from_value is distinct from p.to_value order by p.user_id) as rn
      from pg_temp.profile_sync_preview p
    ) v
    group by v.column_name
  ) c;
  drop table pg_temp.profile_sync_preview;
  return query select counts.missing, counts.stale, counts.orphaned, counts.samples, report, n_kept;
end
$$;

/*
 * profile_sync.reconcile_status(): the numbers behind GET /reconcile and `profile-sync status`:
 * counts, drift, synced_percent (auth users whose profile is present and current), the number of
 * recorded failures, and the last real run as JSON (a run still marked running whose lock is
 * free is shown as abandoned; dry runs write no run). Read only. Callers: postgres, service_role.
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
set jit = off
as $$
  select
    d.auth_users, d.profiles, d.missing, d.stale, d.orphaned,
    case when d.auth_users = 0 then 100
      else round(100.0 * (d.auth_users - d.missing - d.stale) / d.auth_users, 2) end,
    (select count(*) from profile_sync.failures),
    (select to_jsonb(r) || jsonb_build_object('status',
        case when r.status = 'running' and profile_sync.reconcile_lock_holder() is null then 'abandoned'
          else r.status end)
      from profile_sync.runs r where not r.dry_run order by r.id desc limit 1)
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
-- And the delivery drain: pg_cron runs `call profile_sync.drain_deliveries()` every 5 seconds
-- (every minute where pg_cron is older than 1.5, which has no seconds), so a lost wake-up costs
-- seconds. It runs in the database: no HTTP call, no Vault read, and it delivers while the
-- functions are down.

/*
 * profile_sync._require_cron(): raises 55000 when pg_cron is not installed. Internal: the
 * schedule_* functions.
 */
create or replace function profile_sync._require_cron()
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if pg_catalog.to_regnamespace('cron') is null then
    raise exception 'pg_cron is not installed: enable it (create extension pg_cron) first'
      using errcode = '55000';
  end if;
end
$$;

/*
 * profile_sync._unschedule(job): removes the pg_cron job of that name; false when there was none
 * (or no pg_cron). Internal: the unschedule_* functions.
 */
create or replace function profile_sync._unschedule(job text)
returns boolean
language plpgsql
volatile
set search_path = ''
as $$
begin
  -- two statements: cron.job can only be planned once pg_cron is known to be there
  if pg_catalog.to_regnamespace('cron') is null then
    return false;
  end if;
  if not exists (select 1 from cron.job j where j.jobname = job) then
    return false;
  end if;
  return cron.unschedule(job);
end
$$;

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
  perform profile_sync._require_cron();
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
language sql
volatile
security definer
set search_path = ''
as $$
  select profile_sync._unschedule('profile-sync-reconcile')
$$;

/*
 * profile_sync.schedule_drain(schedule): (re)schedules the pg_cron job 'profile-sync-drain',
 * which drains the delivery queue in SQL (call profile_sync.drain_deliveries()); default every
 * 5 seconds, falling back to every minute on a pg_cron before 1.5 (no seconds). Returns the job
 * id. Raises 55000 without pg_cron. Callers: the database owner only.
 */
create or replace function profile_sync.schedule_drain(schedule text default '5 seconds')
returns bigint
language plpgsql
volatile
security definer
set search_path = ''
as $$
begin
  perform profile_sync._require_cron();
  begin
    return cron.schedule('profile-sync-drain', schedule, 'call profile_sync.drain_deliveries()');
  exception when others then
    if schedule !~ 'second' then
      raise;
    end if;
    raise notice 'profile_sync: this pg_cron takes no seconds (1.5+ does); draining every minute';
    return cron.schedule('profile-sync-drain', '* * * * *', 'call profile_sync.drain_deliveries()');
  end;
end
$$;

/*
 * profile_sync.unschedule_drain(): removes the 'profile-sync-drain' job; false when there was
 * none (or no pg_cron). Callers: the database owner only.
 */
create or replace function profile_sync.unschedule_drain()
returns boolean
language sql
volatile
security definer
set search_path = ''
as $$
  select profile_sync._unschedule('profile-sync-drain')
$$;

-- Schedule once: a job already there (perhaps with a schedule the operator chose) is left alone.
do $$
begin
  if pg_catalog.to_regnamespace('cron') is null then
    raise notice 'profile_sync: pg_cron is not installed; reconcile is not scheduled, and the delivery queue is drained by wake-ups only';
    return;
  end if;
  if not exists (select 1 from cron.job where jobname = 'profile-sync-reconcile') then
    perform profile_sync.schedule_reconcile();
  end if;
  if not exists (select 1 from cron.job where jobname = 'profile-sync-drain') then
    perform profile_sync.schedule_drain();
  end if;
end
$$;

-- ==============================================================================================
-- supabase/schemas/90_grants.sql
-- ==============================================================================================

-- Every grant profile-sync makes on its own objects, in one place. Nothing in profile_sync is reachable by anon or
-- authenticated; service_role (the admin credential's role) may call the entry points; the
-- schedule is the database owner's alone.
revoke all on schema profile_sync from public, anon, authenticated;
grant usage on schema profile_sync to service_role;

revoke all on all tables in schema profile_sync from public, anon, authenticated;
grant select on table profile_sync.runs to service_role;
grant select on table profile_sync.failures to service_role;
grant select on table profile_sync.settings to service_role;

revoke execute on all functions in schema profile_sync from public, anon, authenticated;
revoke execute on function profile_sync.schedule_reconcile(text) from service_role;
revoke execute on function profile_sync.unschedule_reconcile() from service_role;
revoke execute on function profile_sync.schedule_drain(text) from service_role;
revoke execute on function profile_sync.unschedule_drain() from service_role;
revoke execute on procedure profile_sync.drain_deliveries(integer, integer) from public, anon, authenticated, service_role;
grant execute on function profile_sync.sync_isolated(uuid[], text) to service_role;
grant execute on function profile_sync.sync_profile(uuid, boolean) to service_role;
grant execute on function profile_sync.set_role_policy(text, text[]) to service_role;
grant execute on function profile_sync.drift_counts(integer) to service_role;
grant execute on function profile_sync.reconcile_status() to service_role;
grant execute on function profile_sync.reconcile_dry_run(integer) to service_role;
grant execute on function profile_sync.reconcile_begin(integer) to service_role;
grant execute on function profile_sync.reconcile_page(bigint, uuid, integer) to service_role;
grant execute on function profile_sync.reconcile_sync_page(bigint, uuid, uuid) to service_role;
grant execute on function profile_sync.reconcile_advance(bigint, uuid) to service_role;
grant execute on function profile_sync.reconcile_retry_failures(bigint, integer) to service_role;
grant execute on function profile_sync.reconcile_finish(bigint, text, text) to service_role;
grant execute on function profile_sync.claim_deliveries(integer, uuid[]) to service_role;
grant execute on function profile_sync.settle_deliveries(uuid[], text) to service_role;
grant execute on function profile_sync.delivery_status() to service_role;
grant execute on function profile_sync.delivery_list(boolean, integer) to service_role;
grant execute on function profile_sync.replay_deliveries(uuid[], boolean, timestamptz) to service_role;
grant execute on function profile_sync.delivery_history(timestamptz) to service_role;
grant execute on function profile_sync.set_delivery_settings(integer, integer) to service_role;
-- The target table's grants are the mapping's (apply_mapping); the functions compiled for it
-- get theirs where they are compiled (compile_sync_core).

-- ==============================================================================================
-- supabase/schemas/95_compile.sql
-- ==============================================================================================

-- An upgrade of profile-sync may change the templates of the sync core: compile it again for the
-- mapping in force (nothing on a database that has none yet).
select profile_sync.recompile();
