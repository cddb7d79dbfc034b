/**
 * `profile-sync dashboard`'s usage errors: exit 2 saying what to fix, before anything listens;
 * its flags are in the CLI's usage and its command line checker.
 */
import assert from 'node:assert/strict';
import { usageError, USAGE } from '../../cli/main.ts';
import { runCli } from '../cli/run.ts';

Deno.test('profile-sync dashboard: usage errors exit 2 and say what to fix', async () => {
  const cases: [Record<string, string>, string[], RegExp][] = [
    [{}, [], /no database: pass --db-url URL or set SUPABASE_DB_URL/],
    [{ SUPABASE_DB_URL: 'mysql://x' }, [], /must be a postgres:\/\/ URL/],
    [{ SUPABASE_DB_URL: 'postgres://x' }, ['--port', 'eighty'], /--port must be a TCP port number/],
    [{ SUPABASE_DB_URL: 'postgres://x' }, ['--port', '70000'], /--port must be a TCP port number/],
    [{ SUPABASE_DB_URL: 'postgres://x' }, ['--json'], /Unknown option '--json'/],
    [{ SUPABASE_DB_URL: 'postgres://x' }, ['now'], /unexpected argument: now/],
  ];
  for (const [env, args, message] of cases) {
    const { code, err, out } = await runCli(env, 'dashboard', ...args);
    assert.equal(code, 2, args.join(' '));
    assert.match(err, message);
    assert.equal(out, '');
  }
  assert.match(USAGE, /dashboard \[--db-url URL\] \[--port N\] \[--open\]/);
  assert.equal(usageError(['dashboard', '--db-url', 'postgres://x', '--port', '0', '--open']), undefined);
  assert.match(usageError(['dashboard', '--port', 'x']) ?? '', /--port/);
});
