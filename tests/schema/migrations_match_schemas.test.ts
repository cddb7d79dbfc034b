/**
 * supabase/schemas is the one readable source of the SQL core; supabase/migrations is what a
 * database applies. A database built from each must be the same, object for object (functions by
 * pg_get_functiondef, tables, columns, constraints, indexes, policies, grants, triggers, comments).
 * Both are built here the same way from template0 (the stand-ins as the superuser, then our SQL as
 * the owner), so grants compare equal whatever roles and default privileges the server has (the
 * test template may be built from Supabase's own pieces rather than our stand-ins).
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { fileURLToPath } from 'node:url';
import { adminDatabaseUrl, databaseUrl } from '../helpers/db.ts';
import { catalogDiff, catalogSnapshot } from '../helpers/catalog.ts';
import type { CatalogRow } from '../helpers/catalog.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const sqlFiles = (dir: string) =>
  [...Deno.readDirSync(`${root}${dir}`)].map((e) => e.name).filter((f) => f.endsWith('.sql')).sort()
    .map((f) => `${root}${dir}/${f}`);

/** A database from template0 with the stand-ins and then `files` as the owner; its catalog snapshot. */
async function built(label: string, files: string[]): Promise<CatalogRow[]> {
  const name = `t_${label}_${crypto.randomUUID().slice(0, 8)}`;
  const admin = postgres(Deno.env.get('TEST_DATABASE_URL')!, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database "${name}" template template0 owner postgres`);
  const sql = postgres(adminDatabaseUrl(name), { max: 1, onnotice: () => {} });
  const owner = postgres(databaseUrl(name), { max: 1, onnotice: () => {} });
  try {
    // Supabase's pieces as the superuser; profile-sync's SQL as the owner, as on hosted
    for (const file of sqlFiles('local/stand-ins')) await sql.unsafe(await Deno.readTextFile(file));
    for (const file of files) await owner.unsafe(await Deno.readTextFile(file));
    return await catalogSnapshot(sql);
  } finally {
    await owner.end();
    await sql.end();
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.end();
  }
}

Deno.test('a database built from supabase/schemas equals one built from supabase/migrations', async () => {
  const migrations = sqlFiles('supabase/migrations');
  const fromMigrations = await built('from_migrations', migrations);
  // the schemas, then the mapping the migrations apply (the sync core is compiled for it)
  const mappings = migrations.filter((f) => f.endsWith('_profile_sync_mapping.sql'));
  const fromSchemas = await built('from_schemas', [...sqlFiles('supabase/schemas'), ...mappings]);
  assert.ok(fromMigrations.some((r) => r.kind === 'function' && r.name.startsWith('profile_sync.sync_users(')));
  assert.ok(fromMigrations.length > 100, `only ${fromMigrations.length} catalog rows`);
  assert.deepEqual(catalogDiff(fromMigrations, fromSchemas, ['migrations', 'schemas']), []);
});

Deno.test('the baseline migration is generated from supabase/schemas (npm run gen:migrations)', async () => {
  const cmd = new Deno.Command('node', { args: [`${root}local/gen-migrations.mjs`, '--check'], stderr: 'piped' });
  const { code, stderr } = await cmd.output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
});
