// Property: for any body a caller with a valid credential sends (a user's access token, or the
// admin secret key), sync-profile answers 2xx or a coded 4xx, never 5xx; a refused request writes
// nothing; a user never syncs anyone but themself.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { DEV_SECRET_KEY, signDevAccessToken } from '../../local/dev-keys.ts';
import { ERRORS } from '../../shared/errors.ts';
import { freshDatabase } from '../helpers/db.ts';
import { hostileJson, hostileString } from '../helpers/hostile.ts';
import { inProcess, SUPABASE_URL } from '../helpers/in_process.ts';
import { syncTables } from '../helpers/profiles.ts';
import { insertAuthUser, updateAuthUser } from '../helpers/users.ts';

const RUNS = 150;

Deno.test('sync-profile: any body with a valid credential gets 2xx or a coded 4xx, and a refused one writes nothing', async () => {
  const db = await freshDatabase('rel_sync_props');
  const { call } = inProcess('sync-profile', db);
  const tally = new Map<string, number>();
  try {
    const users: string[] = [];
    for (let i = 0; i < 3; i++) {
      users.push(await insertAuthUser(db.sql, { user_metadata: { full_name: `user-${i}` } }));
    }
    const tokens = await Promise.all(users.map((id) => signDevAccessToken(SUPABASE_URL, id)));

    const userRef = fc.oneof(fc.constantFrom(...users), fc.uuid(), hostileString, hostileJson);
    const body = fc.oneof(
      { arbitrary: fc.constant(undefined), weight: 1 },
      {
        arbitrary: fc.record({ user_id: userRef, extra: hostileJson }, { requiredKeys: [] }).map((b) =>
          JSON.stringify(b)
        ),
        weight: 4,
      },
      { arbitrary: hostileJson.map((v) => JSON.stringify(v)), weight: 2 },
      { arbitrary: hostileString, weight: 1 },
    );
    const caller = fc.oneof(
      fc.nat(users.length - 1).map((i) => ({ kind: 'user' as const, i })),
      fc.constant({ kind: 'admin' as const, i: -1 }),
    );

    await fc.assert(
      fc.asyncProperty(caller, body, async (who, text) => {
        const headers: Record<string, string> = who.kind === 'admin'
          ? { apikey: DEV_SECRET_KEY }
          : { authorization: `Bearer ${tokens[who.i]}` };
        const before = await syncTables(db.sql);
        const { status, json } = await call({ headers, body: text });
        const code = json.error?.code ?? String(status);
        tally.set(`${who.kind}:${code}`, (tally.get(`${who.kind}:${code}`) ?? 0) + 1);
        assert.ok(status < 500, `5xx for ${who.kind} ${String(text).slice(0, 200)}: ${JSON.stringify(json)}`);
        if (status >= 400) {
          assert.ok(json.error && json.error.code in ERRORS, `uncoded ${status}: ${JSON.stringify(json)}`);
          assert.equal(ERRORS[json.error.code as keyof typeof ERRORS][0], status);
          assert.deepEqual(await syncTables(db.sql), before, `refused with ${code} but wrote`);
          return;
        }
        const synced = String((json.profile as { id: string }).id);
        if (who.kind === 'user') assert.equal(synced, users[who.i], 'a user token synced someone else');
        // Stale again for the next run.
        await updateAuthUser(db.sql, synced, {
          raw_user_meta_data: { full_name: `user-${crypto.randomUUID()}` },
        });
      }),
      { numRuns: RUNS },
    );
    console.log(`sync-profile property: ${RUNS} bodies →`, Object.fromEntries([...tally].sort()));
    assert.ok(
      (tally.get('user:200') ?? 0) > 0 && (tally.get('admin:200') ?? 0) > 0 &&
        (tally.get('user:forbidden') ?? 0) > 0,
    );
  } finally {
    await db.drop();
  }
});
