/**
 * App migrations creating profile tables projects already have (after
 * ../shared/reference/adoption-shapes.sql), each with the trigger that was pasted to fill it.
 * @module
 */

/** Shape C: user_profiles keyed by a unique user_id beside its own primary key; soft delete by is_active. */
export const USER_PROFILES = `
create table public.user_profiles (
  id uuid primary key default gen_random_uuid(),
  user_id uuid references auth.users(id) on delete cascade unique,
  role varchar(50) not null default 'user',
  is_active boolean default true,
  last_login timestamptz,
  deactivated_at timestamptz,
  deactivated_by uuid references auth.users(id),
  deactivation_reason varchar(255),
  sso_provider varchar(50),
  sso_user_id varchar(255),
  created_at timestamptz default now(),
  updated_at timestamptz default now()
);
create or replace function create_user_profile() returns trigger as $$
begin
  insert into user_profiles (user_id, role, is_active) values (new.id, 'user', true);
  return new;
end $$ language plpgsql;
create trigger on_auth_user_created after insert on auth.users for each row execute function create_user_profile();
`;

/** Shape A: Supabase's quickstart profiles (key id, unique username of 3+ characters). */
export const QUICKSTART_PROFILES = `
create table public.profiles (
  id uuid not null references auth.users on delete cascade primary key,
  updated_at timestamptz,
  username text unique,
  full_name text,
  avatar_url text,
  website text,
  constraint username_length check (char_length(username) >= 3)
);
alter table public.profiles enable row level security;
create policy "Public profiles are viewable by everyone." on public.profiles for select using (true);
create policy "Users can update own profile." on public.profiles for update using ((select auth.uid()) = id);
create function public.handle_new_user() returns trigger language plpgsql security definer set search_path = '' as $$
begin
  insert into public.profiles (id, full_name, avatar_url)
  values (new.id, new.raw_user_meta_data->>'full_name', new.raw_user_meta_data->>'avatar_url');
  return new;
end $$;
create trigger on_auth_user_created after insert on auth.users for each row execute procedure public.handle_new_user();
`;

/** An ORM-managed table with a NOT NULL column nothing in auth can fill. */
export const ORM_ACCOUNTS = `
create table public.accounts (
  id bigint generated always as identity primary key,
  auth_id uuid not null unique references auth.users(id) on delete cascade,
  tenant_id uuid not null,
  display_name text,
  email text
);
`;

/** The mapping proposeMapping gives for QUICKSTART_PROFILES: the one a team would write (adoption-shapes.sql). */
export const QUICKSTART_PROPOSAL = {
  table: 'public.profiles',
  key: 'id',
  columns: {
    updated_at: 'updated_at',
    username: { from: 'user_metadata.preferred_username', owner: 'app' },
    full_name: 'full_name',
    avatar_url: 'avatar_url',
  },
  soft_delete: null,
  user_editable: ['username', 'full_name', 'avatar_url', 'website'],
  roles: { default: 'user', self_assignable: [] },
};

/** Shape B: a Next.js app's public.users whose trigger copies the role from user metadata. */
export const NEXT_USERS = `
create table public.users (
  id uuid primary key references auth.users(id) on delete cascade,
  email text,
  full_name text,
  role text not null default 'client',
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
alter table public.users enable row level security;
create policy "users_select_own" on public.users for select using (auth.uid() = id);
create policy "users_insert_own_profile" on public.users for insert with check (auth.uid() = id);
create policy "users_update_own" on public.users for update using (auth.uid() = id);
create or replace function public.handle_new_user() returns trigger language plpgsql security definer set search_path = public as $$
begin
  insert into public.users (id, email, full_name, role, created_at, updated_at)
  values (new.id, new.email,
          coalesce(new.raw_user_meta_data->>'full_name', new.raw_user_meta_data->>'username', new.email),
          coalesce(new.raw_user_meta_data->>'role', 'client'), now(), now());
  return new;
end $$;
create trigger on_auth_user_created after insert on auth.users for each row execute function public.handle_new_user();
`;
