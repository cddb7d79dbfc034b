/**
 * A time budget too small for the job: each call does at least one page, says complete:false,
 * and the next call resumes the pass from the cursor; together they repair everything exactly
 * once. A new pass queues only what has drifted since.
 */
import assert from 'node:assert/strict';
import { DEV_SECRET_KEY } from '../../local/dev-keys.ts';
import { insertAuthUsers, renameAuthUsers } from '../helpers/bulk.ts';
import { freshDatabase } from '../helpers/db.ts';
import { inProcess } from '../helpers/in_process.ts';
import { profileMismatches } from '../helpers/profiles.ts';

Deno.test('reconcile: a 1 ms budget gives complete:false, and successive calls finish the job', async () => {
  const db = await freshDatabase('reconcile_budget');
  try {
    const ids = await insertAuthUsers(db.sql, 2000, 'budget');
    const { call } = inProcess('reconcile', db);
    const reports: Record<string, unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      const res = await call({ headers: { apikey: DEV_SECRET_KEY }, body: { batch_size: 500, time_budget_ms: 1 } });
      assert.equal(res.status, 200);
      reports.push(res.json);
      if (res.json.complete) break;
    }
    // 2000 ids in pages of at most 500 (a page ends where a key range ends): each call does one
    // page, so four or five calls, every one but the last complete:false
    assert.ok(reports.length >= 4 && reports.length <= 5, `${reports.length} calls`);
    assert.deepEqual(reports.map((r) => r.complete), [...reports.slice(1).map(() => false), true]);
    for (const r of reports) {
      assert.ok((r.created as number) <= 500 && (r.complete || (r.created as number) > 400), `one page: ${r.created}`);
    }
    assert.equal(reports.reduce((n, r) => n + (r.created as number), 0), 2000, 'each user created once');
    assert.equal(reports.reduce((n, r) => n + (r.missing as number), 0), 2000, 'each user found once');
    assert.deepEqual(await profileMismatches(db.sql), []);

    const runs = await db.sql`select id, status, resumed_from, scanned from profile_sync.runs order by id`;
    assert.deepEqual(runs.map((r) => r.status), [...runs.slice(1).map(() => 'partial'), 'complete']);
    for (let i = 1; i < runs.length; i++) {
      assert.equal(String(runs[i].resumed_from), String(runs[i - 1].id), 'each run resumes the one before');
    }
    assert.equal(runs.reduce((n, r) => n + Number(r.scanned), 0), 2000);

    // after a complete pass the next run starts a new one: it queues only what drifted since
    await renameAuthUsers(db.sql, ids.slice(0, 3), 'renamed');
    const next = await call({ headers: { apikey: DEV_SECRET_KEY }, body: { batch_size: 500, time_budget_ms: 1 } });
    assert.deepEqual([next.json.complete, next.json.stale, next.json.updated], [true, 3, 3]);
    const [last] = await db.sql`select resumed_from, queued, scanned from profile_sync.runs order by id desc limit 1`;
    assert.deepEqual([last.resumed_from, Number(last.queued), Number(last.scanned)], [null, 3, 3]);
  } finally {
    await db.drop();
  }
});
