/**
 * Many auth users at once, for load, race and fault tests: one set-based insert shaped like
 * tests/helpers/users.ts's, with user metadata `{full_name}` so tests/helpers/profiles.ts can check them.
 * @module
 */
import type postgres from 'postgres';
import type { Sql } from '../../shared/db.ts';
import { asAuth } from './users.ts';

/**
 * Inserts `count` email users named `${prefix}-<n>`; returns their ids in insertion order. `sql`
 * may be a transaction, e.g. one that set session_replication_role = replica so no trigger runs.
 */
export async function insertAuthUsers(
  sql: Sql | postgres.TransactionSql,
  count: number,
  prefix = 'user',
): Promise<string[]> {
  const rows = await asAuth(sql, (tx) => tx<{ id: string }[]>`
    insert into auth.users (
      instance_id, id, aud, role, email, encrypted_password, raw_app_meta_data, raw_user_meta_data,
      is_anonymous, confirmation_token, recovery_token, email_change_token_new, email_change, created_at, updated_at
    )
    select '00000000-0000-0000-0000-000000000000', gen_random_uuid(), 'authenticated', 'authenticated',
      ${prefix} || '-' || n || '-' || substr(md5(random()::text), 1, 8) || '@example.com', '$2a$10$abcdefghijklmnopqrstuv',
      '{"provider":"email","providers":["email"]}', jsonb_build_object('full_name', ${prefix} || '-' || n),
      false, '', '', '', '', now(), now()
    from generate_series(1, ${count}::int) as n
    returning id`);
  return rows.map((r) => r.id);
}

/** Sets each listed user's full_name to `${label}-<id>` (one statement, updated_at bumped as Auth does). */
export async function renameAuthUsers(sql: Sql, ids: readonly string[], label: string): Promise<void> {
  await asAuth(sql, (tx) => tx`
    update auth.users set raw_user_meta_data = raw_user_meta_data || jsonb_build_object('full_name', ${label} || '-' || id),
      updated_at = clock_timestamp()
    where id = any(${ids as string[]}::uuid[])`);
}
