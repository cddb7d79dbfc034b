/**
 * supabase/schemas is the one readable source of the SQL core; supabase/migrations is what a
 * database applies. A database built from each must be the same, object for object (functions by
 * pg_get_functiondef, tables, columns, constraints, indexes, policies, grants, triggers, comments).
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { fileURLToPath } from 'node:url';
import { adminDatabaseUrl, databaseUrl, freshDatabase } from '../helpers/db.ts';
import { catalogDiff, catalogSnapshot } from '../helpers/catalog.ts';

const root = fileURLToPath(new URL('../../', import.meta.url));
const sqlFiles = (dir: string) =>
  [...Deno.readDirSync(`${root}${dir}`)].map((e) => e.name).filter((f) => f.endsWith('.sql')).sort()
    .map((f) => `${root}${dir}/${f}`);

Deno.test('a database built from supabase/schemas equals one built from supabase/migrations', async () => {
  const migrated = await freshDatabase('from_migrations');
  const name = `t_from_schemas_${crypto.randomUUID().slice(0, 8)}`;
  const admin = postgres(Deno.env.get('TEST_DATABASE_URL')!, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database "${name}" template template0 owner postgres`);
  const sql = postgres(adminDatabaseUrl(name), { max: 1, onnotice: () => {} });
  const owner = postgres(databaseUrl(name), { max: 1, onnotice: () => {} });
  try {
    // Supabase's pieces as the superuser; the schemas, then the mapping the migrations apply (the
    // sync core is compiled for it), as the owner, as the migrations are
    for (const file of sqlFiles('local/stand-ins')) await sql.unsafe(await Deno.readTextFile(file));
    const mappings = sqlFiles('supabase/migrations').filter((f) => f.endsWith('_profile_sync_mapping.sql'));
    for (const file of [...sqlFiles('supabase/schemas'), ...mappings]) await owner.unsafe(await Deno.readTextFile(file));
    const fromMigrations = await catalogSnapshot(migrated.sql);
    const fromSchemas = await catalogSnapshot(sql);
    assert.ok(fromMigrations.some((r) => r.kind === 'function' && r.name.startsWith('profile_sync.sync_users(')));
    assert.ok(fromMigrations.length > 100, `only ${fromMigrations.length} catalog rows`);
    assert.deepEqual(catalogDiff(fromMigrations, fromSchemas, ['migrations', 'schemas']), []);
  } finally {
    await owner.end();
    await sql.end();
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.end();
    await migrated.drop();
  }
});

Deno.test('the baseline migration is generated from supabase/schemas (npm run gen:migrations)', async () => {
  const cmd = new Deno.Command('node', { args: [`${root}local/gen-migrations.mjs`, '--check'], stderr: 'piped' });
  const { code, stderr } = await cmd.output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
});
