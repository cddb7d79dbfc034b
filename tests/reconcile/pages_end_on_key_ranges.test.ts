/**
 * reconcile_page, the lock holder's half of a reconcile on several connections: walking a pass's
 * queue page by page covers every queued id exactly once, in key order, each page at most
 * batch_size; a page ends where a key range (the unit sync_users locks) ends, so two pages synced
 * at once never share a lock; unless one range alone holds more than batch_size ids.
 */
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { insertAuthUsers } from '../helpers/bulk.ts';
import { freshDatabase } from '../helpers/db.ts';

type Page = { from_id: string | null; last_id: string; scanned: number; missing: number; done: boolean };

/** The key range sync_users locks for an id: its first 10 bits (profile_sync.sync_users). */
const keyRange = (id: string) => parseInt(id.slice(0, 3), 16) >> 2;

Deno.test('reconcile_page: pages cover the queue once, in order, and end where a key range ends', async () => {
  const db = await freshDatabase('reconcile_pages');
  // the reconcile lock is a session lock: one connection holds it for the whole walk
  const session = postgres(db.url, { max: 1, prepare: false, onnotice: () => {} });
  try {
    await insertAuthUsers(db.sql, 3000, 'paged');
    const queued = (await db.sql`select id from auth.users order by id`).map((r) => r.id as string);

    for (const batchSize of [200, 1]) {
      const [{ run_id: run, remaining }] = await session`select run_id, remaining from profile_sync.reconcile_begin(${batchSize})`;
      assert.equal(Number(remaining), 3000);
      const pages: string[][] = [];
      let after: string | null = null;
      for (;;) {
        const [page]: Page[] = await session<Page[]>`
          select from_id, last_id, scanned, missing, done from profile_sync.reconcile_page(${run}, ${after}, ${batchSize})`;
        if (page.scanned === 0) {
          assert.equal(page.done, true);
          break;
        }
        assert.equal(page.from_id as string | null, after as string | null, 'each page starts where the one before ended');
        assert.ok(page.scanned <= batchSize, `a page of ${page.scanned} for batch_size ${batchSize}`);
        assert.equal(page.missing, page.scanned, 'every queued user is missing its profile');
        const ids = queued.filter((id) => (after === null || id > after) && id <= page.last_id);
        assert.equal(ids.length, page.scanned);
        pages.push(ids);
        after = page.last_id;
        if (page.done) break;
      }
      assert.deepEqual(pages.flat(), queued, 'every queued id once, in key order');
      for (let i = 1; i < pages.length; i++) {
        const shared = keyRange(pages[i - 1].at(-1)!) === keyRange(pages[i][0]);
        // a range may continue into the next page only when it alone fills a page
        if (shared) assert.ok(pages[i - 1].every((id) => keyRange(id) === keyRange(pages[i][0])));
        if (batchSize === 200) assert.equal(shared, false, `pages ${i - 1} and ${i} share a key range`);
      }
      if (batchSize === 200) assert.ok(pages.length >= 15, `${pages.length} pages of at most 200`);
      await session`select profile_sync.reconcile_finish(${run}, 'complete')`;
    }
  } finally {
    await session.end();
    await db.drop();
  }
});
