/**
 * Reconcile holds no connection outside the pool: with PROFILE_SYNC_DB_POOL_MAX=5, sixty
 * concurrent admin POSTs never take the stack past 5 connections (the pool of 4 plus one run's
 * session), callers refused with 409 open none (never more than one run session at a time), and
 * every answer is 200 or 409 (reconcile_in_progress for a run, dry_run_in_progress for a dry run).
 */
import assert from 'node:assert/strict';
import { DEV_SECRET_KEY } from '../../local/dev-keys.ts';
import { insertAuthUsers } from '../helpers/bulk.ts';
import { sampleConnections } from '../helpers/connections.ts';
import { freshDatabase } from '../helpers/db.ts';
import { profileMismatches } from '../helpers/profiles.ts';
import { startTestStack } from '../helpers/stack.ts';

const CALLERS = 60;

Deno.test(`reconcile: ${CALLERS} concurrent admin POSTs stay within PROFILE_SYNC_DB_POOL_MAX connections`, async () => {
  const db = await freshDatabase('reconcile_connections');
  const stack = await startTestStack(db.url, { env: { PROFILE_SYNC_DB_POOL_MAX: '5' } });
  const all = sampleConnections(db.url, db.name, 'profile-sync/%', 5);
  const sessions = sampleConnections(db.url, db.name, 'profile-sync/reconcile', 5);
  try {
    await insertAuthUsers(db.sql, 4000, 'connections');
    const url = `${stack.url}/functions/v1/reconcile`;
    const post = (body: unknown) =>
      fetch(url, { method: 'POST', headers: { apikey: DEV_SECRET_KEY }, body: JSON.stringify(body) })
        .then(async (r) => ({ status: r.status, json: await r.json() }));
    const answers = await Promise.all(Array.from({ length: CALLERS }, (_, i) => post(i % 10 === 9 ? { dry_run: true } : { batch_size: 100 })));
    // and status calls while a run may still be going
    const status = await fetch(url, { headers: { apikey: DEV_SECRET_KEY } });
    assert.equal((await status.json(), status.status), 200);
    const peak = await all.stop();
    const peakSessions = await sessions.stop();

    const statuses: Record<number, number> = {};
    for (const a of answers) statuses[a.status] = (statuses[a.status] ?? 0) + 1;
    console.log(`reconcile connections: ${JSON.stringify({ callers: CALLERS, statuses, peak_function_connections: peak.functions, peak_run_sessions: peakSessions.functions, samples: peak.samples })}`);

    assert.ok(answers.every((a) => a.status === 200 || a.status === 409), JSON.stringify(statuses));
    assert.ok((statuses[409] ?? 0) > 0, 'concurrent runs were refused');
    // a real run refused for another run, a dry run for another dry run (one of each at a time)
    assert.ok(answers.every((a, i) =>
      a.status !== 409 || a.json.error.code === (i % 10 === 9 ? 'dry_run_in_progress' : 'reconcile_in_progress')
    ));
    assert.ok(peak.samples > 10, 'connections were sampled during the calls');
    assert.ok(peak.functions <= 5, `function connections peaked at ${peak.functions}`);
    assert.ok(peakSessions.functions <= 1, `run sessions peaked at ${peakSessions.functions}`);

    // whatever was refused, a run to the end leaves every profile right
    const last = await post({});
    assert.equal(last.status, 200);
    assert.deepEqual(await profileMismatches(db.sql), []);
  } finally {
    await all.stop().catch(() => {});
    await sessions.stop().catch(() => {});
    await stack.close();
    await db.drop();
  }
});
