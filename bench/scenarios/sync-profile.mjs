// Scenario 5: sync-profile as the browser calls it after sign-in: a dev access token (ES256,
// verified against the JWKS), the caller synced and returned; p50/p99 at concurrency 16.
import { done, figure, notAvailable } from '../lib/figures.mjs';
import { NotAvailable } from '../lib/function-process.mjs';
import { drive } from '../lib/load.mjs';

const CONCURRENCY = 16;

const call = (token) => ({
  method: 'POST',
  headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
  body: '{}',
});

export async function syncProfile(ctx) {
  const tokens = Object.values(ctx.tokens);
  const n = ctx.scale.syncProfileCalls;
  let fn;
  try {
    fn = await ctx.startFunction('sync-profile', call(tokens[0]));
  } catch (err) {
    if (err instanceof NotAvailable) return notAvailable(err.message);
    throw err;
  }
  try {
    const send = async (i) => {
      const res = await ctx.http.request(fn.url, call(tokens[i % tokens.length]));
      if (res.status !== 200) throw new Error(`sync-profile answered ${res.status}: ${res.body.slice(0, 200)}`);
    };
    await drive(CONCURRENCY * 2, CONCURRENCY, send);
    const run = await drive(n, CONCURRENCY, send);
    return done([
      figure('sync_profile.rate', `sync-profile, c=${CONCURRENCY} (JWT verified, caller synced)`, run.rate, 'calls/s'),
      figure('sync_profile.p50', 'sync-profile latency p50', run.p50, 'ms'),
      figure('sync_profile.p99', 'sync-profile latency p99', run.p99, 'ms'),
      figure('sync_profile.peak_rss', 'sync-profile peak RSS', fn.memory().peakMiB, 'MiB'),
    ], { run, users: tokens.length, concurrency: CONCURRENCY });
  } finally {
    await fn.stop();
  }
}
