/**
 * `npx profile-sync dev` in a user's project folder runs *that project*: embedded Postgres with the
 * stand-ins, the project's own migrations, the functions init installed there and the pg_net
 * relay, so a signup arrives in the project's table. With SUPABASE_DB_URL the stack has no data
 * folder: a stack on the default (or any) data folder does not stop it.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { scratchProject } from '../install/project.ts';
import { freshDatabase } from '../helpers/db.ts';
import { freePort } from '../helpers/stack.ts';
import { devDatabase, type Running, signUpAndReadProfile, startDev, stopDev } from '../helpers/dev_process.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

Deno.test("npx profile-sync dev in a project folder: the project's migrations and functions, and its signups arrive", async () => {
  const project = scratchProject({ '20240101000000_todos.sql': 'create table public.todos (id bigint primary key);\n' });
  const dbPort = freePort();
  let run: Running | undefined;
  let sql: postgres.Sql | undefined;
  try {
    assert.equal((await project.cli(['init', '--yes'])).code, 0);
    // as root, embedded Postgres runs as the `postgres` user, who must reach the data folder (a temp dir is 0700)
    Deno.chmodSync(project.dir, 0o755);
    run = await startDev([`${ROOT}cli/bin.mjs`, 'dev'], project.dir, { PORT: String(freePort()), PROFILE_SYNC_DB_PORT: String(dbPort) });
    const out = run.output();
    assert.match(out, /profile-sync local stack is up/, out);
    assert.ok(out.includes(`project         ${project.dir}`), out);
    assert.ok(project.exists('supabase/.temp/profile-sync-dev/data/PG_VERSION'), 'the data lives in the project\'s supabase/.temp');

    sql = devDatabase(dbPort);
    const [{ todos }] = await sql`select to_regclass('public.todos') is not null as todos`;
    assert.ok(todos, "the project's own migration was applied");
    assert.equal(await signUpAndReadProfile(sql, 'Ada Lovelace'), 'Ada Lovelace');
  } finally {
    await sql?.end();
    if (run) await stopDev(run);
    project.remove();
  }
});

Deno.test('with SUPABASE_DB_URL the stack uses no data folder: another stack on it does not stop this one', async () => {
  const db = await freshDatabase('dev_external');
  const data = await Deno.makeTempDir({ prefix: 'dev-external-' });
  // a stack "running" on that data folder (this test process stands in for it)
  Deno.writeTextFileSync(`${data}/dev.pid`, `${Deno.pid}\n`);
  let run: Running | undefined;
  try {
    run = await startDev(['local/dev.mjs'], ROOT, {
      SUPABASE_DB_URL: db.url,
      PROFILE_SYNC_DEV_DATA: data,
      PORT: String(freePort()),
    });
    assert.match(run.output(), /profile-sync local stack is up/, run.output());
  } finally {
    if (run) await stopDev(run);
    await db.drop();
    Deno.removeSync(data, { recursive: true });
  }
});
