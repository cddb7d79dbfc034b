/**
 * status, reconcile and sync: their --json output, their human tables, and the exit codes
 * (0 in sync, 1 drift or failures remain or another reconcile runs).
 */
import assert from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { profileMismatches, syncTables } from '../helpers/profiles.ts';
import { updateAuthUser } from '../helpers/users.ts';
import { driftScenario } from '../reconcile/scenario.ts';
import { runCli } from './run.ts';

Deno.test('CLI status / reconcile / sync: JSON, tables and exit codes', async (t) => {
  const db = await freshDatabase('cli_commands');
  const env = { SUPABASE_DB_URL: db.url };
  try {
    const s = await driftScenario(db.sql, {
      total: 600, neverSynced: 50, appDeleted: 5, renamed: 20, preexisting: 5, authDeleted: 10,
    });

    await t.step('status with drift: exit 1', async () => {
      const { code, json } = await runCli(env, 'status', '--json');
      assert.equal(code, 1);
      assert.deepEqual(
        [json.auth_users, json.missing, json.stale, json.orphaned, json.failures, json.last_run],
        [590, 55, 25, 10, 0, null],
      );
      const human = await runCli(env, 'status');
      assert.equal(human.code, 1);
      assert.match(human.out, /^auth users\s+590$/m);
      assert.match(human.out, /^missing\s+55$/m);
      assert.match(human.out, /^synced\s+86\.44 %$/m);
    });

    await t.step('reconcile --dry-run: counts and samples, nothing written, exit 1', async () => {
      const before = await syncTables(db.sql);
      const { code, json } = await runCli(env, 'reconcile', '--dry-run', '--json');
      assert.equal(code, 1);
      assert.deepEqual([json.dry_run, json.missing, json.stale, json.orphaned, json.complete], [true, 55, 25, 10, true]);
      assert.deepEqual((json.samples as Record<string, string[]>).orphaned, s.orphaned);
      assert.deepEqual(await syncTables(db.sql), before);
      const human = await runCli(env, 'reconcile', '--dry-run');
      assert.match(human.out, /^dry run \(nothing written\)/);
      assert.match(human.out, /^orphaned e\.g\.\s+[0-9a-f-]{36}/m);
    });

    await t.step('reconcile while another holds the lock: exit 1, reconcile_in_progress', async () => {
      const holder = await db.sql.reserve();
      try {
        await holder`select pg_advisory_lock(20261121, 400)`;
        const { code, json } = await runCli(env, 'reconcile', '--json');
        assert.equal(code, 1);
        assert.equal((json.error as { code: string }).code, 'reconcile_in_progress');
        assert.match((json.error as { message: string }).message, /another reconcile is running/);
      } finally {
        await holder`select pg_advisory_unlock(20261121, 400)`;
        holder.release();
      }
    });

    await t.step('reconcile repairs everything: exit 0, nothing remaining', async () => {
      const { code, json } = await runCli(env, 'reconcile', '--batch-size', '100', '--json');
      assert.equal(code, 0);
      assert.deepEqual(
        [json.missing, json.stale, json.orphaned, json.created, json.updated, json.deleted, json.failed, json.complete],
        [55, 25, 10, 55, 20, 10, 0, true],
      );
      assert.deepEqual(json.remaining, { missing: 0, stale: 0, orphaned: 0, failures: 0 });
      assert.deepEqual(await profileMismatches(db.sql), []);
      const status = await runCli(env, 'status', '--json');
      assert.deepEqual([status.code, status.json.synced_percent], [0, 100]);
      const human = await runCli(env, 'reconcile');
      assert.equal(human.code, 0);
      assert.match(human.out, /^remaining\s+0 missing, 0 stale, 0 orphaned, 0 failures$/m);
    });

    await t.step('a user who cannot be synced: exit 1 until the cause is fixed', async () => {
      const victim = s.users[0];
      await db.sql.unsafe(`
        create function public.no_renames() returns trigger language plpgsql as $$
        begin raise exception 'renames are frozen' using errcode = 'P0001'; end $$;
        create trigger no_renames before update on public.profiles
          for each row execute function public.no_renames();`);
      await updateAuthUser(db.sql, victim, { raw_user_meta_data: { full_name: 'Frozen Name' } });
      const run = await runCli(env, 'reconcile', '--json');
      assert.deepEqual([run.code, run.json.failed, (run.json.remaining as { failures: number }).failures], [1, 1, 1]);
      assert.equal((await runCli(env, 'status', '--json')).code, 1);
      const human = await runCli(env, 'reconcile');
      assert.match(human.out, /profile-sync doctor/);

      await db.sql`drop trigger no_renames on public.profiles`;
      const sync = await runCli(env, 'sync', victim, '--json');
      assert.deepEqual([sync.code, sync.json.user_id, sync.json.outcome], [0, victim, 'updated']);
      assert.equal((sync.json.profile as { full_name: string }).full_name, 'Frozen Name');
      assert.equal((await runCli(env, 'status', '--json')).code, 0, 'a manual sync clears the failure');
    });

    await t.step('sync: unchanged, unknown id, human output', async () => {
      const again = await runCli(env, 'sync', s.users[1], '--json');
      assert.deepEqual([again.code, again.json.outcome], [0, 'unchanged']);
      const unknown = await runCli(env, 'sync', crypto.randomUUID(), '--json');
      assert.deepEqual([unknown.code, unknown.json.outcome, unknown.json.profile], [1, 'not_found', null]);
      const human = await runCli(env, 'sync', s.users[1]);
      assert.match(human.out, /^outcome\s+unchanged$/m);
    });
  } finally {
    await db.drop();
  }
});
