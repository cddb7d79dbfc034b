/**
 * `npx profile-sync` as users run it: cli/bin.mjs (the package's bin) starts Deno from
 * node_modules on cli/entry.ts (in a clone; installed, it runs dist/cli.mjs: tests/package/); output and exit
 * code pass through.
 */
import assert from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { insertAuthUser } from '../helpers/users.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

async function launch(env: Record<string, string>, ...args: string[]) {
  const out = await new Deno.Command('node', {
    args: [`${ROOT}cli/bin.mjs`, ...args],
    cwd: '/',
    env,
    stdout: 'piped',
    stderr: 'piped',
  }).output();
  return { code: out.code, stdout: new TextDecoder().decode(out.stdout), stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test('the profile-sync bin runs the CLI from any directory and passes the exit code through', async () => {
  const db = await freshDatabase('cli_launcher');
  try {
    await insertAuthUser(db.sql);
    const drift = await launch({ SUPABASE_DB_URL: db.url }, 'status', '--json');
    assert.equal(drift.code, 1, drift.stderr);
    assert.deepEqual([JSON.parse(drift.stdout).auth_users, JSON.parse(drift.stdout).missing], [1, 1]);

    const repaired = await launch({ SUPABASE_DB_URL: db.url }, 'reconcile', '--json');
    assert.equal(repaired.code, 0, repaired.stderr);
    assert.equal(JSON.parse(repaired.stdout).created, 1);

    const usage = await launch({}, 'status');
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /SUPABASE_DB_URL is not set/);
  } finally {
    await db.drop();
  }
});
