/**
 * The profile tables projects already have (../shared/reference/adoption-shapes.sql), each with
 * the trigger that was pasted to fill it and the grants Supabase used to give new public tables:
 * A the quickstart's profiles, B a public.users copying the role from metadata, C a user_profiles
 * keyed by a unique user_id. SQL to run after the auth stand-ins (a test, an app migration, the
 * benchmark), and the mapping a team writes for C. Plain JavaScript: Deno's tests and Node's
 * benchmark both import it.
 * @module
 */

export const SHAPE_A = `
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
create policy "Users can insert their own profile." on public.profiles for insert with check ((select auth.uid()) = id);
create policy "Users can update own profile." on public.profiles for update using ((select auth.uid()) = id);
grant select, insert, update, delete on public.profiles to anon, authenticated, service_role;
create function public.handle_new_user() returns trigger language plpgsql security definer set search_path = '' as $$
begin
  insert into public.profiles (id, full_name, avatar_url)
  values (new.id, new.raw_user_meta_data->>'full_name', new.raw_user_meta_data->>'avatar_url');
  return new;
end $$;
create trigger on_auth_user_created after insert on auth.users for each row execute procedure public.handle_new_user();`;

export const SHAPE_B = `
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
grant select, insert, update, delete on public.users to anon, authenticated, service_role;
create or replace function public.handle_new_user() returns trigger language plpgsql security definer set search_path = public as $$
begin
  insert into public.users (id, email, full_name, role, created_at, updated_at)
  values (new.id, new.email,
          coalesce(new.raw_user_meta_data->>'full_name', new.raw_user_meta_data->>'username', new.email),
          coalesce(new.raw_user_meta_data->>'role', 'client'), now(), now());
  return new;
end $$;
create trigger on_auth_user_created after insert on auth.users for each row execute function public.handle_new_user();`;

export const SHAPE_C = `
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
create trigger on_auth_user_created after insert on auth.users for each row execute function create_user_profile();`;

/** The mapping a team writes for shape C: role managed by admins, flag-and-timestamp soft delete. */
export const MAPPING_C = {
  table: 'public.user_profiles',
  key: 'user_id',
  columns: {
    role: { from: 'role', owner: 'app' },
    last_login: 'last_sign_in_at',
    sso_provider: 'provider',
    sso_user_id: 'user_metadata.provider_id',
  },
  soft_delete: { flag: 'is_active', active: true, at: 'deactivated_at' },
  user_editable: [],
  roles: { default: 'user', self_assignable: [] },
};

/**
 * What `init --db-url` proposes for the quickstart (shape A): only what its handle_new_user did;
 * users edit their own username, name, avatar (a Storage object path) and website.
 */
export const QUICKSTART_MAPPING = {
  table: 'public.profiles',
  key: 'id',
  columns: { full_name: { from: 'full_name', owner: 'app' }, avatar_url: { from: 'avatar_url', owner: 'app' } },
  soft_delete: null,
  user_editable: ['username', 'full_name', 'avatar_url', 'website'],
};
