/**
 * `doctor` names each broken part and what to do about it: pg_cron absent (not enabled in this
 * database: the server may offer it or not), the auth.users trigger dropped or disabled, a Vault
 * secret missing, a migration not applied, failed pg_net deliveries, users that cannot be synced,
 * drift. (It passing when all is well needs pg_cron: tests/reconcile/pg15_schedule.test.ts.)
 */
import assert from 'node:assert/strict';
import { LOCAL_STAND_IN } from '../../cli/doctor.ts';
import { freshDatabase } from '../helpers/db.ts';
import { insertAuthUser } from '../helpers/users.ts';
import { runCli } from './run.ts';

type Check = { check: string; status: string; message: string; fix?: string };

const SECRETS: Record<string, string> = {
  profile_sync_webhook_url: 'https://ref.supabase.co/functions/v1/auth-webhook',
  profile_sync_webhook_secret: 'v1,whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=',
  profile_sync_reconcile_url: 'https://ref.supabase.co/functions/v1/reconcile',
  profile_sync_admin_key: 'sb_secret_doctor',
};

Deno.test('doctor names each broken part and says what to do', async () => {
  const db = await freshDatabase('cli_doctor');
  const env = { SUPABASE_DB_URL: db.url };
  const doctor = async () => {
    const res = await runCli(env, 'doctor', '--json');
    const checks = (res.json.checks as Check[]);
    const byName = Object.fromEntries(checks.map((c) => [c.check, c]));
    return { code: res.code, ok: res.json.ok, byName, failing: checks.filter((c) => c.status === 'fail').map((c) => c.check) };
  };
  try {
    // The local stack's database: pg_net is our stand-in (marked on schema net), and pg_cron is
    // not enabled here (a server with pg_cron preloaded for this database would have it enabled)
    await db.sql.unsafe(`comment on schema net is '${LOCAL_STAND_IN}'`);
    await db.sql`drop extension if exists pg_cron`;
    const [{ cronOffered }] = await db.sql`
      select exists (select 1 from pg_available_extensions where name = 'pg_cron') as "cronOffered"`;
    for (const [name, value] of Object.entries(SECRETS)) await db.sql`select vault.create_secret(${value}, ${name})`;
    await insertAuthUser(db.sql);
    assert.equal((await runCli(env, 'reconcile')).code, 0);

    // the local stack's database (the stand-ins) has no pg_cron, as expected there: a warning
    let d = await doctor();
    assert.deepEqual([d.code, d.ok, d.failing], [0, true, []]);
    assert.equal(d.byName['pg_cron job'].status, 'warn');
    assert.match(d.byName['pg_cron job'].message, /expected there\): a stack on its own embedded Postgres .* calls reconcile every 10 minutes itself; one given SUPABASE_DB_URL schedules nothing/);

    // any other database without pg_cron enabled: the only broken part, with what to do on this server
    await db.sql`comment on schema net is null`;
    d = await doctor();
    assert.deepEqual([d.code, d.ok, d.failing], [1, false, ['pg_cron job']]);
    if (cronOffered) {
      assert.match(d.byName['pg_cron job'].message, /pg_cron is available but not enabled/);
      assert.match(d.byName['pg_cron job'].fix!, /create extension pg_cron; select profile_sync.schedule_reconcile\(\)/);
    } else {
      assert.match(d.byName['pg_cron job'].message, /pg_cron is not available/);
      assert.match(d.byName['pg_cron job'].fix!, /POST \/functions\/v1\/reconcile/);
    }
    for (const ok of ['migrations', 'trigger', 'pg_net', 'vault', 'vault secrets', 'sync failures', 'drift', 'last reconcile']) {
      assert.equal(d.byName[ok].status, 'ok', `${ok}: ${d.byName[ok].message}`);
    }

    const triggers = (await db.sql`
      select t.tgname from pg_trigger t join pg_proc p on p.oid = t.tgfoid
      where t.tgrelid = 'auth.users'::regclass and p.proname = 'notify_auth_user_change' order by 1`).map((r) => r.tgname);
    assert.ok(triggers.length > 0);

    // the bookkeeping trigger is a moving part too: disabled, then gone
    await db.sql`alter table auth.users disable trigger profile_sync_auth_user_forgotten`;
    d = await doctor();
    assert.deepEqual(d.failing, ['trigger', 'pg_cron job']);
    assert.match(d.byName.trigger.message, /disabled on auth.users: profile_sync_auth_user_forgotten/);
    await db.sql`alter table auth.users enable trigger profile_sync_auth_user_forgotten`;
    const forget = await db.sql`select pg_get_triggerdef(oid) as def from pg_trigger where tgname = 'profile_sync_auth_user_forgotten'`;
    await db.sql`drop trigger profile_sync_auth_user_forgotten on auth.users`;
    d = await doctor();
    assert.match(d.byName.trigger.message, /calls profile_sync.forget_deleted_user\(\): deleted users keep their bookkeeping/);
    assert.match(d.byName.trigger.fix!, /profile_sync_auth_user_forgotten/);
    await db.sql.unsafe(forget[0].def);

    await db.sql.unsafe(`alter table auth.users disable trigger ${triggers[0]}`);
    d = await doctor();
    assert.deepEqual(d.failing, ['trigger', 'pg_cron job']);
    assert.match(d.byName.trigger.message, new RegExp(`disabled on auth.users: ${triggers[0]}`));
    assert.match(d.byName.trigger.fix!, new RegExp(`alter table auth.users enable trigger ${triggers[0]}`));

    for (const name of triggers) await db.sql.unsafe(`drop trigger ${name} on auth.users`);
    d = await doctor();
    assert.match(d.byName.trigger.message, /no trigger on auth.users calls profile_sync.notify_auth_user_change\(\)/);

    await db.sql`delete from vault.secrets where name = 'profile_sync_admin_key'`;
    await db.sql`update vault.secrets set secret = 'not a url' where name = 'profile_sync_reconcile_url'`;
    d = await doctor();
    assert.deepEqual(d.failing, ['trigger', 'vault secrets', 'pg_cron job']);
    assert.equal(d.byName['vault secrets'].message, 'not set: profile_sync_admin_key');
    assert.match(d.byName['vault secrets'].fix!, /vault.create_secret\('<admin_key>', 'profile_sync_admin_key'\)/);
    await db.sql`select vault.create_secret('sb_secret_doctor', 'profile_sync_admin_key')`;
    d = await doctor();
    assert.equal(d.byName['vault secrets'].message, 'not an http(s) URL: profile_sync_reconcile_url');

    await db.sql`delete from supabase_migrations.schema_migrations where version = '20261130000000'`;
    await db.sql`insert into net._http_response (id, status_code, content, error_msg) values
      (1, 200, '{}', null), (2, 401, '{"error":{}}', null), (3, null, null, 'Couldn''t connect to server')`;
    // pg_net keeps responses 6 h: an older failure no longer counts
    await db.sql`insert into net._http_response (id, status_code, content, created) values (4, 500, '{}', now() - interval '7 hours')`;
    await db.sql`insert into profile_sync.failures (user_id, source, error_code) values (${crypto.randomUUID()}, 'reconcile', 'P0001')`;
    await insertAuthUser(db.sql);
    d = await doctor();
    assert.deepEqual(d.failing, ['migrations', 'trigger', 'vault secrets', 'pg_cron job', 'sync failures']);
    assert.match(d.byName.migrations.message, /not applied: 20261130000000_profile_sync_core.sql/);
    assert.match(d.byName.migrations.fix!, /supabase db push/);
    assert.equal(d.byName['pg_net deliveries'].status, 'warn');
    assert.match(d.byName['pg_net deliveries'].message, /2 of 3 pg_net requests in the last 6 h failed \(latest: Couldn't connect to server\)/);
    assert.match(d.byName['sync failures'].message, /1 users cannot be synced \(SQLSTATE P0001 ×1\)/);
    assert.equal(d.byName.drift.status, 'warn');
    assert.match(d.byName.drift.message, /^1 missing, 0 stale, 0 orphaned of 2 users/);
    assert.match(d.byName.drift.fix!, /profile-sync reconcile/);

    const human = await runCli(env, 'doctor');
    assert.equal(human.code, 1);
    assert.match(human.out, /^fail {2}trigger\s+no trigger on auth.users/m);
    assert.match(human.out, /^\s+→ select vault.create_secret|^\s+→ set it to https/m);
    assert.doesNotMatch(human.out, /sb_secret_doctor|whsec_/, 'secret values are never shown');
  } finally {
    await db.drop();
  }
});
