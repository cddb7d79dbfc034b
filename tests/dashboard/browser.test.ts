/**
 * The dashboard in a real browser: `profile-sync dashboard` (the CLI as a user starts it) against
 * a seeded database with drift, failures and 40 days of runs; headless Chromium (as
 * tests/sync-profile/browser.test.ts launches it) opens the printed URL. Every panel's numbers are
 * checked against SQL and the CLI's own JSON; a dry run runs from the page and writes nothing; a
 * browser without the cookie, and a foreign Host, get 403. Screenshots go to .local/screenshots/.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { chromium } from 'playwright-core';
import type { BrowserContext, Page } from 'playwright-core';
import { chromiumPath, CHROMIUM_ARGS } from '../helpers/chromium.ts';
import { freshDatabase } from '../helpers/db.ts';
import { syncTables } from '../helpers/profiles.ts';
import { runCli } from '../cli/run.ts';
import { REFUSED, seedDashboard } from './seed.ts';

const ROOT = new URL('../../', import.meta.url);
const SHOTS = new URL('.local/screenshots/', ROOT);
const PANELS = ['now', 'drift', 'deliveries', 'failures', 'mapping', 'doctor', 'runs'];

/** Starts the CLI's dashboard on a free port; resolves with the URL it printed. */
async function startCli(dbUrl: string) {
  const child = new Deno.Command('node', {
    args: [new URL('cli/bin.mjs', ROOT).pathname, 'dashboard', '--port', '0', '--db-url', dbUrl],
    env: { SUPABASE_DB_URL: '' },
    stdout: 'piped',
    stderr: 'piped',
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let printed = '';
  const deadline = Date.now() + 30_000;
  while (!/\?token=\S+\n/.test(printed)) {
    const { value, done } = await reader.read();
    if (done || Date.now() > deadline) throw new Error(`the dashboard printed no URL: ${printed}`);
    printed += value;
  }
  // keep draining stdout so the server never blocks on it; it ends when the process does
  const drained = (async () => {
    while (!(await reader.read()).done) { /* nothing more is expected */ }
  })();
  const url = /(http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)/.exec(printed)![1];
  return {
    url,
    printed,
    async stop() {
      child.kill('SIGTERM');
      const status = await child.status;
      await drained;
      const stderr = await new Response(child.stderr).text();
      return { code: status.code, stderr };
    },
  };
}

/** GET with a Host header of our choosing (fetch keeps the real one). */
function getWithHost(url: string, host: string, cookie?: string): Promise<number> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    request({ host: u.hostname, port: u.port, path: u.pathname + u.search, headers: { host, ...(cookie ? { cookie } : {}) } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', reject).end();
  });
}

const text = (page: Page, sel: string) => page.locator(sel).innerText();
/** An attribute of every element the selector finds, in page order. */
const attrs = (page: Page, sel: string, name: string) =>
  page.locator(sel).evaluateAll((els, n) => els.map((e) => e.getAttribute(n) ?? ''), name);

Deno.test('dashboard in a browser: every panel against SQL, a dry run from the page, 403 without the token', async (t) => {
  const executablePath = await chromiumPath();
  const db = await freshDatabase('dashboard_browser');
  const userDataDir = await Deno.makeTempDir({ prefix: 'sp-dashboard-' });
  await Deno.mkdir(SHOTS, { recursive: true });
  let browser: BrowserContext | undefined;
  let cli: Awaited<ReturnType<typeof startCli>> | undefined;
  try {
    await seedDashboard(db);
    const env = { SUPABASE_DB_URL: db.url };
    cli = await startCli(db.url);
    const origin = new URL(cli.url).origin;
    assert.doesNotMatch(cli.printed, /postgres(ql)?:\/\//, 'the database URL is not printed');

    browser = await chromium.launchPersistentContext(userDataDir, {
      executablePath, headless: true, args: CHROMIUM_ARGS, viewport: { width: 1400, height: 1000 }, locale: 'en-US',
    });
    const page = browser.pages()[0] ?? await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(err.message));
    page.on('console', (msg) => msg.type() === 'error' && problems.push(msg.text()));

    await t.step('the printed URL opens the page; the token leaves the address bar for a cookie', async () => {
      const started = performance.now();
      await page.goto(cli!.url);
      assert.equal(page.url(), `${origin}/`);
      for (const id of PANELS) await page.locator(`#${id}[data-state="ready"]`).waitFor({ timeout: 30_000 });
      console.log(`all panels filled in ${Math.round(performance.now() - started)} ms`);
      const [cookie] = await browser!.cookies(origin);
      assert.deepEqual([cookie.httpOnly, cookie.sameSite], [true, 'Strict']);
    });

    await t.step('now: the numbers of `status --json`', async () => {
      const { json } = await runCli(env, 'status', '--json');
      assert.ok(Number(json.missing) > 0 && Number(json.failures) > 0, 'the seed has drift and failures');
      for (const key of ['auth_users', 'profiles', 'missing', 'stale', 'orphaned', 'synced_percent', 'failures']) {
        const dd = page.locator(`#now dd[data-key="${key}"]`);
        assert.equal(await dd.getAttribute('data-value'), String(json[key]), key);
        assert.equal((await dd.innerText()).replace(/\s|%/g, ''), String(json[key]), key);
      }
      assert.match(await text(page, '#last-run'), new RegExp(`^#${(json.last_run as { id: number }).id} complete`));
    });

    await t.step('drift over 30 days: one point per real run in the window', async () => {
      const [{ n }] = await db.sql`
        select count(*)::int as n from profile_sync.runs where not dry_run and started_at >= now() - interval '30 days'`;
      const [{ all }] = await db.sql`select count(*)::int as all from profile_sync.runs`;
      assert.ok(n > 0 && n < all, 'some runs are older than the window');
      assert.equal(await page.locator('#drift').getAttribute('data-runs'), String(n));
      // the series the charts drew, against the runs table
      const series = await page.evaluate(() => fetch('/api/history').then((r) => r.json()));
      const [sums] = await db.sql`
        select sum(missing)::int as missing, sum(created)::int as created, sum(failed)::int as failed,
          min(extract(epoch from started_at))::bigint as first
        from profile_sync.runs where not dry_run and started_at >= now() - interval '30 days'`;
      const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
      assert.deepEqual(
        [sum(series.runs.missing), sum(series.runs.created), sum(series.runs.failed), Math.floor(series.runs.t[0])],
        [sums.missing, sums.created, sums.failed, Number(sums.first)],
      );
      assert.equal(await page.locator('#drift-chart canvas, #duration-chart canvas').count(), 2);
    });

    await t.step('failures by constraint, with their users', async () => {
      const groups = await db.sql`
        select constraint_name, count(*)::int as n, array_agg(user_id::text) as ids
        from profile_sync.failures group by 1 order by 2 desc`;
      assert.deepEqual(groups.map((g) => [g.constraint_name, g.n]), Object.entries(REFUSED));
      const rows = page.locator('#failures tbody tr');
      assert.equal(await rows.count(), groups.length);
      for (const g of groups) {
        const row = page.locator(`#failures tr[data-constraint="${g.constraint_name}"]`);
        assert.equal((await row.locator('td').nth(2).innerText()).replace(/\s/g, ''), String(g.n));
        const shown = await attrs(page, `#failures tr[data-constraint="${g.constraint_name}"] [data-user-id]`, 'data-user-id');
        assert.equal(shown.length, Math.min(5, g.n));
        for (const id of shown) assert.ok(g.ids.includes(id), `${id} fails under ${g.constraint_name}`);
      }
    });

    await t.step('runs: the latest 50 real runs, newest first', async () => {
      const ids = await db.sql`select id from profile_sync.runs where not dry_run order by id desc limit 50`;
      const shown = (await attrs(page, '#runs tbody tr', 'data-run')).map(Number);
      assert.deepEqual(shown, ids.map((r) => Number(r.id)));
    });

    await t.step('the mapping in force and doctor\'s findings', async () => {
      const [settings] = await db.sql`select mapping, target_table from profile_sync.settings`;
      const columns = await attrs(page, '#mapping tbody tr', 'data-column');
      assert.deepEqual(columns, Object.keys(settings.mapping.columns).sort());
      assert.match(await text(page, '#mapping-summary'), new RegExp(`^${settings.target_table.replace('.', '\\.')} keyed by id`));
      const { json: report } = await runCli(env, 'doctor', '--json');
      const names = await attrs(page, '#doctor-checks li', 'data-check');
      const statuses = await attrs(page, '#doctor-checks li', 'data-status');
      assert.deepEqual(names.map((n, i) => [n, statuses[i]]), (report.checks as { check: string; status: string }[]).map((c) => [c.check, c.status]));
    });

    await t.step('deliveries: durable delivery is not in this database, and the page says so', async () => {
      const [{ installed }] = await db.sql`select to_regclass('profile_sync.deliveries') is not null as installed`;
      assert.equal(await page.locator('#deliveries').getAttribute('data-installed'), String(installed));
      if (!installed) {
        assert.equal(await text(page, '#deliveries .absent'), 'durable delivery not installed');
        assert.equal(await page.locator('[data-action="replay"]').isVisible(), false);
      }
    });

    await t.step('personal data: user ids only', async () => {
      const body = await page.locator('body').innerText();
      assert.doesNotMatch(body, /@example\.com|refused-\d|rejected-\d/);
    });

    await t.step('screenshot', async () => {
      await page.screenshot({ path: new URL('dashboard.png', SHOTS).pathname, fullPage: true });
    });

    await t.step('a dry run from the page: its report, nothing written', async () => {
      const before = await syncTables(db.sql);
      const [{ runs: runsBefore }] = await db.sql`select count(*)::int as runs from profile_sync.runs`;
      const { json: expected } = await runCli(env, 'reconcile', '--dry-run', '--json');
      await page.click('[data-action="dry-run"]');
      assert.match(await text(page, '#confirm-title'), /Dry run\?/);
      await page.click('#confirm-yes');
      await page.waitForSelector('#action[data-state="done"], #action[data-state="failed"]', { timeout: 60_000 });
      assert.match(await text(page, '#action-status'), /^done in \d+ ms$/);
      for (const key of ['missing', 'stale', 'orphaned']) {
        const cell = page.locator(`#dry-run-report tr[data-key="${key}"] td`);
        assert.equal((await cell.innerText()).replace(/\s/g, ''), String(expected[key]), key);
      }
      const changed = Object.entries(expected.changes as Record<string, { rows: number }>).filter(([, c]) => c.rows > 0);
      assert.ok(changed.length > 0, 'the stale users change some column');
      for (const [column, c] of changed) {
        const cell = page.locator(`#dry-run-report tr[data-column="${column}"] td`).nth(1);
        assert.equal((await cell.innerText()).replace(/\s/g, ''), String(c.rows), column);
      }
      assert.doesNotMatch(await text(page, '#action'), /@example\.com|renamed-/, 'ids, not values');
      await page.screenshot({ path: new URL('dashboard-dry-run.png', SHOTS).pathname, fullPage: true });
      assert.deepEqual(await syncTables(db.sql), before);
      const [{ runs: runsAfter }] = await db.sql`select count(*)::int as runs from profile_sync.runs`;
      assert.equal(runsAfter, runsBefore);
    });

    await t.step('one user\'s row, when asked for', async () => {
      const id = await page.locator('#failures [data-user-id]').first().getAttribute('data-user-id');
      await page.click(`#failures [data-user-id="${id}"]`);
      await page.locator('#row-body', { hasText: /^\{/ }).waitFor();
      const shown = JSON.parse(await text(page, '#row-body'));
      const [failure] = await db.sql`select constraint_name from profile_sync.failures where user_id = ${id}`;
      assert.deepEqual([shown.profile, shown.failure.constraint_name], [null, failure.constraint_name]);
      await page.click('#row-close');
    });

    await t.step('reconcile now from the page: the run repairs the drift, and the page shows it', async () => {
      await page.click('[data-action="reconcile"]');
      await page.click('#confirm-yes');
      await page.waitForSelector('#action[data-state="done"], #action[data-state="failed"]', { timeout: 60_000 });
      assert.match(await text(page, '#action-status'), /^done in \d+ ms$/);
      const [last] = await db.sql`select id, created, failed from profile_sync.runs order by id desc limit 1`;
      assert.match(await text(page, '#action-result'), new RegExp(`#${last.id} complete`));
      await page.locator(`#runs tr[data-run="${last.id}"]`).waitFor();
      const { json } = await runCli(env, 'status', '--json');
      // what is left missing is the users the table refuses
      assert.deepEqual([json.missing, json.stale, json.orphaned, json.failures], [10, 0, 0, 10]);
      // the page measured the state again once the run ended
      await page.locator('#now[data-state="ready"]').waitFor();
      assert.match(await text(page, '#measured'), /^measured at \d\d:\d\d:\d\d UTC in \d+ ms$/);
      for (const key of ['missing', 'stale', 'orphaned', 'failures', 'profiles']) {
        assert.equal(await page.locator(`#now dd[data-key="${key}"]`).getAttribute('data-value'), String(json[key]), key);
      }
    });

    await t.step('without the token: 403 in a browser without the cookie, and with a foreign Host', async () => {
      const stranger = await browser!.browser()?.newContext() ?? undefined;
      const other = stranger ? await stranger.newPage() : await browser!.newPage();
      if (!stranger) await browser!.clearCookies();
      const res = await other.goto(`${origin}/`);
      assert.equal(res?.status(), 403);
      const api = await other.goto(`${origin}/api/state`);
      assert.equal(api?.status(), 403);
      await other.close();
      const port = new URL(origin).port;
      assert.equal(await getWithHost(cli!.url, `rebound.example:${port}`), 403);
      assert.equal(await getWithHost(`${origin}/api/state`, `rebound.example:${port}`), 403);
      assert.equal(await getWithHost(cli!.url, `127.0.0.1:${port}`), 303, 'the control: the right Host passes');
    });

    assert.deepEqual(problems, []);
  } finally {
    await browser?.close();
    const stopped = await cli?.stop();
    if (stopped && stopped.stderr.trim()) console.error(stopped.stderr);
    await db.drop();
    await Deno.remove(userDataDir, { recursive: true });
  }
});
