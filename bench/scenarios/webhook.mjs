// Scenario 3: webhook ingest. Signed Database Webhook deliveries (standardwebhooks) for new
// users over HTTP at concurrency 32, against the same core calls over a postgres.js pool of the
// function's size without HTTP; on a server with JIT, the same deliveries' p50 with jit on and off.
import postgres from 'postgres';
import { Webhook } from 'standardwebhooks';
import { seedUsers, setJit, settle } from '../lib/cluster.mjs';
import { atLeast, below, done, figure, notAvailable } from '../lib/figures.mjs';
import { NotAvailable } from '../lib/function-process.mjs';
import { drive } from '../lib/load.mjs';

const CONCURRENCY = 32;

/** The record the auth.users trigger sends (non-secret columns only). */
async function records(sql, ids) {
  return await sql`
    select id, email, phone, raw_user_meta_data, raw_app_meta_data, is_anonymous,
           email_confirmed_at, last_sign_in_at, created_at, updated_at, deleted_at
    from auth.users where id = any(${ids}::uuid[])`;
}

/** A signed delivery for one event, ready to POST. */
function delivery(hook, type, record) {
  const body = JSON.stringify({ type, table: 'users', schema: 'auth', record, old_record: type === 'INSERT' ? null : record });
  const id = `msg_${crypto.randomUUID()}`;
  const now = new Date();
  return {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
      'webhook-signature': hook.sign(id, now, body),
    },
  };
}

export async function webhook(ctx) {
  const { sql } = ctx;
  const n = ctx.scale.webhookDeliveries;
  const hook = new Webhook(ctx.webhookSecret.replace(/^v1,/, ''));
  const [existing] = await records(sql, [ctx.someUserId]);

  let fn;
  try {
    fn = await ctx.startFunction('auth-webhook', () => delivery(hook, 'UPDATE', existing));
  } catch (err) {
    if (err instanceof NotAvailable) return notAvailable(err.message);
    throw err;
  }
  try {
    const httpIds = await seedUsers(sql, n, { from: ctx.nextUserNumber(n), returnIds: true });
    const rawIds = await seedUsers(sql, n, { from: ctx.nextUserNumber(n), returnIds: true });
    await settle(sql);

    // The limit: the same core call per user, straight over a pool of the function's size.
    const pool = postgres(ctx.dbUrl, { max: ctx.poolSize, prepare: false, onnotice: () => {} });
    let raw;
    try {
      await drive(CONCURRENCY, CONCURRENCY, () => pool`select 1`);
      raw = await drive(n, CONCURRENCY, async (i) => {
        const [row] = await pool`
          select user_id, outcome from profile_sync.sync_users(${[rawIds[i]]}::uuid[])`;
        if (row.outcome !== 'created') throw new Error(`raw sync gave ${row.outcome}`);
      });
    } finally {
      await pool.end();
    }

    // Warm the function's connections, then the signed deliveries (signed just before sending).
    await drive(CONCURRENCY, CONCURRENCY, async () => {
      const res = await ctx.http.request(fn.url, delivery(hook, 'UPDATE', existing));
      if (res.status !== 200) throw new Error(`auth-webhook warm-up answered ${res.status}: ${res.body.slice(0, 200)}`);
    });
    const deliveries = (await records(sql, httpIds)).map((r) => delivery(hook, 'INSERT', r));
    const http = await drive(n, CONCURRENCY, async (i) => {
      const res = await ctx.http.request(fn.url, deliveries[i]);
      if (res.status !== 200) throw new Error(`auth-webhook answered ${res.status}: ${res.body.slice(0, 200)}`);
      if (JSON.parse(res.body).outcome !== 'created') throw new Error(`auth-webhook gave ${res.body}`);
    });

    const peak = fn.memory().peakMiB;
    const jit = ctx.jit ? await jitOnAndOff(ctx, fn, hook, Math.min(n, 1000)) : undefined;
    return done([
      figure('webhook.rate', `Webhook ingest, c=${CONCURRENCY} (signed, HTTP)`, http.rate, 'deliveries/s', {
        limit: raw.rate, target: atLeast(0.5, '≥ 0.5× raw core', 'ratio'),
        note: `raw: sync_users over a pool of ${ctx.poolSize}, p50 ${raw.p50.toFixed(1)} ms, p99 ${raw.p99.toFixed(1)} ms`,
      }),
      figure('webhook.p50', 'Webhook latency p50', http.p50, 'ms'),
      figure('webhook.p99', 'Webhook latency p99', http.p99, 'ms', { target: below(50, '< 50 ms') }),
      figure('webhook.peak_rss', 'auth-webhook peak RSS', peak, 'MiB'),
      jit
        ? figure('webhook.jit', 'Webhook latency p50, jit on vs jit off', jit.on.p50, 'ms', {
          limit: jit.off.p50, ratio: jit.on.p50 / jit.off.p50, target: below(1.5, '< 1.5× jit off', 'ratio'),
          note: `${jit.deliveries} deliveries each way at c=${CONCURRENCY}; p99 on ${jit.on.p99.toFixed(1)} ms, off ${jit.off.p99.toFixed(1)} ms`,
        })
        : figure('webhook.jit', 'Webhook latency p50, jit on vs jit off', undefined, 'ms', {
          note: 'not measured: this Postgres build has no JIT',
        }),
    ], { http, raw, jit, deliveries: n, concurrency: CONCURRENCY, poolSize: ctx.poolSize });
  } finally {
    await fn.stop();
  }
}

/**
 * Signed deliveries of `count` new users each way, with jit off then on for the whole cluster,
 * twice (off, on, on, off: a machine getting busier slows both alike); the server's own setting
 * after. The function's pooled connections follow each reload. Each way: the mean of its two
 * rounds' p50 and p99.
 */
async function jitOnAndOff(ctx, fn, hook, count) {
  const { sql } = ctx;
  const half = Math.ceil(count / 2);
  const rounds = { off: [], on: [] };
  try {
    for (const jit of ['off', 'on', 'on', 'off']) {
      const ids = await seedUsers(sql, half, { from: ctx.nextUserNumber(half), returnIds: true });
      await sql`analyze auth.users`;
      await setJit(sql, jit);
      const deliveries = (await records(sql, ids)).map((r) => delivery(hook, 'INSERT', r));
      rounds[jit].push(await drive(half, CONCURRENCY, async (i) => {
        const res = await ctx.http.request(fn.url, deliveries[i]);
        if (res.status !== 200) throw new Error(`auth-webhook (jit ${jit}) answered ${res.status}: ${res.body.slice(0, 200)}`);
      }));
    }
  } finally {
    await setJit(sql, null);
  }
  const mean = (runs, key) => runs.reduce((sum, r) => sum + r[key], 0) / runs.length;
  const way = (runs) => ({ p50: mean(runs, 'p50'), p99: mean(runs, 'p99') });
  return { deliveries: 2 * half, on: way(rounds.on), off: way(rounds.off) };
}
