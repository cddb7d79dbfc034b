/**
 * The migrations apply (twice: they are idempotent) to a Postgres that has Supabase's auth schema
 * but neither our pg_net stand-in nor Vault, and auth writes there still commit, with a warning.
 * Where the server offers a real pg_net the migrations enable it (schema net); else there is none.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { fileURLToPath as fromFileUrl } from 'node:url';
import { adminDatabaseUrl, databaseUrl } from '../helpers/db.ts';
import { insertAuthUser } from '../helpers/users.ts';

const root = fromFileUrl(new URL('../../', import.meta.url));

Deno.test('the migrations apply without pg_net or Vault and never blocks auth writes', async () => {
  const name = `t_bare_${crypto.randomUUID().slice(0, 8)}`;
  const admin = postgres(Deno.env.get('TEST_DATABASE_URL')!, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database "${name}" template template0 owner postgres`);
  const warnings: string[] = [];
  // Supabase's pieces as the superuser; the migrations as the owner `postgres`, as on hosted
  const sql = postgres(adminDatabaseUrl(name), { max: 1, onnotice: (n) => warnings.push(String(n.message)) });
  const owner = postgres(databaseUrl(name), { max: 1, onnotice: () => {} });
  try {
    const read = (path: string) => Deno.readTextFile(`${root}${path}`);
    for (const file of ['10_roles.sql', '20_auth.sql', '30_extensions.sql']) {
      await sql.unsafe(await read(`local/stand-ins/${file}`));
    }
    const migrations = [...Deno.readDirSync(`${root}supabase/migrations`)].map((e) => e.name)
      .filter((f) => f.endsWith('.sql')).sort();
    assert.ok(migrations.length > 0);
    for (const file of [...migrations, ...migrations]) await owner.unsafe(await read(`supabase/migrations/${file}`));

    const [{ n }] = await sql`select count(*)::int as n from pg_catalog.pg_trigger
      where tgrelid = 'auth.users'::regclass and tgname like 'profile_sync_%'`;
    assert.equal(n, 3);
    const [{ offered, net }] = await sql`select
      exists (select 1 from pg_available_extensions where name = 'pg_net') as offered,
      to_regnamespace('net') is not null as net`;
    assert.equal(net, offered, offered ? 'the server offers pg_net: the migrations enable it' : 'no pg_net here');

    warnings.length = 0;
    const id = await insertAuthUser(sql);
    await sql`update auth.users set email = 'x@example.com' where id = ${id}`;
    await sql`delete from auth.users where id = ${id}`;
    assert.equal(warnings.length, 3, warnings.join('\n'));
    assert.match(warnings[0], /Vault is not available/);
  } finally {
    await sql.end();
    await owner.end();
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.end();
  }
});
