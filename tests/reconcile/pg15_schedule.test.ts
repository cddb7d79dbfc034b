/**
 * On Debian's PostgreSQL 15 with pg_cron: the schedule migration registers the reconcile job (and
 * its command really posts to the Vault URL with the Vault key), the schedule can be changed and
 * turned off, and `doctor` passes when all is well. On the same server, a database with only
 * Supabase's auth schema (no pg_net, no Vault, pg_cron not loadable there) takes every migration
 * cleanly, and `doctor` names what is missing.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { main } from '../../cli/main.ts';
import { insertAuthUser } from '../helpers/users.ts';
import { skipPg15, startPg15 } from './pg15.ts';

async function cli(url: string, ...argv: string[]) {
  const out: string[] = [];
  const code = await main(argv, { out: (t) => out.push(t), err: () => {}, isTerminal: false, env: { SUPABASE_DB_URL: url } });
  return { code, json: JSON.parse(out.join('\n')) };
}

const migrationVersions = () =>
  [...Deno.readDirSync(new URL('../../supabase/migrations/', import.meta.url))]
    .map((e) => e.name.slice(0, 14)).filter((v) => /^\d{14}$/.test(v)).sort();

Deno.test({
  name: 'pg_cron on PostgreSQL 15: the job is scheduled; the migrations also apply without pg_net, Vault or pg_cron',
  ignore: skipPg15(),
}, async (t) => {
  const pg = await startPg15('scheduled');
  const pools: postgres.Sql[] = [];
  const connect = (url: string) => {
    const sql = postgres(url, { max: 2, onnotice: () => {} });
    pools.push(sql);
    return sql;
  };
  try {
    const url = await pg.database('scheduled');
    const sql = connect(url);

    await t.step('the migration registers the reconcile job, and its command posts with the Vault secrets', async () => {
      const jobs = await sql`select jobname, schedule, command, active from cron.job`;
      assert.equal(jobs.length, 1);
      assert.deepEqual([jobs[0].jobname, jobs[0].schedule, jobs[0].active], ['profile-sync-reconcile', '*/10 * * * *', true]);
      await sql`select vault.create_secret('https://ref.supabase.co/functions/v1/reconcile', 'profile_sync_reconcile_url')`;
      await sql`select vault.create_secret('sb_secret_cron', 'profile_sync_admin_key')`;
      await sql.unsafe(jobs[0].command);
      const [sent] = await sql`select url, headers, convert_from(body, 'UTF8') as body, timeout_milliseconds
        from net.http_request_queue order by id desc limit 1`;
      assert.deepEqual(
        [sent.url, sent.headers.apikey, sent.headers['Content-Type'], sent.body, sent.timeout_milliseconds],
        ['https://ref.supabase.co/functions/v1/reconcile', 'sb_secret_cron', 'application/json', '{"time_budget_ms": 8000}', 10000],
      );
    });

    await t.step('the schedule can be changed and turned off', async () => {
      await sql`select profile_sync.schedule_reconcile('*/5 * * * *')`;
      assert.deepEqual((await sql`select schedule from cron.job`).map((j) => j.schedule), ['*/5 * * * *']);
      assert.equal((await sql`select profile_sync.unschedule_reconcile() as off`)[0].off, true);
      assert.equal((await sql`select count(*)::int as n from cron.job`)[0].n, 0);
      assert.equal((await sql`select profile_sync.unschedule_reconcile() as off`)[0].off, false);
      await sql`select profile_sync.schedule_reconcile()`;
      assert.deepEqual((await sql`select schedule from cron.job`).map((j) => j.schedule), ['*/10 * * * *']);
    });

    await t.step('doctor passes when all is well', async () => {
      await sql`select vault.create_secret('https://ref.supabase.co/functions/v1/auth-webhook', 'profile_sync_webhook_url')`;
      await sql`select vault.create_secret('v1,whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=', 'profile_sync_webhook_secret')`;
      await insertAuthUser(sql);
      assert.equal((await cli(url, 'reconcile', '--json')).code, 0);
      const { code, json } = await cli(url, 'doctor', '--json');
      // 'test delivery' is a warning until `doctor --send-test` proves one (nothing answers here)
      const notOk = json.checks.filter((c: { check: string; status: string }) => c.status !== 'ok' && c.check !== 'test delivery');
      // pg_cron has usually had no time to run the job yet ('*/10': unless the test runs across a
      // ten-minute mark), the only line that may not be ok
      const lines = notOk.map((c: { check: string; status: string }) => [c.check, c.status]);
      assert.ok(lines.length === 0 || JSON.stringify(lines) === JSON.stringify([['cron runs', 'warn']]), JSON.stringify(notOk));
      assert.deepEqual([code, json.ok], [0, true]);
    });

    await t.step('a Postgres 15 without pg_net, Vault or a loadable pg_cron takes every migration', async () => {
      const bareUrl = await pg.database('bare', { withNet: false, withVault: false });
      const bare = connect(bareUrl);
      const applied = (await bare`select version from supabase_migrations.schema_migrations order by 1`).map((r) => r.version);
      assert.deepEqual(applied, migrationVersions());
      const [{ net, vault, cron }] = await bare`
        select to_regnamespace('net') as net, to_regnamespace('vault') as vault, to_regnamespace('cron') as cron`;
      assert.deepEqual([net, vault, cron], [null, null, null]);
      await insertAuthUser(bare);
      assert.equal((await cli(bareUrl, 'reconcile', '--json')).json.created, 1);

      const { code, json } = await cli(bareUrl, 'doctor', '--json');
      const failed = json.checks.filter((c: { status: string }) => c.status === 'fail').map((c: { check: string }) => c.check);
      assert.deepEqual(failed, ['pg_net', 'vault', 'vault secrets', 'pg_cron job']);
      assert.equal(code, 1);
      const cronLine = json.checks.find((c: { check: string }) => c.check === 'pg_cron job');
      assert.match(cronLine.message, /pg_cron is available but not enabled/);
    });
  } finally {
    for (const sql of pools) await sql.end({ timeout: 1 });
    await pg.close();
  }
});
