/**
 * A time budget too small for the job: each call does at least one batch, says complete:false,
 * and the next call resumes from the cursor; together they repair everything exactly once.
 */
import assert from 'node:assert/strict';
import { DEV_SECRET_KEY } from '../../local/dev-keys.ts';
import { insertAuthUsers } from '../helpers/bulk.ts';
import { freshDatabase } from '../helpers/db.ts';
import { inProcess } from '../helpers/in_process.ts';
import { profileMismatches } from '../helpers/profiles.ts';

Deno.test('reconcile: a 1 ms budget gives complete:false, and successive calls finish the job', async () => {
  const db = await freshDatabase('reconcile_budget');
  try {
    await insertAuthUsers(db.sql, 2000, 'budget');
    const { call } = inProcess('reconcile', db);
    const reports: Record<string, unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await call({ headers: { apikey: DEV_SECRET_KEY }, body: { batch_size: 500, time_budget_ms: 1 } });
      assert.equal(res.status, 200);
      reports.push(res.json);
      if (res.json.complete) break;
    }
    // 2000 ids in batches of 500: four batches that fill up, then one that finds the end
    assert.deepEqual(reports.map((r) => r.complete), [false, false, false, false, true]);
    assert.deepEqual(reports.map((r) => r.created), [500, 500, 500, 500, 0]);
    assert.equal(reports.reduce((n, r) => n + (r.missing as number), 0), 2000, 'each user found once');
    assert.deepEqual(await profileMismatches(db.sql), []);

    const runs = await db.sql`select id, status, resumed_from, scanned from profile_sync.runs order by id`;
    assert.deepEqual(runs.map((r) => r.status), ['partial', 'partial', 'partial', 'partial', 'complete']);
    for (let i = 1; i < runs.length; i++) {
      assert.equal(String(runs[i].resumed_from), String(runs[i - 1].id), 'each run resumes the one before');
    }
    assert.equal(runs.reduce((n, r) => n + Number(r.scanned), 0), 2000);

    // after a complete run the next one starts over from the first id
    const fresh = await call({ headers: { apikey: DEV_SECRET_KEY }, body: { batch_size: 500, time_budget_ms: 1 } });
    assert.equal(fresh.json.complete, false);
    const [last] = await db.sql`select resumed_from, scanned from profile_sync.runs order by id desc limit 1`;
    assert.deepEqual([last.resumed_from, Number(last.scanned)], [null, 500]);
  } finally {
    await db.drop();
  }
});
