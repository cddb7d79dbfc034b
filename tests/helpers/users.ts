/**
 * Auth users for tests, written straight into auth.users as Supabase Auth would: as
 * supabase_auth_admin (search_path auth), with the values GoTrue writes (empty strings for the
 * token columns it has no token for, never a shared one: GoTrue's unique partial indexes reject
 * that), and the metadata shapes each provider really produces (supabase-facts §4).
 * @module
 */
import type postgres from 'postgres';
import type { Sql } from '../../shared/db.ts';

type Writer = Sql | postgres.TransactionSql;

/**
 * Runs `write` as Supabase Auth does: role supabase_auth_admin, search_path auth, in a
 * transaction of its own (or the caller's, whose role is restored afterwards).
 */
export async function asAuth<T>(sql: Writer, write: (tx: postgres.TransactionSql) => Promise<T>): Promise<T> {
  if ('begin' in sql) {
    return await (sql as Sql).begin(async (tx) => {
      await tx`set local role supabase_auth_admin`;
      await tx`set local search_path = auth`;
      return await write(tx);
    }) as T;
  }
  const tx = sql as postgres.TransactionSql;
  const [{ role, path }] = await tx`select current_user as role, current_setting('search_path') as path`;
  await tx`set local role supabase_auth_admin`;
  await tx`set local search_path = auth`;
  try {
    return await write(tx);
  } finally {
    await tx.unsafe(`set local role "${role}"`);
    await tx`select set_config('search_path', ${path}, true)`;
  }
}

export type AuthUserInput = {
  id?: string;
  email?: string | null;
  phone?: string | null;
  user_metadata?: Record<string, unknown>;
  app_metadata?: Record<string, unknown>;
  is_anonymous?: boolean;
  email_confirmed_at?: Date | null;
  last_sign_in_at?: Date | null;
  deleted_at?: Date | null;
};

export async function insertAuthUser(sql: Writer, input: AuthUserInput = {}): Promise<string> {
  const id = input.id ?? crypto.randomUUID();
  const email = input.email === undefined ? `${id.slice(0, 8)}@example.com` : input.email;
  await asAuth(sql, (tx) => tx`
    insert into auth.users (
      instance_id, id, aud, role, email, encrypted_password, email_confirmed_at, phone,
      raw_app_meta_data, raw_user_meta_data, is_anonymous, last_sign_in_at, deleted_at,
      confirmation_token, recovery_token, email_change_token_new, email_change, created_at, updated_at
    ) values (
      '00000000-0000-0000-0000-000000000000', ${id}, 'authenticated', 'authenticated', ${email},
      '$2a$10$abcdefghijklmnopqrstuv', ${input.email_confirmed_at ?? null}, ${input.phone ?? null},
      ${tx.json((input.app_metadata ?? { provider: 'email', providers: ['email'] }) as never)},
      ${tx.json((input.user_metadata ?? {}) as never)},
      ${input.is_anonymous ?? false}, ${input.last_sign_in_at ?? null}, ${input.deleted_at ?? null},
      '', '', '', '', now(), now()
    )`);
  return id;
}

/** Updates auth.users as Auth does (as supabase_auth_admin): the given columns plus updated_at = now(). */
export async function updateAuthUser(sql: Writer, id: string, changes: Record<string, unknown>): Promise<void> {
  await asAuth(sql, async (tx) => {
    const row: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(changes)) {
      row[k] = k.startsWith('raw_') && v !== null ? tx.json(v as never) : v;
    }
    await tx`update auth.users set ${tx(row)}, updated_at = clock_timestamp() where id = ${id}`;
  });
}

export const provider = {
  google: (name = 'Grace Hopper') => ({
    app_metadata: { provider: 'google', providers: ['google'] },
    user_metadata: {
      iss: 'https://accounts.google.com', sub: '1122334455', name, full_name: name,
      picture: 'https://lh3.googleusercontent.com/a/photo.jpg', avatar_url: 'https://lh3.googleusercontent.com/a/photo.jpg',
      provider_id: '1122334455', email: 'grace@example.com', email_verified: true, phone_verified: false,
    },
  }),
  github: (login = 'octocat', name?: string) => ({
    app_metadata: { provider: 'github', providers: ['github'] },
    user_metadata: {
      iss: 'https://api.github.com', sub: '583231', preferred_username: login, user_name: login,
      avatar_url: 'https://avatars.githubusercontent.com/u/583231?v=4', provider_id: '583231',
      email: 'octo@example.com', email_verified: true, phone_verified: false,
      ...(name ? { name, full_name: name } : {}),
    },
  }),
  azure: (name = 'Ada Lovelace') => ({
    app_metadata: { provider: 'azure', providers: ['azure'] },
    user_metadata: {
      iss: 'https://login.microsoftonline.com/tid/v2.0', sub: 'az-sub', provider_id: 'az-sub',
      preferred_username: 'ada@contoso.com', full_name: name, custom_claims: { tid: 'tid' },
      email: 'ada@contoso.com', email_verified: true, phone_verified: false,
    },
  }),
  apple: () => ({
    app_metadata: { provider: 'apple', providers: ['apple'] },
    user_metadata: {
      iss: 'https://appleid.apple.com', sub: '001234.abcd', provider_id: '001234.abcd',
      custom_claims: { is_private_email: true }, email: 'x@privaterelay.appleid.com',
      email_verified: true, phone_verified: false,
    },
  }),
  discord: (username = 'wumpus') => ({
    app_metadata: { provider: 'discord', providers: ['discord'] },
    user_metadata: {
      iss: 'https://discord.com/api', sub: '80351110224678912', name: `${username}#0001`, full_name: username,
      picture: 'https://cdn.discordapp.com/avatars/1/a.png', avatar_url: 'https://cdn.discordapp.com/avatars/1/a.png',
      provider_id: '80351110224678912', custom_claims: { global_name: 'Wumpus' },
      email: 'wumpus@example.com', email_verified: true, phone_verified: false,
    },
  }),
  email: (data: Record<string, unknown> = {}) => ({
    app_metadata: { provider: 'email', providers: ['email'] },
    user_metadata: data,
  }),
  // a number of its own each time: auth.users.phone is unique
  phone: (phone = `1555${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`) => ({
    email: null,
    phone,
    app_metadata: { provider: 'phone', providers: ['phone'] },
    user_metadata: {},
  }),
  anonymous: () => ({ email: null, is_anonymous: true, app_metadata: {}, user_metadata: {} }),
};
