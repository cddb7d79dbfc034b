/**
 * The state now is measured apart from everything else the page loads: while a transaction holds
 * auth.users and profile_state exclusively (so any read of them waits), the page's other requests
 * all answer (the state from memory: the last measurement) and only the measurement waits; once
 * free, /api/status answers `status`'s own numbers and /api/state serves that measurement, with its
 * time. (Locks, not timings.)
 */
import assert from 'node:assert/strict';
import { createDashboardApp } from '../../cli/dashboard/app.ts';
import { cookieName, newDoorKeys } from '../../cli/dashboard/guard.ts';
import { createDb } from '../../shared/db.ts';
import { reconcileStatus } from '../../shared/reconcile-status.ts';
import { insertAuthUsers } from '../helpers/bulk.ts';
import { freshDatabase } from '../helpers/db.ts';
import { insertPastRuns } from './seed.ts';

const PORT = 54997;
const KEYS = ['auth_users', 'profiles', 'missing', 'stale', 'orphaned', 'synced_percent', 'failures'] as const;

Deno.test('dashboard: every panel but the state now answers without reading auth.users; the state now is status\'s', async () => {
  const db = await freshDatabase('dashboard_state_now');
  const sql = createDb(db.url, { max: 4 });
  try {
    // a request that did read them fails after a while instead of waiting for the test forever
    await db.sql.unsafe(`alter database "${db.name}" set lock_timeout = '20s'`);
    await insertPastRuns(db);
    await insertAuthUsers(db.sql, 25, 'drift');
    const keys = newDoorKeys();
    const app = createDashboardApp({ ctx: { sql, dbUrl: db.url, interactive: false }, keys, port: PORT });
    const get = async (path: string) => {
      const res = await app.request(`http://127.0.0.1:${PORT}${path}`, {
        headers: { host: `127.0.0.1:${PORT}`, cookie: `${cookieName(PORT)}=${keys.session}` },
      });
      assert.equal(res.status, 200, `${path}: ${res.status}`);
      return await res.json();
    };

    const numbers = (status: Record<string, unknown>) => Object.fromEntries(KEYS.map((k) => [k, status[k]]));
    const before = (await get('/api/state')).status; // the first one waits for a measurement
    assert.deepEqual(numbers(before), numbers(await reconcileStatus(sql) as unknown as Record<string, unknown>));
    await insertAuthUsers(db.sql, 5, 'later');

    let measurement: Promise<{ status: Record<string, unknown> }> | undefined;
    let measured = false;
    await db.sql.begin(async (tx) => {
      await tx`lock table auth.users, profile_sync.profile_state in access exclusive mode`;
      measurement = get('/api/status').then((body) => ((measured = true), body));
      measurement.catch(() => {}); // awaited below; a failure here is the test's, not unhandled
      for (const path of ['/api/history', '/api/runs', '/api/failures', '/api/deliveries']) await get(path);
      // the state from memory: the last measurement, as it was
      const during = (await get('/api/state')).status;
      assert.deepEqual([numbers(during), during.computed_at], [numbers(before), before.computed_at]);
      // the measurement reached the database and waits there for the lock
      let waiting = 0;
      for (let i = 0; i < 200 && waiting === 0; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 50));
        [{ waiting }] = await tx`
          select count(*)::int as waiting from pg_stat_activity
          where datname = current_database() and pid <> pg_backend_pid() and wait_event_type = 'Lock'`;
      }
      assert.ok(waiting >= 1, 'the measurement waits for the lock');
      assert.equal(measured, false, 'the measurement cannot have read auth.users');
    });
    const { status } = await measurement!;
    const expected = await reconcileStatus(sql);
    assert.equal(expected.auth_users, before.auth_users + 5);
    for (const k of KEYS) assert.equal(status[k], expected[k], k);
    assert.ok(Number(status.took_ms) >= 0 && !Number.isNaN(Date.parse(String(status.computed_at))));

    const state = await get('/api/state');
    for (const k of [...KEYS, 'computed_at', 'took_ms']) assert.equal(state.status[k], status[k], k);
  } finally {
    await sql.end({ timeout: 1 });
    await db.drop();
  }
});
