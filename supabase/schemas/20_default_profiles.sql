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
