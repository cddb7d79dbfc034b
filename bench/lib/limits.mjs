// The physical limits: the same auth → profile mapping as the core, as one plain SQL statement
// with no bookkeeping, no locking and no HTTP. Every ratio in the report is measured against these.

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

/** Every auth user through the core, `batch` ids per call in id order; returns the users synced. */
export async function syncAllInBatches(sql, batch) {
  let after = '00000000-0000-0000-0000-000000000000';
  let total = 0;
  for (;;) {
    const ids = (await sql`select id from auth.users where id > ${after} order by id limit ${batch}`).map((r) => r.id);
    if (ids.length === 0) return total;
    await sql`select count(*) from profile_sync.sync_users(${ids}::uuid[], 'user', '{}'::text[])`;
    total += ids.length;
    after = ids[ids.length - 1];
  }
}
