// Scenario: the dashboard on the bench database (all its users) with a year of reconcile runs
// every 10 minutes and 10,000 recorded failures: first paint and every panel filled in headless
// Chromium; each panel's request (its queries plus JSON) served from a warm server, median of 5;
// each page query's execution time (EXPLAIN ANALYZE, median of 5); and, apart, the state now
// measured as `status --json` measures it (a pass over every auth user, after the quick panels).
import { spawn } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import packagedChromium from '@sparticuz/chromium';
import { chromium } from 'playwright-core';
import { runDeno } from '../lib/deno.mjs';
import { below, done, figure } from '../lib/figures.mjs';
import { median } from '../lib/load.mjs';
import { ROOT } from '../../local/postgres.mjs';

const PANELS = ['now', 'drift', 'deliveries', 'failures', 'mapping', 'doctor', 'runs'];
// every panel's request but the state now's measurement (/api/status) and doctor (which shares it)
const ENDPOINTS = ['/api/state', '/api/history', '/api/runs', '/api/failures', '/api/deliveries'];

/** The page's queries at this scale: {name: {ms, cost}} (bench/dashboard-queries.ts). */
async function pageQueries(dbUrl) {
  const out = await runDeno(['run', '-A', '--no-prompt', join(ROOT, 'bench', 'dashboard-queries.ts')], {
    input: JSON.stringify({ dbUrl, rounds: 5 }),
  });
  return JSON.parse(out);
}

const list = (entries) => entries.map(([k, ms]) => `${k} ${ms.toFixed(1)}`).join(', ');

async function seedHistory(sql) {
  await sql`
    insert into profile_sync.runs (started_at, finished_at, heartbeat_at, status, missing, created)
    select t, t + interval '2 seconds', t + interval '2 seconds', 'complete', n % 7, n % 7
    from generate_series(1, 365 * 144) as n, lateral (select now() - make_interval(mins => 10 * n)) s (t)`;
  await sql`
    insert into profile_sync.failures (user_id, source, error_code, constraint_name, first_seen, last_seen)
    select gen_random_uuid(), 'reconcile', '23514', 'profiles_check_' || n % 4, now() - make_interval(mins => n), now()
    from generate_series(1, 10000) as n`;
  await sql`vacuum analyze profile_sync.runs`;
  await sql`vacuum analyze profile_sync.failures`;
}

/** `profile-sync dashboard` as a user starts it; resolves with its URL. */
function startDashboard(dbUrl) {
  const child = spawn(process.execPath, [join(ROOT, 'cli', 'bin.mjs'), 'dashboard', '--port', '0', '--db-url', dbUrl],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let printed = '';
    child.stdout.on('data', (chunk) => {
      printed += chunk;
      const m = /(http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)\n/.exec(printed);
      if (m) resolve({ url: m[1], stop: () => new Promise((r) => (child.once('close', r), child.kill('SIGTERM'))) });
    });
    child.once('close', (code) => reject(new Error(`the dashboard exited (${code}): ${printed}`)));
  });
}

export async function dashboard(ctx) {
  await seedHistory(ctx.sql);
  const server = await startDashboard(ctx.dbUrl);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? await packagedChromium.executablePath(),
    args: ['--no-sandbox', '--no-zygote', '--disable-gpu'],
  });
  try {
    const opened = await fetch(server.url, { redirect: 'manual' });
    const cookie = (opened.headers.get('set-cookie') ?? '').split(';')[0];
    const origin = new URL(server.url).origin;
    const get = async (path) => {
      const t = performance.now();
      const res = await fetch(`${origin}${path}`, { headers: { cookie } });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`${path}: ${res.status}`);
      return performance.now() - t;
    };
    // the measurement the server started as it started: waited for, so it loads none of the figures below
    await get('/api/status');
    const measured = [];
    for (let i = 0; i < 3; i++) measured.push(await get('/api/status'));
    const served = {};
    for (const path of ENDPOINTS) {
      const samples = [];
      for (let i = 0; i < 6; i++) {
        const ms = await get(path);
        if (i > 0) samples.push(ms); // the first warms the pool
      }
      served[path] = median(samples);
    }
    const [slowest, slowestMs] = Object.entries(served).sort(([, a], [, b]) => b - a)[0];
    // requests are served by a process sharing the CPUs with everything else on the machine
    const load = `load average ${loadavg()[0].toFixed(1)} on ${availableParallelism()} CPUs`;
    const queries = Object.entries(await pageQueries(ctx.dbUrl)).map(([name, q]) => [name, q.ms]);
    const [slowestQuery, slowestQueryMs] = queries.sort(([, a], [, b]) => b - a)[0];

    const page = await browser.newPage({ locale: 'en-US', viewport: { width: 1400, height: 1000 } });
    // each request's start and end (ms from navigation), for the details
    const requests = [];
    page.on('requestfinished', (req) => {
      const t = req.timing();
      requests.push({ path: new URL(req.url()).pathname, start: t.startTime, end: t.startTime + t.responseEnd });
    });
    const navigated = Date.now();
    const started = performance.now();
    await page.goto(server.url);
    const filled = {};
    await Promise.all(PANELS.map((id) =>
      page.locator(`#${id}[data-state="ready"]`).waitFor({ timeout: 60_000 }).then(() => (filled[id] = performance.now() - started))));
    const allPanels = performance.now() - started;
    // paint entries are buffered: read once the page is complete (from navigation start)
    const paint = await page.evaluate(() => performance.getEntriesByName('first-contentful-paint')[0]?.startTime);
    if (typeof paint !== 'number') throw new Error('the browser reported no first contentful paint');
    const others = Object.entries(filled).filter(([id]) => id !== 'now' && id !== 'doctor');
    const [, othersMs] = others.sort(([, a], [, b]) => b - a)[0];

    return done([
      figure('dashboard.first_paint', 'Dashboard first paint (Chromium, from the token URL)', paint, 'ms', {
        target: below(1000, '< 1 s'),
      }),
      figure('dashboard.panels_but_now', 'Dashboard: every panel but the state now and doctor filled', othersMs, 'ms', {
        note: list(others),
      }),
      figure('dashboard.panels', 'Dashboard: every panel filled (the state now measured, doctor included)', allPanels, 'ms', {
        note: `now ${filled.now.toFixed(0)} ms, doctor ${filled.doctor.toFixed(0)} ms`,
      }),
      figure('dashboard.slowest_query', 'Dashboard: slowest page query (EXPLAIN ANALYZE, median of 5)', slowestQueryMs, 'ms', {
        target: below(50, '< 50 ms'),
        note: `${slowestQuery}; all: ${list(queries)} ms (a year of runs every 10 min, 10,000 failures)`,
      }),
      figure('dashboard.slowest_panel', 'Dashboard: slowest panel request, warm', slowestMs, 'ms', {
        target: below(50, '< 50 ms'),
        note: `${slowest}; all: ${list(Object.entries(served))} ms; ${load}`,
      }),
      figure('dashboard.state_now', 'Dashboard: the state now measured (/api/status: status --json\'s own pass)', median(measured), 'ms', {
        note: `${ctx.users.toLocaleString('en-US')} auth users, ${(await ctx.sql`select count(*)::int as n from public.profiles`)[0].n.toLocaleString('en-US')} profiles; ` +
          'measured after the quick panels, off their path; median of 3',
      }),
    ], {
      servedMs: served, queriesMs: Object.fromEntries(queries), filledMs: filled, stateNowMs: measured,
      requestsMs: requests.map((r) => ({ path: r.path, start: Math.round(r.start - navigated), end: Math.round(r.end - navigated) })),
    });
  } finally {
    await browser.close();
    await server.stop();
  }
}
