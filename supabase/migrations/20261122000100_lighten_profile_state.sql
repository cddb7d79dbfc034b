-- Cheaper bookkeeping writes: every first sync writes a profile_state row next to the profile, so
-- the row's cost is paid a million times by a reconcile of a million users (docs/benchmarks.md).
--
-- 1. No foreign key to auth.users. Its insert check (a key-share lock on the auth.users row per
--    bookkeeping row, run through SPI) cost about as much as writing the row itself, and the
--    profile written in the same statement already takes that lock through its own foreign key.
--    What the key's ON DELETE CASCADE did is done by a trigger instead: deleting an auth user
--    deletes its bookkeeping, after its profile (triggers fire in name order, and the profiles
--    cascade's internal trigger, "RI_ConstraintTrigger_…", sorts first), so Auth's delete still
--    takes the profile, then the bookkeeping: the order sync_users locks them in.
--    The core writes bookkeeping only for a user it has just read from auth, while holding that
--    user's profile (locked, or being inserted under the profile's own key check), so no row is
--    written for a user being deleted. Like the key before it, the trigger is skipped when
--    session_replication_role is replica; reconcile removes what such deletes leave.
-- 2. The drift scans read (user_id, auth_updated_at) from the primary key itself (INCLUDE), in
--    place of a second index that every write also had to maintain.

alter table profile_sync.profile_state drop constraint if exists profile_state_user_id_fkey;

alter table profile_sync.profile_state
  drop constraint profile_state_pkey,
  add constraint profile_state_pkey primary key (user_id) include (auth_updated_at);

drop index if exists profile_sync.profile_state_user_id_auth_updated_at_idx;

comment on table profile_sync.profile_state is
  'Per-user sync bookkeeping: values last synced from auth, sticky app-edit flags, auth version. '
  'Deleted with the auth user (trigger profile_sync_auth_user_forgotten).';

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

revoke execute on function profile_sync.forget_deleted_user() from public, anon, authenticated;

create or replace trigger profile_sync_auth_user_forgotten
  after delete on auth.users
  for each row execute function profile_sync.forget_deleted_user();
