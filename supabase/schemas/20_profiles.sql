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
