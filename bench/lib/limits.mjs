// The references the report measures against: the physical limits (the core's auth → profile
// mapping as one plain SQL statement, no bookkeeping, no locking, no HTTP) and the core called
// straight over SQL in batches (what reconcile adds HTTP and orchestration to).

// The core's mapping for a user without app edits (profile rules in DESIGN.md), default role 'user'.
const MAPPED = `
  case when u.deleted_at is null then nullif(u.email, '') end as email,
  case when u.deleted_at is null then nullif(u.phone, '') end as phone,
  case when u.deleted_at is null then profile_sync.full_name_from(u.raw_user_meta_data) end as full_name,
  case when u.deleted_at is null then profile_sync.avatar_url_from(u.raw_user_meta_data) end as avatar_url,
  coalesce(profile_sync.clean_text(u.raw_app_meta_data -> 'role', 100), 'user') as role,
  profile_sync.clean_text(u.raw_app_meta_data -> 'provider', 100) as provider,
  coalesce(u.is_anonymous, false) as is_anonymous,
  u.email_confirmed_at, u.last_sign_in_at, u.deleted_at`;

const COLUMNS = `email, phone, full_name, avatar_url, role, provider, is_anonymous,
  email_confirmed_at, last_sign_in_at, deleted_at`;

/** Creates every missing profile in one statement; returns the rows inserted. */
export async function rawCreateMissing(sql) {
  const result = await sql.unsafe(`
    insert into public.profiles (id, ${COLUMNS})
    select u.id, ${MAPPED} from auth.users u
    on conflict (id) do nothing`);
  return result.count;
}

/**
 * The same, writing what the core must also keep per user: the bookkeeping row (the base of the
 * three-way merge) next to the profile. The limit for the core's own design.
 */
export async function rawCreateMissingWithBookkeeping(sql) {
  const [{ count }] = await sql.unsafe(`
    with source as (select u.id, u.updated_at, ${MAPPED} from auth.users u),
    profiles as (
      insert into public.profiles (id, ${COLUMNS})
      select s.id, ${COLUMNS.replace(/(\w+)/g, 's.$1')} from source s
      on conflict (id) do nothing
      returning id
    ),
    bookkeeping as (
      insert into profile_sync.profile_state (user_id, "synced:full_name", "synced:avatar_url", "synced:role", initial_role,
        auth_updated_at, synced_at)
      select s.id, s.full_name, s.avatar_url, s.role, 'user', s.updated_at, now() from source s
      on conflict do nothing
    )
    select count(*)::int as count from profiles`);
  return count;
}

/** Finds profiles that differ from the mapping of their auth user and fixes them, in one statement. */
export async function rawFixStale(sql) {
  const result = await sql.unsafe(`
    update public.profiles p set (${COLUMNS}) = (
      m.email, m.phone, m.full_name, m.avatar_url, m.role, m.provider, m.is_anonymous,
      m.email_confirmed_at, m.last_sign_in_at, m.deleted_at)
    from (select u.id, ${MAPPED} from auth.users u) m
    where p.id = m.id
      and (p.email, p.phone, p.full_name, p.avatar_url, p.role, p.provider, p.is_anonymous,
           p.email_confirmed_at, p.last_sign_in_at, p.deleted_at)
        is distinct from
          (m.email, m.phone, m.full_name, m.avatar_url, m.role, m.provider, m.is_anonymous,
           m.email_confirmed_at, m.last_sign_in_at, m.deleted_at)`);
  return result.count;
}

/**
 * Every auth user through the core, `batch` ids per call in id order (as reconcile walks them).
 * Returns the users synced and each call's time, to show whether later batches slow down.
 */
export async function syncAllInBatches(sql, batch) {
  let after = '00000000-0000-0000-0000-000000000000';
  let total = 0;
  const batchMs = [];
  for (;;) {
    const ids = (await sql`select id from auth.users where id > ${after} order by id limit ${batch}`).map((r) => r.id);
    if (ids.length === 0) return { total, batchMs };
    const t = performance.now();
    await sql`select count(*) from profile_sync.sync_users(${ids}::uuid[])`;
    batchMs.push(performance.now() - t);
    total += ids.length;
    after = ids[ids.length - 1];
  }
}
