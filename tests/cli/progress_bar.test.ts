/**
 * The reconcile progress bar counts users to repair, from the pass's real total: 1,500 users the
 * webhook never saw (inserted with triggers off) beside 3 synced ones show `n of 1,500`, never
 * cli-progress's own step count (`0 of 1000` that ended at `20,003 of 1000` before).
 */
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { startProgressBar } from '../../cli/progress.ts';
import { reconcile } from '../../shared/reconcile.ts';
import type { ReconcileProgress } from '../../shared/reconcile-types.ts';
import { insertAuthUsers } from '../helpers/bulk.ts';
import { freshDatabase } from '../helpers/db.ts';
import { runCli } from './run.ts';

Deno.test('reconcile progress: walked of the users the pass found, on the bar too', async () => {
  const db = await freshDatabase('cli_progress');
  try {
    for (const id of await insertAuthUsers(db.sql, 3, 'synced')) {
      assert.equal((await runCli({ SUPABASE_DB_URL: db.url }, 'sync', id)).code, 0);
    }
    await db.sql.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      await insertAuthUsers(tx, 1500, 'missed');
    });

    const events: ReconcileProgress[] = [];
    const written: string[] = [];
    const stream = new Writable({ write: (chunk, _enc, done) => (written.push(String(chunk)), done()) });
    const bar = startProgressBar(stream, true);
    const report = await reconcile({ sql: db.sql, dbUrl: db.url }, {
      batchSize: 200,
      onProgress: (p) => (events.push(p), bar.update(p)),
    });
    bar.stop();

    assert.equal(report.created, 1500);
    assert.ok(events.length >= 5, `${events.length} progress events`);
    for (const e of events) {
      assert.equal(e.total, 1500);
      assert.ok(e.scanned <= e.total && e.fraction <= 1, JSON.stringify(e));
    }
    assert.deepEqual(events.at(-1), { scanned: 1500, total: 1500, fraction: 1, done: true });
    const text = written.join('');
    assert.match(text, /100% \| 1,500 of 1,500 users to repair/);
    assert.doesNotMatch(text, / of 1000 /);
  } finally {
    await db.drop();
  }
});
