/**
 * The reconcile endpoint's contract: admin credential only (401 missing_credentials /
 * invalid_credentials, a user's access token included), a validated body (400, nothing run),
 * 405 with Allow for other methods, no CORS, and the status and report shapes of DESIGN.
 */
import assert from 'node:assert/strict';
import { DEV_PUBLISHABLE_KEY, DEV_SECRET_KEY, signDevAccessToken } from '../../local/dev-keys.ts';
import { insertAuthUser } from '../helpers/users.ts';
import { freshDatabase } from '../helpers/db.ts';
import { inProcess, SUPABASE_URL } from '../helpers/in_process.ts';

const REPORT_KEYS = ['complete', 'created', 'deleted', 'dry_run', 'duration_ms', 'failed', 'missing', 'orphaned', 'run_id', 'stale', 'updated'];
// computed_at / age_ms: when the (shared) status computation began, and how long ago
const STATUS_KEYS = ['age_ms', 'auth_users', 'computed_at', 'deliveries', 'failures', 'last_run', 'missing', 'orphaned', 'profiles', 'stale', 'synced_percent'];

Deno.test('reconcile endpoint: credentials, body validation, methods, no CORS, shapes', async (t) => {
  const db = await freshDatabase('reconcile_http');
  try {
    const { call } = inProcess('reconcile', db);
    const userId = await insertAuthUser(db.sql);
    const runs = async () => (await db.sql`select count(*)::int as n from profile_sync.runs`)[0].n;

    await t.step('credentials', async () => {
      const userToken = await signDevAccessToken(SUPABASE_URL, userId);
      const cases: [Record<string, string>, number, string][] = [
        [{}, 401, 'missing_credentials'],
        [{ authorization: 'Basic abc' }, 401, 'missing_credentials'],
        [{ apikey: 'sb_secret_wrong' }, 401, 'invalid_credentials'],
        [{ apikey: DEV_PUBLISHABLE_KEY }, 401, 'invalid_credentials'],
        [{ authorization: `Bearer ${userToken}` }, 401, 'invalid_credentials'],
      ];
      for (const method of ['GET', 'POST']) {
        for (const [headers, status, code] of cases) {
          const res = await call({ method, headers, body: method === 'POST' ? {} : undefined });
          assert.deepEqual([res.status, res.json.error?.code], [status, code], `${method} ${JSON.stringify(headers)}`);
        }
      }
      assert.equal(await runs(), 0, 'nothing ran');
      const bearer = await call({ method: 'GET', headers: { authorization: `Bearer ${DEV_SECRET_KEY}` } });
      assert.equal(bearer.status, 200, 'the admin key is accepted as a Bearer token too');
    });

    await t.step('body validation', async () => {
      const bad: [unknown, string][] = [
        ['{', 'invalid_json'],
        [[], 'invalid_payload'],
        [{ dry_run: 'yes' }, 'invalid_payload'],
        [{ dryrun: true }, 'invalid_payload'],
        [{ batch_size: 0 }, 'invalid_payload'],
        [{ batch_size: 10_001 }, 'invalid_payload'],
        [{ batch_size: 1.5 }, 'invalid_payload'],
        [{ time_budget_ms: -1 }, 'invalid_payload'],
        [{ time_budget_ms: 10 ** 9 }, 'invalid_payload'],
        // above 140 s: past the Edge Functions wall clock of the free plan (150 s)
        [{ time_budget_ms: 140_001 }, 'invalid_payload'],
      ];
      for (const [body, code] of bad) {
        const res = await call({ headers: { apikey: DEV_SECRET_KEY }, body });
        assert.deepEqual([res.status, res.json.error?.code], [400, code], JSON.stringify(body));
      }
      const huge = await call({ headers: { apikey: DEV_SECRET_KEY }, body: JSON.stringify({ pad: 'x'.repeat(2_000_000) }) });
      assert.equal(huge.status, 413);
      assert.equal(await runs(), 0, 'nothing ran');
    });

    await t.step('methods and CORS', async () => {
      for (const method of ['PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
        const res = await call({ method, headers: { apikey: DEV_SECRET_KEY, origin: 'https://evil.example' } });
        assert.equal(res.status, 405, method);
        assert.equal(res.headers.get('allow'), 'GET, POST');
        assert.equal(res.headers.get('access-control-allow-origin'), null, 'no CORS on an admin endpoint');
      }
      const ok = await call({ method: 'GET', headers: { apikey: DEV_SECRET_KEY, origin: 'https://evil.example' } });
      assert.equal(ok.headers.get('access-control-allow-origin'), null);
    });

    await t.step('report and status shapes', async () => {
      const empty = await call({ headers: { apikey: DEV_SECRET_KEY } });
      assert.equal(empty.status, 200, 'no body means defaults');
      assert.deepEqual(Object.keys(empty.json).sort(), REPORT_KEYS);
      assert.deepEqual([empty.json.created, empty.json.complete], [1, true]);
      const dry = await call({ headers: { apikey: DEV_SECRET_KEY }, body: { dry_run: true } });
      assert.deepEqual(Object.keys(dry.json).sort(), [...REPORT_KEYS, 'changes', 'kept', 'samples'].sort());
      assert.equal(dry.json.run_id, null, 'a dry run writes no run');
      const status = await call({ method: 'GET', headers: { apikey: DEV_SECRET_KEY } });
      assert.deepEqual(Object.keys(status.json).sort(), STATUS_KEYS);
      assert.deepEqual(Object.keys(status.json.deliveries as object).sort(), ['dead', 'oldest_due_age_s', 'queued', 'retrying']);
      assert.deepEqual(
        [status.json.auth_users, status.json.profiles, status.json.synced_percent, (status.json.last_run as { id: number }).id],
        [1, 1, 100, empty.json.run_id],
      );
      assert.ok(Date.parse(status.json.computed_at as string) <= Date.now(), 'computed_at is a time');
      assert.ok((status.json.age_ms as number) >= 0, 'age_ms is a duration');
    });
  } finally {
    await db.drop();
  }
});
