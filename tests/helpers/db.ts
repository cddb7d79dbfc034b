/**
 * Test databases: each test file clones the migrated template built by `npm test`
 * (local/test.mjs), so files never see each other's rows. A database belongs to `postgres`, not a
 * superuser, as on hosted Supabase: its `url` is what the functions and the CLI connect with; `sql`
 * is the test's own superuser pool (fixtures, faults, assertions).
 * @module
 */
import postgres from 'postgres';
import type { Sql } from '../../shared/db.ts';

const adminUrl = () => {
  const url = Deno.env.get('TEST_DATABASE_URL');
  if (!url) throw new Error('TEST_DATABASE_URL is not set: run the tests with `npm test`');
  return url;
};
const templateDb = () => Deno.env.get('TEST_TEMPLATE_DB') ?? 'profile_sync_template';

/** Database `name` as the superuser of TEST_DATABASE_URL. */
export function adminDatabaseUrl(name: string): string {
  const u = new URL(adminUrl());
  u.pathname = `/${name}`;
  return u.toString();
}

/** Database `name` as its owner `postgres` (no superuser), as a Supabase project's URL names it. */
export function databaseUrl(name: string): string {
  const u = new URL(adminDatabaseUrl(name));
  u.username = 'postgres';
  u.password = 'postgres';
  return u.toString();
}

export type TestDb = {
  name: string;
  /** As the owner `postgres` (not a superuser): for the functions, the CLI, reconcile. */
  url: string;
  /** A superuser pool on this database, for fixtures and assertions. */
  sql: Sql;
  drop(): Promise<void>;
};

/** A new database cloned from the migrated template (or another, e.g. template0); `drop()` removes it. */
export async function freshDatabase(label = 'db', template = templateDb()): Promise<TestDb> {
  const name = `t_${label.replace(/[^a-z0-9_]/gi, '_').toLowerCase()}_${crypto.randomUUID().slice(0, 8)}`;
  const admin = postgres(adminUrl(), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database "${name}" template "${template}" owner postgres`);
  } finally {
    await admin.end();
  }
  const url = databaseUrl(name);
  const sql = postgres(adminDatabaseUrl(name), { max: 10, prepare: false, onnotice: () => {} });
  return {
    name,
    url,
    sql,
    async drop() {
      await sql.end({ timeout: 1 });
      const a = postgres(adminUrl(), { max: 1, onnotice: () => {} });
      try {
        await a.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await a.end();
      }
    },
  };
}

/**
 * A new database with the Supabase stand-ins and profile-sync's core migrations but no mapping
 * applied (no *_profile_sync_mapping.sql): a project about to adopt its own table.
 */
export async function coreDatabase(label = 'core'): Promise<TestDb> {
  const db = await freshDatabase(label, 'template0');
  const root = new URL('../../', import.meta.url);
  const files = (dir: string) =>
    [...Deno.readDirSync(new URL(dir, root))].map((e) => e.name).filter((f) => f.endsWith('.sql')).sort()
      .map((f) => new URL(`${dir}/${f}`, root));
  // Supabase's pieces as the superuser; profile-sync's migrations as the owner, as on hosted
  for (const file of files('local/stand-ins')) await db.sql.unsafe(await Deno.readTextFile(file));
  const owner = postgres(db.url, { max: 1, onnotice: () => {} });
  try {
    for (const file of files('supabase/migrations')) {
      if (!file.pathname.endsWith('_profile_sync_mapping.sql')) await owner.unsafe(await Deno.readTextFile(file));
    }
  } finally {
    await owner.end();
  }
  return db;
}
