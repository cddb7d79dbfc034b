/**
 * `profile-sync deliveries [--dead]`, `replay <ids…> | --dead | --since`, the deliveries line of
 * `status` and `doctor`'s queue check, over the owner's URL as a team runs them.
 */
import assert from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { runCli } from '../cli/run.ts';
import { insertAuthUser } from '../helpers/users.ts';
import { allDueNow, refuseNames } from './helpers.ts';

Deno.test('the CLI lists, replays and reports the delivery queue', async (t) => {
  const db = await freshDatabase('dlv_cli');
  const cli = (...argv: string[]) => runCli({ SUPABASE_DB_URL: db.url }, ...argv);
  try {
    await refuseNames(db.sql);
    const refused = await insertAuthUser(db.sql, { user_metadata: { full_name: 'Refused Ray' } });
    const waiting = await insertAuthUser(db.sql, { user_metadata: { full_name: 'Wendy' } });

    await t.step('deliveries: what waits, in due order; status counts it', async () => {
      const { code, json, out } = await cli('deliveries', '--json');
      assert.equal(code, 0);
      const rows = json.deliveries as { user_id: string; attempts: number }[];
      assert.deepEqual(rows.map((r) => r.user_id).sort(), [refused, waiting].sort());
      assert.doesNotMatch(JSON.stringify(json), /@example\.com/, 'user ids, never emails');
      assert.match((await cli('deliveries')).out, /queued deliveries \(2\)/);
      const status = await cli('status', '--json');
      assert.deepEqual(status.json.deliveries, { queued: 2, oldest_due_age_s: (status.json.deliveries as { oldest_due_age_s: number }).oldest_due_age_s, retrying: 0, dead: 0 });
      assert.match((await cli('status')).out, /deliveries\s+2 queued/);
      void out;
    });

    await t.step('dead letters: listed with error and constraint; doctor names the commands', async () => {
      await db.sql`call profile_sync.drain_deliveries()`;
      for (let i = 0; i < 8; i++) {
        await allDueNow(db.sql);
        await db.sql`call profile_sync.drain_deliveries()`;
      }
      const dead = await cli('deliveries', '--dead', '--json');
      assert.equal(dead.code, 1, 'dead letters remain');
      const [row] = dead.json.deliveries as { user_id: string; attempts: number; constraint_name: string; error_code: string }[];
      assert.deepEqual([row.user_id, row.attempts, row.constraint_name, row.error_code], [refused, 8, 'profiles_not_refused', '23514']);
      assert.match((await cli('deliveries', '--dead')).out, /profiles_not_refused[\s\S]*profile-sync replay --dead/);
      const doctor = await cli('doctor', '--json');
      const line = (doctor.json.checks as { check: string; status: string; fix?: string }[]).find((c) => c.check === 'delivery queue')!;
      assert.equal(line.status, 'warn');
      assert.match(line.fix!, /profile-sync deliveries --dead.*profile-sync replay --dead/);
    });

    await t.step('replay --dead: fixed, the dead letter is delivered', async () => {
      await db.sql`alter table public.profiles drop constraint profiles_not_refused`;
      const { code, json } = await cli('replay', '--dead', '--json');
      assert.deepEqual([code, json], [0, { queued: 1 }]);
      await db.sql`call profile_sync.drain_deliveries()`;
      const [{ n }] = await db.sql`select count(*)::int as n from public.profiles where id = ${refused}`;
      assert.equal(n, 1);
      assert.deepEqual((await cli('status', '--json')).json.deliveries, { queued: 0, oldest_due_age_s: 0, retrying: 0, dead: 0 });
    });

    await t.step('replay <ids…> and --since queue users again', async () => {
      assert.deepEqual((await cli('replay', refused, waiting, '--json')).json, { queued: 2 });
      await db.sql`delete from profile_sync.deliveries`;
      const since = new Date(Date.now() - 60_000).toISOString();
      assert.deepEqual((await cli('replay', '--since', since, '--json')).json, { queued: 2 });
      assert.deepEqual((await cli('replay', '--since', new Date(Date.now() + 60_000).toISOString(), '--json')).json, { queued: 0 });
    });

    await t.step('doctor warns when the oldest due delivery waits too long', async () => {
      await db.sql`update profile_sync.deliveries set due_at = now() - interval '10 minutes'`;
      const doctor = await cli('doctor', '--json');
      const line = (doctor.json.checks as { check: string; status: string; message: string; fix?: string }[])
        .find((c) => c.check === 'delivery queue')!;
      assert.equal(line.status, 'warn');
      assert.match(line.message, /waited 6\d\d s/);
      assert.match(line.fix!, /auth-webhook.*profile-sync deliveries.*profile-sync-drain/);
    });

    await t.step('bad input: a clear usage error, nothing queued', async () => {
      await db.sql`delete from profile_sync.deliveries`;
      for (const argv of [['replay'], ['replay', 'not-a-uuid'], ['replay', '--since', 'yesterday'], ['status', '--dead'], ['deliveries', '--since', '2026-01-01']]) {
        const { code, err } = await cli(...argv);
        assert.equal(code, 2, argv.join(' '));
        assert.match(err, /replay|--since|--dead|uuid/, err);
      }
      const [{ n }] = await db.sql`select count(*)::int as n from profile_sync.deliveries`;
      assert.equal(n, 0);
    });
  } finally {
    await db.drop();
  }
});
