// Scenario 3: webhook ingest. Signed Database Webhook deliveries (standardwebhooks) for new
// users over HTTP at concurrency 32, against the same core calls over a postgres.js pool of the
// function's size without HTTP.
import postgres from 'postgres';
import { Webhook } from 'standardwebhooks';
import { seedUsers, settle } from '../lib/cluster.mjs';
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
    return done([
      figure('webhook.rate', `Webhook ingest, c=${CONCURRENCY} (signed, HTTP)`, http.rate, 'deliveries/s', {
        limit: raw.rate, target: atLeast(0.5, '≥ 0.5× raw core', 'ratio'),
        note: `raw: sync_users over a pool of ${ctx.poolSize}, p50 ${raw.p50.toFixed(1)} ms, p99 ${raw.p99.toFixed(1)} ms`,
      }),
      figure('webhook.p50', 'Webhook latency p50', http.p50, 'ms'),
      figure('webhook.p99', 'Webhook latency p99', http.p99, 'ms', { target: below(50, '< 50 ms') }),
      figure('webhook.peak_rss', 'auth-webhook peak RSS', peak, 'MiB'),
    ], { http, raw, deliveries: n, concurrency: CONCURRENCY, poolSize: ctx.poolSize });
  } finally {
    await fn.stop();
  }
}
