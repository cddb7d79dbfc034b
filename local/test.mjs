#!/usr/bin/env node
// `npm test`: a real Postgres (embedded 17, or the cluster in TEST_DATABASE_URL), the Supabase
// stand-ins, the migrations applied with the real CLI into a template database, then `deno test`.
// Each test file clones the template, so files never see each other's users. As on hosted
// Supabase, `postgres` is not a superuser: the embedded cluster's superuser is supabase_admin, the
// stand-ins are applied as it, and the migrations as `postgres`, which owns the databases.
import { spawn } from 'node:child_process';
import { rmSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { startPg15 } from './pg15.mjs';
import { freePort } from './tools.mjs';
import { OWNER, ROOT, applyStandIns, asOwner, pushMigrations, standInFiles, startEmbedded, withDatabase } from './postgres.mjs';
import { readFileSync } from 'node:fs';

export const TEMPLATE_DB = 'profile_sync_template';

/**
 * Test files of the default run that must not share the machine with other files (run one at a
 * time after the parallel pass), each with why.
 */
const SERIAL = [];

/**
 * Starts the test cluster and builds the migrated template database: the cluster in
 * TEST_DATABASE_URL, else a throwaway Debian PostgreSQL 15 as Supabase configures it (`pg15`),
 * else an embedded Postgres 17.
 */
export async function prepareTestCluster({ pg15 = false } = {}) {
  let stop = async () => {};
  let adminUrl = process.env.TEST_DATABASE_URL;
  let dataParent;
  if (pg15 && adminUrl) throw new Error('--pg15 starts its own cluster: unset TEST_DATABASE_URL');
  if (pg15) {
    const server = startPg15({ port: await freePort() });
    adminUrl = server.url;
    stop = server.stop;
  } else if (!adminUrl) {
    dataParent = mkdtempSync(join(ROOT, '.local', 'test-pg-').replace('.local/', '.local/'));
    const db = await startEmbedded({ dataDir: join(dataParent, 'data'), port: await freePort(), user: 'supabase_admin' });
    adminUrl = db.url;
    stop = async () => {
      await db.stop();
      rmSync(dataParent, { recursive: true, force: true });
    };
  }
  try {
    await buildTemplate(adminUrl);
  } catch (err) {
    await stop(); // a failed set-up leaves no server or files behind
    throw err;
  }
  return { adminUrl, templateUrl: withDatabase(adminUrl, TEMPLATE_DB), stop };
}

/** The stand-ins' roles, the template database owned by `postgres`, the stand-ins and the migrations in it. */
async function buildTemplate(adminUrl) {
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    const [me] = await admin`select current_user as name, rolsuper as superuser from pg_roles where rolname = current_user`;
    if (!me.superuser || me.name === OWNER.user) {
      throw new Error(`TEST_DATABASE_URL must name a superuser other than \`${OWNER.user}\` (it is \`${me.name}\`` +
        `${me.superuser ? '' : ', not a superuser'}): the tests make \`${OWNER.user}\` a non-superuser owner, as on hosted Supabase`);
    }
    await admin.unsafe(`drop database if exists ${TEMPLATE_DB} with (force)`);
    // the roles first (cluster-wide): the template belongs to the owner role
    await admin.unsafe(readFileSync(standInFiles()[0], 'utf8'));
    const [owner] = await admin`select rolsuper from pg_roles where rolname = ${OWNER.user}`;
    if (owner.rolsuper) {
      throw new Error(`the role \`${OWNER.user}\` is a superuser on the TEST_DATABASE_URL cluster: use a scratch cluster ` +
        `where it is not (as on hosted Supabase), or drop it and let the tests create it`);
    }
    await admin.unsafe(`create database ${TEMPLATE_DB} owner ${OWNER.user}`);
  } finally {
    await admin.end();
  }
  await applyStandIns(withDatabase(adminUrl, TEMPLATE_DB));
  await pushMigrations(asOwner(adminUrl, TEMPLATE_DB));
}

/** The server's version and JIT, e.g. `PostgreSQL 15.18, jit on (llvmjit available)`. */
export async function describeServer(url) {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    const [s] = await sql`select current_setting('server_version') as version, current_setting('jit') as jit,
      current_setting('jit_provider') as provider, pg_catalog.pg_jit_available() as available`;
    return `PostgreSQL ${s.version}, jit ${s.jit} (${s.provider} ${s.available ? 'available' : 'not available'})`;
  } finally {
    await sql.end();
  }
}

function run(cmd, args, env) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: 'inherit', env: { ...process.env, ...env } });
    child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { mkdirSync } = await import('node:fs');
  mkdirSync(join(ROOT, '.local'), { recursive: true });
  const started = Date.now();
  const pg15 = process.argv.includes('--pg15');
  const cluster = await prepareTestCluster({ pg15 });
  console.log(`test database ready in ${Date.now() - started} ms: ${await describeServer(cluster.adminUrl)}`);
  let code = 1;
  try {
    const args = process.argv.slice(2).filter((a) => a !== '--pg15');
    const deno = (targets, env = {}) => run(join(ROOT, 'node_modules', '.bin', 'deno'), ['test', '-A', '--no-prompt', ...targets], {
      TEST_DATABASE_URL: cluster.adminUrl,
      TEST_TEMPLATE_DB: TEMPLATE_DB,
      ...env,
    });
    if (args.length > 0) {
      code = await deno(args);
    } else {
      // By default everything but the stress suite, which `npm run test:stress` runs on its own; with
      // --pg15 also not tests/package/ (it packs and installs the package, whatever the server: once
      // is enough). Files run in parallel (DENO_JOBS workers, default 2): each clones its own database
      // and binds free ports. The files in SERIAL then run one at a time, after the others.
      const ignore = ['tests/stress/', ...(pg15 ? ['tests/package/'] : [])];
      const jobs = process.env.DENO_JOBS ?? '2';
      code = await deno(['--parallel', `--ignore=${[...ignore, ...SERIAL].join(',')}`, 'tests/'], { DENO_JOBS: jobs });
      if (SERIAL.length > 0) code = (await deno(SERIAL)) || code;
    }
  } finally {
    await cluster.stop();
  }
  process.exit(code);
}
