// Status under concurrency: at 100,000 users, 32 callers polling GET /reconcile in a closed loop
// share one computation at a time, so their median latency stays within 2× of a lone call. For
// comparison the same load runs unshared (each call its own query on a pool of 5, as before
// status calls were shared); both figures are printed.
import assert from 'node:assert/strict';
import { DEV_SECRET_KEY } from '../../local/dev-keys.ts';
import { createDb } from '../../shared/db.ts';
import { reconcileStatus } from '../../shared/reconcile-status.ts';
import { insertAuthUsers } from '../helpers/bulk.ts';
import { freshDatabase } from '../helpers/db.ts';
import { startTestStack } from '../helpers/stack.ts';

const USERS = 100_000;
const CONCURRENCY = 32;
const ROUNDS = 8;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))];

/** Latencies of `rounds` sequential calls by each of `concurrency` callers. */
async function closedLoop(call: () => Promise<unknown>, concurrency: number, rounds: number): Promise<number[]> {
  const ms: number[] = [];
  await Promise.all(Array.from({ length: concurrency }, async () => {
    for (let i = 0; i < rounds; i++) {
      const started = performance.now();
      await call();
      ms.push(performance.now() - started);
    }
  }));
  return ms;
}

Deno.test(`status at ${USERS} users: p50 at c=${CONCURRENCY} within 2× of a lone call`, async () => {
  const db = await freshDatabase('stress_status');
  const stack = await startTestStack(db.url);
  const unsharedPool = createDb(db.url, { max: 5, application: 'profile-sync/unshared-status' });
  try {
    await insertAuthUsers(db.sql, USERS, 'status');
    const url = `${stack.url}/functions/v1/reconcile`;
    const headers = { apikey: DEV_SECRET_KEY };
    const repaired = await fetch(url, { method: 'POST', headers, body: '{}' }).then((r) => r.json());
    assert.equal(repaired.complete, true);
    const get = async () => {
      const res = await fetch(url, { headers });
      const body = await res.json();
      assert.equal(res.status, 200);
      return body;
    };
    await get(); // warm

    const lone = await closedLoop(get, 1, 7);
    const shared = await closedLoop(get, CONCURRENCY, ROUNDS);
    const unshared = await closedLoop(() => reconcileStatus(unsharedPool), CONCURRENCY, ROUNDS);
    const last = await get();

    const figures = {
      users: USERS,
      concurrency: CONCURRENCY,
      lone_p50_ms: Math.round(median(lone)),
      shared_p50_ms: Math.round(median(shared)),
      shared_p99_ms: Math.round(p99(shared)),
      unshared_p50_ms: Math.round(median(unshared)),
      unshared_p99_ms: Math.round(p99(unshared)),
    };
    console.log(`status concurrency: ${JSON.stringify(figures)}`);

    assert.equal(last.auth_users, USERS);
    assert.ok(last.age_ms >= 0 && typeof last.computed_at === 'string');
    assert.ok(median(shared) <= 2 * median(lone), `p50 at c=${CONCURRENCY} ${figures.shared_p50_ms} ms vs lone ${figures.lone_p50_ms} ms`);
  } finally {
    await unsharedPool.end({ timeout: 1 });
    await stack.close();
    await db.drop();
  }
});
