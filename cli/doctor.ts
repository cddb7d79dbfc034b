/**
 * `profile-sync doctor`: "why are profiles missing?" in one command. Checks every moving part —
 * migrations, the auth.users trigger, pg_net, Vault and its secrets, the pg_cron job and its runs,
 * recent delivery failures, sync failures, drift, the last reconcile — and says what to fix.
 * @module
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Sql } from '../shared/db.ts';
import { isDbUnavailable, withDb } from '../shared/db.ts';
import { isAppError } from '../shared/errors.ts';
import { appliedDocument } from './mapping.ts';
import { reconcileStatus, toRunSummary } from '../shared/reconcile-status.ts';
import type { ReconcileStatus } from '../shared/reconcile-types.ts';
import { deliveryStatus } from '../shared/deliveries.ts';
import { appliedVersions, applyMappingRolledBack, MappingRefused } from './install/live.ts';
import { MAPPING_FILE, MIGRATIONS_DIR, readLock } from './install/project.ts';
import type { Lock } from './install/project.ts';
import { count, describeRun, table } from './output.ts';

export type CheckStatus = 'ok' | 'warn' | 'fail';
export type CheckResult = { check: string; status: CheckStatus; message: string; fix?: string };
export type DoctorReport = { ok: boolean; checks: CheckResult[] };

type Check = (sql: Sql, env: DoctorEnv) => Promise<Omit<CheckResult, 'check'>>;
type DoctorEnv = {
  migrationsDir: string;
  /** The project folder doctor runs in: with profile-sync's lock file there, its migrations are checked by their names. */
  projectDir?: string;
  /** Send a signed test delivery (`doctor --send-test`). */
  sendTest?: boolean;
  /** Where the drift check reads status (the dashboard shares its one measurement); else reconcileStatus. */
  status?: () => Promise<ReconcileStatus>;
};

export const VAULT_SECRETS = [
  'profile_sync_webhook_url',
  'profile_sync_webhook_secret',
  'profile_sync_reconcile_url',
  'profile_sync_admin_key',
] as const;
export const CRON_JOB = 'profile-sync-reconcile';
/** The pg_cron job that drains the delivery queue (85_schedule.sql). */
export const DRAIN_JOB = 'profile-sync-drain';
const TRIGGER_FUNCTION = 'notify_auth_user_change';
/** The trigger function that deletes a deleted auth user's bookkeeping. */
const FORGET_FUNCTION = 'forget_deleted_user';
const DEFAULT_MIGRATIONS_DIR = fileURLToPath(new URL('../supabase/migrations/', import.meta.url));

const ok = (message: string) => ({ status: 'ok' as const, message });
const warn = (message: string, fix?: string) => ({ status: 'warn' as const, message, fix });
const fail = (message: string, fix?: string) => ({ status: 'fail' as const, message, fix });

async function extensionAvailable(sql: Sql, name: string): Promise<boolean> {
  const [row] = await sql`select exists (select 1 from pg_available_extensions where name = ${name}) as available`;
  return row.available;
}

/**
 * From a project folder that installed profile-sync (its lock file): the files profile-sync wrote
 * there, by the names they have in that folder. A mapping migration that is not applied is asked
 * of apply_mapping (rolled back) so the failure is named with its field and the fix.
 */
async function projectMigrations(sql: Sql, dir: string, lock: Lock): Promise<Omit<CheckResult, 'check'>> {
  const files = [...new Set([...Object.values(lock.core).map((c) => c.file), ...(lock.mapping ? [lock.mapping.file] : [])])].sort();
  const applied = await appliedVersions(sql);
  const missing = files.filter((f) => !applied.has(/(\d{14})_[^/]*$/.exec(f)?.[1] ?? ''));
  if (missing.length === 0) return ok(`all ${files.length} of profile-sync's migrations in ${MIGRATIONS_DIR} applied`);
  const mappingFile = lock.mapping?.file;
  if (mappingFile && missing.includes(mappingFile)) {
    let doc: unknown;
    try {
      doc = appliedDocument(JSON.parse(readFileSync(join(dir, MAPPING_FILE), 'utf8')));
    } catch {
      doc = undefined;
    }
    if (doc !== undefined) {
      try {
        await applyMappingRolledBack(sql, doc);
      } catch (err) {
        if (!(err instanceof MappingRefused)) throw err;
        return fail(`not applied: ${missing.join(', ')}: \`supabase db push\` stops at ${mappingFile}, because ` +
          `apply_mapping refuses ${MAPPING_FILE}: ${oneLine(err.sqlMessage)}`,
          `fix that field in ${MAPPING_FILE}, then \`npx profile-sync generate --db-url "$SUPABASE_DB_URL"\` ` +
            `(it rewrites ${mappingFile} in place) and \`supabase db push\``);
      }
    }
  }
  return fail(`not applied: ${missing.join(', ')}`, 'run `supabase db push` from the project folder');
}

const migrations: Check = async (sql, env) => {
  const lock = env.projectDir ? readLock(env.projectDir) : undefined;
  if (lock && env.projectDir) return await projectMigrations(sql, env.projectDir, lock);
  const files = readdirSync(env.migrationsDir).filter((f) => /^\d{14}_.*\.sql$/.test(f)).sort();
  const [{ table }] = await sql`select to_regclass('supabase_migrations.schema_migrations') as table`;
  if (!table) {
    return warn('no migration history (supabase_migrations.schema_migrations): cannot tell what is applied',
      'apply the migrations with `supabase db push`');
  }
  // A project that installed profile-sync (`profile-sync init`) has the same migrations under its own
  // timestamps: the same name, or folded into a `generate` upgrade migration that names each one.
  const history = await sql<{ version: string; name: string | null; statements: string[] | null }[]>`
    select * from supabase_migrations.schema_migrations`;
  const versions = new Set(history.map((r) => r.version));
  const names = new Set(history.map((r) => r.name));
  const statements = history.flatMap((r) => r.statements ?? []).join('\n');
  const applied = (f: string) =>
    versions.has(f.slice(0, 14)) || names.has(f.slice(15, -'.sql'.length)) ||
    statements.includes(`-- profile-sync core migration ${f}\n`);
  const missing = files.filter((f) => !applied(f));
  return missing.length === 0
    ? ok(`all ${files.length} applied`)
    : fail(`not applied: ${missing.join(', ')}`, 'run `supabase db push` (or `supabase db push --remote=<db-url>`)');
};

const trigger: Check = async (sql) => {
  const all = await sql`
    select t.tgname as name, t.tgenabled as enabled, p.proname as function
    from pg_trigger t
    join pg_proc p on p.oid = t.tgfoid
    join pg_namespace n on n.oid = p.pronamespace
    where t.tgrelid = to_regclass('auth.users') and not t.tgisinternal
      and n.nspname = 'profile_sync' and p.proname in (${TRIGGER_FUNCTION}, ${FORGET_FUNCTION})
    order by t.tgname`;
  const rows = all.filter((r) => r.function === TRIGGER_FUNCTION);
  if (rows.length === 0) {
    return fail(`no trigger on auth.users calls profile_sync.${TRIGGER_FUNCTION}(): signups and changes are not pushed`,
      'create the triggers profile_sync_auth_users_inserted, profile_sync_auth_user_updated and profile_sync_auth_users_deleted on auth.users (apply the profile-sync migrations: `supabase db push`)');
  }
  if (!all.some((r) => r.function === FORGET_FUNCTION)) {
    return fail(`no trigger on auth.users calls profile_sync.${FORGET_FUNCTION}(): deleted users keep their bookkeeping`,
      'create the trigger profile_sync_auth_user_forgotten on auth.users (apply the profile-sync migrations: `supabase db push`)');
  }
  // 'D' disabled; 'R' fires only under session_replication_role = replica, i.e. never for Auth
  const off = all.filter((r) => r.enabled === 'D' || r.enabled === 'R').map((r) => r.name);
  return off.length > 0
    ? fail(`disabled on auth.users: ${off.join(', ')}`, off.map((n) => `alter table auth.users enable trigger ${n};`).join(' '))
    : ok(`enabled: ${all.map((r) => r.name).join(', ')}`);
};

const pgNet: Check = async (sql) => {
  const [row] = await sql`
    select to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is not null as present,
      (select extversion from pg_extension where extname = 'pg_net') as version`;
  if (row.present) return ok(row.version ? `pg_net ${row.version}` : 'net.http_post present');
  return (await extensionAvailable(sql, 'pg_net'))
    ? fail('pg_net is available but not enabled: the trigger and the schedule cannot send anything',
      'create extension pg_net; (Dashboard → Database → Extensions), then re-run `profile-sync doctor`')
    : fail('pg_net is not available on this database: webhooks and the schedule cannot be sent',
      'use a database that offers pg_net (every Supabase project does); until then run `profile-sync reconcile` yourself');
};

const vault: Check = async (sql) => {
  const [row] = await sql`select to_regclass('vault.decrypted_secrets') is not null as present`;
  if (row.present) return ok('vault.decrypted_secrets present');
  return fail('Vault is not available: the trigger and the schedule read their URLs and keys from it',
    (await extensionAvailable(sql, 'supabase_vault'))
      ? 'create extension supabase_vault; (Dashboard → Database → Extensions)'
      : 'use a database with Supabase Vault (every Supabase project has it)');
};

const vaultSecrets: Check = async (sql) => {
  const [{ present }] = await sql`select to_regclass('vault.decrypted_secrets') is not null as present`;
  if (!present) return fail('cannot be read without Vault', 'enable Vault first (see the vault line)');
  // only whether each is set and URL-shaped: values are never read out
  const rows = await sql`
    select n.name,
      coalesce(btrim(s.decrypted_secret), '') <> '' as set,
      coalesce(s.decrypted_secret ~ '^https?://[^[:space:]]+$', false) as is_url
    from unnest(${VAULT_SECRETS as unknown as string[]}::text[]) as n (name)
    left join lateral (
      select d.decrypted_secret from vault.decrypted_secrets d where d.name = n.name limit 1
    ) s on true`;
  const unset = rows.filter((r) => !r.set).map((r) => r.name);
  if (unset.length > 0) {
    return fail(`not set: ${unset.join(', ')}`,
      unset.map((n) => `select vault.create_secret('<${n.replace('profile_sync_', '')}>', '${n}');`).join(' '));
  }
  const notUrls = rows.filter((r) => r.name.endsWith('_url') && !r.is_url).map((r) => r.name);
  return notUrls.length > 0
    ? fail(`not an http(s) URL: ${notUrls.join(', ')}`,
      'set it to https://<project-ref>.supabase.co/functions/v1/<function> with vault.update_secret')
    : ok(`all ${VAULT_SECRETS.length} set`);
};

/** The comment local/stand-ins/40_pg_net.sql puts on schema net: this is the local stack's database. */
export const LOCAL_STAND_IN = 'profile-sync local stand-in';

async function isLocalStack(sql: Sql): Promise<boolean> {
  const [{ comment }] = await sql`
    select obj_description(to_regnamespace('net'), 'pg_namespace') as comment`;
  return typeof comment === 'string' && comment.startsWith(LOCAL_STAND_IN);
}

const cronJob: Check = async (sql) => {
  const [{ present }] = await sql`select to_regclass('cron.job') is not null as present`;
  if (!present && await isLocalStack(sql)) {
    // the embedded Postgres of `npm run dev` has no pg_cron: the stack calls reconcile itself
    return warn('pg_cron is not available on this local database (expected there): a stack on its own embedded Postgres ' +
      '(`npm run dev`, `npx profile-sync dev`) calls reconcile every 10 minutes itself; one given SUPABASE_DB_URL schedules nothing',
      'locally: run `npx profile-sync reconcile` when you want one; on Supabase the migration schedules the job with pg_cron');
  }
  if (!present) {
    return (await extensionAvailable(sql, 'pg_cron'))
      ? fail('pg_cron is available but not enabled: nothing calls reconcile',
        'create extension pg_cron; select profile_sync.schedule_reconcile();')
      : fail('pg_cron is not available on this database: nothing calls reconcile',
        'call POST /functions/v1/reconcile from another scheduler, or run `profile-sync reconcile` regularly');
  }
  const [job] = await sql`select jobid, schedule, active from cron.job where jobname = ${CRON_JOB}`;
  if (!job) return fail(`no pg_cron job '${CRON_JOB}'`, 'select profile_sync.schedule_reconcile();');
  if (!job.active) return fail(`job '${CRON_JOB}' is inactive`, `select cron.alter_job(${job.jobid}, active := true);`);
  const [drain] = await sql`select jobid, schedule, active from cron.job where jobname = ${DRAIN_JOB}`;
  if (!drain) {
    return fail(`no pg_cron job '${DRAIN_JOB}': the delivery queue drains on wake-ups only`, 'select profile_sync.schedule_drain();');
  }
  if (!drain.active) return fail(`job '${DRAIN_JOB}' is inactive`, `select cron.alter_job(${drain.jobid}, active := true);`);
  return ok(`'${CRON_JOB}' every '${job.schedule}' (job ${job.jobid}), '${DRAIN_JOB}' every '${drain.schedule}' (job ${drain.jobid})`);
};

const cronRuns: Check = async (sql) => {
  const [{ present }] = await sql`select to_regclass('cron.job_run_details') is not null as present`;
  if (!present) return warn('no pg_cron run history here', 'see the pg_cron job line');
  const runs = await sql`
    select d.status, d.return_message, d.start_time
    from cron.job_run_details d join cron.job j on j.jobid = d.jobid
    where j.jobname = ${CRON_JOB}
    order by d.start_time desc nulls last
    limit 10`;
  if (runs.length === 0) {
    return warn('no runs recorded yet', 'wait for the schedule; if it never runs, check cron.database_name');
  }
  const failed = runs.filter((r) => r.status === 'failed');
  const last = runs[0];
  if (last.status === 'failed') {
    return fail(`last run failed at ${iso(last.start_time)}: ${oneLine(last.return_message)}`,
      'check the Vault secrets and that pg_net is enabled (lines above)');
  }
  return failed.length > 0
    ? warn(`${failed.length} of the last ${runs.length} runs failed (latest ok at ${iso(last.start_time)})`)
    : ok(`last ${runs.length} runs succeeded (latest ${iso(last.start_time)})`);
};

const deliveries: Check = async (sql) => {
  const [{ present }] = await sql`select to_regclass('net._http_response') is not null as present`;
  if (!present) return warn('no pg_net response log (net._http_response)', 'see the pg_net line');
  const [row] = await sql`
    with recent as (
      select id, status_code, error_msg, timed_out, created,
        status_code between 200 and 299 and error_msg is null and not coalesce(timed_out, false) as delivered
      from net._http_response
      -- pg_net keeps responses for pg_net.ttl, 6 hours by default: older ones are gone anyway
      where created > now() - interval '6 hours'
    )
    select count(*)::int as total, count(*) filter (where not delivered)::int as failed,
      (select concat_ws(' ', r.status_code, r.error_msg, case when r.timed_out then 'timed out' end)
       from recent r where not r.delivered order by r.created desc, r.id desc limit 1) as latest
    from recent`;
  if (row.failed === 0) return ok(`${count(row.total)} in the last 6 h, none failed`);
  return warn(`${count(row.failed)} of ${count(row.total)} pg_net requests in the last 6 h failed (latest: ${oneLine(row.latest)})`,
    'check the URLs and keys in Vault and the function logs; pg_net does not retry, reconcile repairs what was lost');
};

/** Oldest due row older than this (seconds): the drain is not keeping up, or nothing drains. */
export const QUEUE_AGE_WARN_S = 60;

const deliveryQueue: Check = async (sql) => {
  const d = await deliveryStatus(sql);
  if (!d) return fail('no delivery queue (profile_sync.deliveries)', 'apply the profile-sync migrations: `supabase db push`');
  const summary = `${count(d.queued)} queued, ${count(d.retrying)} retrying, ${count(d.dead)} dead`;
  if (d.dead > 0) {
    return warn(`${summary}: ${count(d.dead)} deliveries gave up after every attempt`,
      'see `profile-sync deliveries --dead` for their errors; fix the cause, then `profile-sync replay --dead`');
  }
  if (d.oldest_due_age_s > QUEUE_AGE_WARN_S) {
    return warn(`${summary}; the oldest due delivery has waited ${count(d.oldest_due_age_s)} s`,
      'check that auth-webhook is deployed and answers (`profile-sync deliveries` lists what waits) and that the pg_cron job profile-sync-drain runs');
  }
  return ok(summary);
};

const syncFailures: Check = async (sql) => {
  const rows = await sql<{ error_code: string; constraint_name: string | null; n: number }[]>`
    select error_code, constraint_name, count(*)::int as n from profile_sync.failures
    group by 1, 2 order by 3 desc, 1, 2 limit 3`;
  if (rows.length === 0) return ok('none');
  const [{ n: all, target }] = await sql`
    select count(*)::int as n, (select target_table from profile_sync.settings) as target from profile_sync.failures`;
  const table = target ?? 'the profile table';
  const causes = rows.map((r) => `${r.constraint_name ? `constraint ${r.constraint_name}` : 'SQLSTATE'} ${r.error_code} ×${count(r.n)}`);
  return fail(`${count(all)} users cannot be synced (${causes.join(', ')})`,
    `see select * from profile_sync.failures; fix the cause (a constraint or trigger on ${table}, or the mapping), then \`profile-sync reconcile\``);
};

const drift: Check = async (sql, env) => {
  const s = await (env.status ? env.status() : reconcileStatus(sql));
  const total = s.missing + s.stale + s.orphaned;
  return total === 0
    ? ok(`in sync: ${count(s.auth_users)} users, ${count(s.profiles)} profiles`)
    : warn(`${count(s.missing)} missing, ${count(s.stale)} stale, ${count(s.orphaned)} orphaned of ${count(s.auth_users)} users (${s.synced_percent.toFixed(2)} % synced)`,
      'run `profile-sync reconcile` (the schedule repairs it too)');
};

const lastRun: Check = async (sql) => {
  // a run marked running whose session no longer holds the lock is dead
  const [row] = await sql`
    select to_jsonb(r) || jsonb_build_object('status', case
      when r.status = 'running' and profile_sync.reconcile_lock_holder() is null then 'abandoned'
      else r.status end) as run
    from profile_sync.runs r where not r.dry_run order by r.id desc limit 1`;
  if (!row) return warn('reconcile has never run', 'run `profile-sync reconcile`, and check the schedule lines above');
  const run = toRunSummary(row.run);
  if (run.status === 'failed' || run.status === 'abandoned') {
    return warn(`${describeRun(run)}${run.error ? `: ${oneLine(run.error)}` : ''}`, 'the next run resumes from its cursor');
  }
  const ageMinutes = (Date.now() - new Date(run.started_at).getTime()) / 60_000;
  return ageMinutes > 30
    ? warn(`${describeRun(run)}; none since (${Math.round(ageMinutes)} minutes)`,
      'is the schedule calling the function? (see the cron and pg_net lines)')
    : ok(describeRun(run));
};

type Settings = {
  mapping: {
    columns: Record<string, { from?: string; owner: string }>;
    soft_delete: { at?: string; flag?: string } | null;
    user_editable: string[];
  };
  target_table: string;
  target_key: string;
  default_role: string;
  self_assignable_roles: string[];
  replaced_triggers: string[];
};

async function settings(sql: Sql): Promise<Settings | undefined> {
  const [row] = await sql<Settings[]>`
    select mapping, target_table, target_key, default_role, self_assignable_roles, replaced_triggers
    from profile_sync.settings`;
  return row;
}

const mapping: Check = async (sql) => {
  const s = await settings(sql);
  if (!s) {
    return fail('no mapping is applied: nothing says which table to keep',
      'write supabase/profile-sync.json (`npx profile-sync init`), then `supabase db push`');
  }
  const [{ present }] = await sql`select to_regclass(${s.target_table}) is not null as present`;
  if (!present) {
    return fail(`the mapped table ${s.target_table} does not exist`,
      'restore it, or apply a mapping for the table you use (`npx profile-sync generate`, `supabase db push`)');
  }
  // a mapped column renamed or dropped since the mapping was applied: every sync fails on it
  const fields = [
    ...Object.keys(s.mapping.columns).map((c) => [c, `columns.${c}`]),
    [s.target_key, 'key'],
    ...(s.mapping.soft_delete ? Object.entries(s.mapping.soft_delete).filter(([k]) => k !== 'active').map(([k, c]) => [String(c), `soft_delete.${k}`]) : []),
    ...s.mapping.user_editable.map((c, i) => [c, `user_editable[${i}]`]),
  ];
  const [{ names }] = await sql<{ names: string[] }[]>`
    select coalesce(array_agg(a.attname::text), '{}') as names from pg_attribute a
    where a.attrelid = ${s.target_table}::regclass and a.attnum > 0 and not a.attisdropped`;
  const gone = fields.filter(([c]) => !names.includes(c));
  if (gone.length > 0) {
    return fail(`${s.target_table} has no column ${gone.map(([c, f]) => `${c} (mapping field ${f})`).join(', ')}: renamed or dropped ` +
      'since the mapping was applied, so syncs of that table fail',
      `fix ${gone.map(([, f]) => f).join(', ')} in ${MAPPING_FILE}, then \`npx profile-sync generate --db-url "$SUPABASE_DB_URL"\` and \`supabase db push\``);
  }
  const byOwner = (owner: string) =>
    Object.entries(s.mapping.columns).filter(([, c]) => c.owner === owner).map(([name]) => name).sort();
  const parts = [
    `${s.target_table} keyed by ${s.target_key}`,
    `auth: ${byOwner('auth').join(', ') || '-'}`,
    `app: ${byOwner('app').join(', ') || '-'}`,
    ...(byOwner('insert').length ? [`insert: ${byOwner('insert').join(', ')}`] : []),
    `soft delete: ${s.mapping.soft_delete ? Object.values(s.mapping.soft_delete).join('/') : 'none'}`,
    `roles: default ${s.default_role}, self-assignable ${s.self_assignable_roles.join(', ') || 'none'}`,
    ...(s.replaced_triggers.length ? [`replaced ${s.replaced_triggers.join(', ')}`] : []),
  ];
  // a pasted trigger whose function was neutralised (the migration could not drop it) still fires
  const neutralised = await sql<{ name: string }[]>`
    select t.tgname as name from pg_trigger t join pg_proc p on p.oid = t.tgfoid
    where t.tgrelid = 'auth.users'::regclass and not t.tgisinternal
      and obj_description(p.oid, 'pg_proc') like 'Neutralised by profile-sync%'
    order by 1`;
  if (neutralised.length > 0) {
    return warn(`${parts.join('; ')}; still attached to auth.users, doing nothing: ${neutralised.map((t) => t.name).join(', ')}`,
      neutralised.map((t) => `drop trigger ${t.name} on auth.users;`).join(' ') +
        ' — only the owner of auth.users (supabase_auth_admin) or a superuser may run it: on hosted Supabase ' +
        '`postgres` gets "must be owner of relation users", so ask Supabase support, or leave it (it does nothing)');
  }
  return ok(parts.join('; '));
};

/**
 * What users may write on the mapped table: a grant (and the policies that would let it through)
 * allowing authenticated or anon to insert, delete, or update the role, the key or an auth-owned
 * column is a failure that names it.
 */
const access: Check = async (sql) => {
  const s = await settings(sql);
  if (!s) return warn('no mapping applied (see the mapping line)');
  const { columns, soft_delete, user_editable } = s.mapping;
  const guarded = [
    s.target_key,
    ...Object.entries(columns).filter(([name, c]) => c.from === 'role' || c.owner !== 'app' || !user_editable.includes(name))
      .map(([name]) => name),
    ...(soft_delete ? Object.entries(soft_delete).filter(([k]) => k !== 'active').map(([, v]) => String(v)) : []),
  ];
  const writes = await sql<{ role: string; what: string }[]>`
    select r.role, w.what
    from unnest(array['anon', 'authenticated']) as r (role)
    cross join lateral (
      select 'insert' as what where has_table_privilege(r.role, ${s.target_table}::regclass, 'insert')
      union all select 'delete' where has_table_privilege(r.role, ${s.target_table}::regclass, 'delete')
      union all select 'update (' || c || ')' from unnest(${guarded}::text[]) as c
        where has_column_privilege(r.role, ${s.target_table}::regclass, c, 'update')
    ) w
    order by 1, 2`;
  const [{ rls }] = await sql`select relrowsecurity as rls from pg_class where oid = ${s.target_table}::regclass`;
  if (writes.length > 0) {
    const [schema, table] = s.target_table.split('.');
    const policies = await sql<{ policyname: string }[]>`
      select policyname from pg_policies
      where schemaname = ${schema.replaceAll('"', '')} and tablename = ${table.replaceAll('"', '')}
        and cmd in ('INSERT', 'UPDATE', 'DELETE', 'ALL')
        and (roles && array['public', 'anon', 'authenticated']::name[])`;
    const lets = writes.map((w) => `${w.role} may ${w.what}`).join(', ');
    const through = policies.length ? ` (policies that let it through: ${policies.map((p) => `"${p.policyname}"`).join(', ')})` : '';
    return fail(`users can write what profile-sync owns on ${s.target_table}: ${lets}${through}`,
      writes.map((w) => `revoke ${w.what} on ${s.target_table} from ${w.role};`).join(' '));
  }
  return rls
    ? ok(`authenticated may update only ${user_editable.join(', ') || 'nothing'}; no insert or delete`)
    : warn(`row level security is off on ${s.target_table}: every signed-in user can read every row`,
      `alter table ${s.target_table} enable row level security; (and add the policies the app needs)`);
};

/** How long `doctor --send-test` waits for the test delivery's answer. */
const SEND_TEST_WAIT_MS = 20_000;

/**
 * `doctor --send-test`: one signed delivery through pg_net to the auth-webhook URL in Vault,
 * signed with the Vault secret, exactly as the trigger sends them. Its payload is a DELETE of a
 * user that never existed, which auth-webhook answers (200, outcome "deleted") without writing a
 * profile. Healthy only when that answer comes back; without the flag, not proven.
 */
const testDelivery: Check = async (sql, env) => {
  if (!env.sendTest) {
    return warn('not sent: nothing proves yet that a signed delivery reaches auth-webhook and is accepted',
      'run `npx profile-sync doctor --send-test` (one signed test delivery through pg_net; it writes no profile)');
  }
  const probe = crypto.randomUUID();
  const [{ request }] = await sql<{ request: string | null }[]>`
    with v as (
      select
        (select decrypted_secret from vault.decrypted_secrets where name = 'profile_sync_webhook_url' limit 1) as url,
        (select decrypted_secret from vault.decrypted_secrets where name = 'profile_sync_webhook_secret' limit 1) as secret,
        ${`msg_profile_sync_probe_${probe}`}::text as msg_id,
        extract(epoch from now())::bigint as ts,
        jsonb_build_object('type', 'DELETE', 'table', 'users', 'schema', 'auth', 'record', null,
          'old_record', jsonb_build_object('id', ${probe}::text)) as payload
    )
    select case when v.url is not null and v.secret is not null then net.http_post(
      url := v.url,
      body := v.payload,
      headers := jsonb_build_object('content-type', 'application/json', 'webhook-id', v.msg_id,
        'webhook-timestamp', v.ts::text,
        'webhook-signature', profile_sync.standard_webhook_signature(v.msg_id, v.ts, v.payload::text, v.secret)),
      timeout_milliseconds := 10000)::text end as request
    from v`;
  if (request === null) {
    return fail('cannot send a test delivery: the Vault secrets profile_sync_webhook_url and profile_sync_webhook_secret are not both set',
      'see the vault secrets line');
  }
  const deadline = Date.now() + SEND_TEST_WAIT_MS;
  for (;;) {
    const [res] = await sql<{ status_code: number | null; content: string | null; error_msg: string | null; timed_out: boolean | null }[]>`
      select status_code, content, error_msg, timed_out from net._http_response where id = ${request}::bigint`;
    if (res) {
      if (res.status_code === 200) return ok('a signed test delivery went through pg_net to auth-webhook and was accepted (200)');
      const why = res.status_code === 401
        ? 'the function refused its signature: PROFILE_SYNC_WEBHOOK_SECRET (`supabase secrets set`) and the Vault secret profile_sync_webhook_secret differ'
        : res.status_code === 404
        ? 'no function at that URL: `supabase functions deploy auth-webhook`, and check profile_sync_webhook_url'
        : 'check profile_sync_webhook_url, the function\'s logs, and that it is deployed';
      return fail(`the test delivery was not accepted: ${res.status_code ?? ''} ${oneLine(res.error_msg ?? res.content ?? '')}${res.timed_out ? ' (timed out)' : ''}`.replace(/\s+/g, ' '),
        why);
    }
    if (Date.now() > deadline) {
      return fail(`no answer to the test delivery within ${SEND_TEST_WAIT_MS / 1000} s: pg_net did not send it, or nothing answered`,
        'check that pg_net is enabled and its worker runs (`select * from net._http_response order by id desc limit 5`), and the URL in Vault');
    }
    await new Promise((r) => setTimeout(r, 250));
  }
};

const CHECKS: Record<string, Check> = {
  migrations,
  mapping,
  access,
  trigger,
  pg_net: pgNet,
  vault,
  'vault secrets': vaultSecrets,
  'pg_cron job': cronJob,
  'cron runs': cronRuns,
  'pg_net deliveries': deliveries,
  'delivery queue': deliveryQueue,
  'test delivery': testDelivery,
  'sync failures': syncFailures,
  drift,
  'last reconcile': lastRun,
};

/**
 * Runs every check; one that cannot run is a failure that says why, and the others go on. A
 * database that cannot be reached at all is an error (AppError database_unavailable), not a report.
 */
export async function doctor(sql: Sql, env: Partial<DoctorEnv> = {}): Promise<DoctorReport> {
  const full: DoctorEnv = { ...env, migrationsDir: env.migrationsDir ?? DEFAULT_MIGRATIONS_DIR };
  await withDb(() => sql`select 1`);
  const checks: CheckResult[] = [];
  for (const [check, run] of Object.entries(CHECKS)) {
    try {
      checks.push({ check, ...(await run(sql, full)) });
    } catch (err) {
      if (isDbUnavailable(err) || (isAppError(err) && err.code === 'database_unavailable')) throw err;
      const undefinedObject = ['42883', '42P01', '3F000'].includes(String((err as { code?: unknown }).code));
      checks.push({
        check,
        ...fail(`could not check: ${oneLine((err as Error).message)}`,
          undefinedObject ? 'apply the migrations (`supabase db push`)' : undefined),
      });
    }
  }
  return { ok: checks.every((c) => c.status !== 'fail'), checks };
}

export function doctorText(report: DoctorReport): string {
  const rows = report.checks.flatMap((c) => [
    [c.status, c.check, c.message],
    ...(c.fix && c.status !== 'ok' ? [['', '', `→ ${c.fix}`]] : []),
  ]);
  return table(rows);
}

const iso = (d: Date | string | null) => (d ? new Date(d).toISOString() : 'unknown time');
const oneLine = (s: string | null | undefined) => (s ?? '').replace(/\s+/g, ' ').trim().slice(0, 200);
