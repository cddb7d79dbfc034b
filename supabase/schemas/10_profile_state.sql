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
