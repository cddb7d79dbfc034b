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
  compiled_for jsonb
);
alter table profile_sync.settings add column if not exists user_writes jsonb;
alter table profile_sync.settings add column if not exists compiled_for jsonb;
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
