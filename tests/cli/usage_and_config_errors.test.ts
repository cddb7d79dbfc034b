/**
 * Exit 2 with a message saying what to fix: bad usage, missing or wrong SUPABASE_DB_URL, an
 * unreachable database, a database without the migrations. With --json the error is JSON too.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { databaseUrl, freshDatabase } from '../helpers/db.ts';
import { freePort } from '../helpers/stack.ts';
import { runCli } from './run.ts';

Deno.test('CLI usage errors: exit 2 with the usage and what was wrong', async () => {
  const env = { SUPABASE_DB_URL: 'postgresql://postgres@127.0.0.1:1/none' };
  const cases: [string[], RegExp][] = [
    [[], /no command given/],
    [['frobnicate'], /unknown command: frobnicate/],
    [['status', '--verbose'], /^profile-sync: unknown option: --verbose\n/],
    [['reconcile', '--batch-size'], /^profile-sync: --batch-size needs a value\n/],
    [['status', '--json=yes'], /--json takes no value/],
    [['status', '--dry-run'], /--dry-run and --batch-size belong to `reconcile`/],
    [['reconcile', '--batch-size', '0'], /--batch-size must be a whole number from 1 to 10000/],
    [['reconcile', '--batch-size', 'lots'], /--batch-size must be a whole number/],
    [['sync'], /sync needs a user id/],
    [['sync', 'not-a-uuid'], /"not-a-uuid" is not a user id/],
    [['status', 'extra'], /unexpected argument: extra/],
  ];
  for (const [argv, message] of cases) {
    const { code, err } = await runCli(env, ...argv);
    assert.equal(code, 2, argv.join(' '));
    assert.match(err, message);
    assert.match(err, /usage: profile-sync <command>/);
  }
  for (const [argv, message] of [[['frobnicate'], 'unknown command: frobnicate'], [['status', '--verbose'], 'unknown option: --verbose']]) {
    // with --json, stdout is one JSON document and nothing else is written
    const json = await runCli(env, ...argv, '--json');
    assert.equal(json.code, 2);
    assert.deepEqual(JSON.parse(json.out), { error: { code: 'usage', message } });
    assert.equal(json.err, '');
  }
  const version = JSON.parse(await Deno.readTextFile(new URL('../../package.json', import.meta.url))).version;
  for (const flag of ['--version', '-v']) {
    const v = await runCli({}, flag);
    assert.deepEqual([v.code, v.out], [0, `profile-sync ${version}`]);
  }
  assert.deepEqual((await runCli({}, '--version', '--json')).json, { version });
  const help = await runCli({}, '--help');
  assert.equal(help.code, 0);
  assert.match(help.out, /exit status: 0 in sync, 1 drift or failures remain, 2 usage or configuration error/);
});

Deno.test('CLI configuration errors: exit 2 saying what to fix', async () => {
  const missing = await runCli({}, 'status');
  assert.equal(missing.code, 2);
  assert.match(missing.err, /SUPABASE_DB_URL is not set: set it to the postgres:\/\/ URL of the database/);

  const notUrl = await runCli({ SUPABASE_DB_URL: 'mysql://x' }, 'status', '--json');
  assert.equal(notUrl.code, 2);
  assert.equal((notUrl.json.error as { code: string }).code, 'config');

  const unreachable = await runCli({ SUPABASE_DB_URL: `postgresql://postgres@127.0.0.1:${freePort()}/x` }, 'doctor', '--json');
  assert.equal(unreachable.code, 2);
  assert.equal((unreachable.json.error as { code: string }).code, 'database_unavailable');
  assert.match((unreachable.json.error as { message: string }).message, /cannot reach the database at SUPABASE_DB_URL/);
  assert.equal(unreachable.err, '');

  const badRole = await runCli({ SUPABASE_DB_URL: 'postgresql://x@127.0.0.1/x', PROFILE_SYNC_DEFAULT_ROLE: 'no spaces' }, 'status');
  assert.equal(badRole.code, 2);
  assert.match(badRole.err, /PROFILE_SYNC_DEFAULT_ROLE/);
});

Deno.test('CLI on a database without the migrations: exit 2, "run supabase db push"', async () => {
  const name = `t_cli_bare_${crypto.randomUUID().slice(0, 8)}`;
  const admin = postgres(Deno.env.get('TEST_DATABASE_URL')!, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database "${name}"`);
  try {
    for (const command of ['status', 'reconcile', 'sync']) {
      const argv = command === 'sync' ? [command, crypto.randomUUID()] : [command];
      const res = await runCli({ SUPABASE_DB_URL: databaseUrl(name) }, ...argv, '--json');
      assert.equal(res.code, 2, command);
      assert.equal((res.json.error as { code: string }).code, 'not_migrated');
      assert.match((res.json.error as { message: string }).message, /run `supabase db push`/);
    }
  } finally {
    await admin.unsafe(`drop database if exists "${name}" with (force)`);
    await admin.end();
  }
});

Deno.test('CLI reconcile --dry-run on an empty project: exit 0', async () => {
  const db = await freshDatabase('cli_empty');
  try {
    const res = await runCli({ SUPABASE_DB_URL: db.url }, 'reconcile', '--dry-run', '--json');
    assert.deepEqual([res.code, res.json.missing, res.json.stale, res.json.orphaned], [0, 0, 0, 0]);
  } finally {
    await db.drop();
  }
});
