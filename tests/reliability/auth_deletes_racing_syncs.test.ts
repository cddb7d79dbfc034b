// Auth deleting users (one at a time, as admin.deleteUser does) while reconcile batches and
// webhook deliveries sync the same users: every delete commits — a sync never makes Auth's write
// fail — and no function answers 5xx. (Before the core locked profiles before its bookkeeping,
// about 1 delete in 60 here died in a deadlock with a sync.)
import assert from 'node:assert/strict';
import postgres from 'postgres';
import { DEV_SECRET_KEY } from '../../local/dev-keys.ts';
import { minimalEvent, signHeaders } from '../auth-webhook/helpers.ts';
import { insertAuthUsers, renameAuthUsers } from '../helpers/bulk.ts';
import { forEachConcurrent } from '../helpers/concurrency.ts';
import { freshDatabase } from '../helpers/db.ts';
import { profileMismatches } from '../helpers/profiles.ts';
import { startTestStack } from '../helpers/stack.ts';

const USERS = 2_000;
const DELETES = 600;

Deno.test(`${DELETES} Auth deletes racing reconcile and webhooks: every delete commits, no 5xx`, async () => {
  const db = await freshDatabase('rel_deletes_race');
  const stack = await startTestStack(db.url);
  const auth = postgres(db.url, { max: 4, prepare: false, onnotice: () => {} });
  const tally: Record<string, number> = {};
  const count = (key: string) => (tally[key] = (tally[key] ?? 0) + 1);
  try {
    const ids = await insertAuthUsers(db.sql, USERS, 'deleted');
    await db.sql`select count(*) from profile_sync.sync_users(${ids}::uuid[])`;
    await renameAuthUsers(db.sql, ids, 'renamed');
    const doomed = ids.slice(0, DELETES);
    let deleting = true;

    const webhooks = (async () => {
      while (deleting) {
        await forEachConcurrent([...doomed].sort(() => Math.random() - 0.5).slice(0, 200), 8, async (id) => {
          const body = JSON.stringify(minimalEvent('UPDATE', id));
          const res = await fetch(`${stack.url}/functions/v1/auth-webhook`, {
            method: 'POST',
            body,
            headers: signHeaders(body),
          });
          // a delivery that lost a deadlock answers 200 with outcome failed (the queue retries it)
          const outcome = res.status === 200 ? (await res.json()).outcome : (await res.body?.cancel(), '');
          count(`auth-webhook ${res.status}${outcome === 'failed' ? ' failed' : ''}`);
        });
      }
    })();
    const reconciles = (async () => {
      while (deleting) {
        const res = await fetch(`${stack.url}/functions/v1/reconcile`, {
          method: 'POST',
          headers: { apikey: DEV_SECRET_KEY, 'content-type': 'application/json' },
          body: JSON.stringify({ batch_size: 1000 }),
        });
        count(`reconcile ${res.status}`);
        await res.body?.cancel();
        // Stale again, so the next run rewrites the rows the deletes are after.
        await renameAuthUsers(db.sql, ids.filter(() => Math.random() < 0.3), `again-${Date.now()}`);
      }
    })();
    await forEachConcurrent(doomed, 4, async (id) => {
      await auth`delete from auth.users where id = ${id}`.then(
        () => count('delete committed'),
        (err) => count(`delete failed ${err.code}`),
      );
    });
    deleting = false;
    await Promise.all([webhooks, reconciles]);
    console.log(`Auth deletes racing syncs:`, tally);
    const refusals = stack.logs.filter((line) => /"status":5\d\d/.test(line));
    if (refusals.length) console.log(refusals.slice(0, 5).join('\n'));

    assert.equal(tally['delete committed'], DELETES, 'every Auth delete committed');
    assert.deepEqual(Object.keys(tally).filter((k) => / 5\d\d$/.test(k)), [], 'no 5xx');
    assert.equal(tally['auth-webhook 200 failed'], undefined, 'no delivery lost a deadlock');
    await db.sql`select count(*) from profile_sync.sync_users(${ids}::uuid[])`;
    assert.deepEqual(await profileMismatches(db.sql), []);
  } finally {
    await auth.end();
    await stack.close();
    await db.drop();
  }
});
