// Property: for any body signed with the right secret (so it gets past the signature), auth-webhook
// answers 2xx or a coded 4xx, never 5xx; a refused body writes nothing to profiles or
// profile_state; an accepted one leaves the named user's profile equal to the auth row.
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ERRORS } from '../../shared/errors.ts';
import { signHeaders } from '../auth-webhook/helpers.ts';
import { freshDatabase } from '../helpers/db.ts';
import { hostileJson, hostileMetadata, hostileString } from '../helpers/hostile.ts';
import { inProcess } from '../helpers/in_process.ts';
import { profileMismatches, syncTables } from '../helpers/profiles.ts';
import { insertAuthUser, updateAuthUser } from '../helpers/users.ts';

const RUNS = 250;

Deno.test('auth-webhook: any signed body gets 2xx or a coded 4xx, and a refused one writes nothing', async () => {
  const db = await freshDatabase('rel_webhook_props');
  const { call } = inProcess('auth-webhook', db);
  const tally = new Map<string, number>();
  try {
    // Users with no profile yet: any wrongful sync of them would show in the snapshot.
    const users: string[] = [];
    for (let i = 0; i < 4; i++) {
      users.push(await insertAuthUser(db.sql, { user_metadata: { full_name: `user-${i}` } }));
    }

    const userRef = fc.oneof(
      { arbitrary: fc.constantFrom(...users), weight: 3 },
      { arbitrary: fc.constantFrom(...users).map((id) => id.toUpperCase()), weight: 1 },
      { arbitrary: fc.uuid(), weight: 2 },
      { arbitrary: hostileString, weight: 1 },
      { arbitrary: hostileJson, weight: 1 },
    );
    // The shape Supabase sends (full row, secret columns included) with hostile values in it.
    const row = (id: fc.Arbitrary<unknown>) =>
      fc.record({
        id,
        email: fc.option(hostileString),
        phone: fc.option(hostileString),
        raw_user_meta_data: hostileMetadata,
        raw_app_meta_data: hostileMetadata,
        encrypted_password: hostileString,
        confirmation_token: hostileString,
      }, { requiredKeys: ['id'] });
    const wellShaped = fc.tuple(fc.constantFrom('INSERT', 'UPDATE', 'DELETE'), userRef).chain(([type, id]) =>
      fc.record({
        type: fc.constant(type),
        table: fc.constant('users'),
        schema: fc.constant('auth'),
        record: row(fc.constant(id)),
        old_record: row(fc.constant(id)),
      })
        .map((e) => ({
          ...e,
          record: type === 'DELETE' ? null : e.record,
          old_record: type === 'INSERT' ? null : e.old_record,
        }))
    );
    // Any part of the shape replaced by anything.
    const misshapen = fc.record({
      type: fc.oneof(fc.constantFrom('INSERT', 'UPDATE', 'DELETE'), hostileJson),
      table: fc.oneof(fc.constant('users'), hostileJson),
      schema: fc.oneof(fc.constant('auth'), hostileJson),
      record: fc.oneof(row(userRef), hostileJson),
      old_record: fc.oneof(row(userRef), hostileJson),
    }, { requiredKeys: [] });
    const body = fc.oneof(
      { arbitrary: wellShaped.map((e) => JSON.stringify(e)), weight: 5 },
      { arbitrary: misshapen.map((e) => JSON.stringify(e)), weight: 2 },
      { arbitrary: hostileJson.map((v) => JSON.stringify(v)), weight: 1 },
      { arbitrary: hostileString, weight: 1 },
    );

    await fc.assert(
      fc.asyncProperty(body, async (text) => {
        const before = await syncTables(db.sql);
        const { status, json } = await call({ body: text, headers: signHeaders(text) });
        const code = json.error?.code ?? String(status);
        tally.set(code, (tally.get(code) ?? 0) + 1);
        assert.ok(status < 500, `5xx for ${text.slice(0, 200)}: ${JSON.stringify(json)}`);
        if (status >= 400) {
          assert.ok(json.error && json.error.code in ERRORS, `uncoded ${status}: ${JSON.stringify(json)}`);
          assert.equal(ERRORS[json.error.code as keyof typeof ERRORS][0], status);
          assert.deepEqual(await syncTables(db.sql), before, `refused with ${code} but wrote`);
          return;
        }
        assert.equal(status, 200);
        const userId = String(json.user_id).toLowerCase();
        if (!users.includes(userId)) {
          // A DELETE of a user that does not exist: already gone, nothing to write.
          assert.equal(json.outcome, 'deleted');
          assert.deepEqual(await syncTables(db.sql), before);
          return;
        }
        assert.deepEqual(await profileMismatches(db.sql).then((m) => m.filter((x) => x.id === userId)), []);
        // Make the user stale again, so the next refused body would have something to write.
        await updateAuthUser(db.sql, userId, {
          raw_user_meta_data: { full_name: `user-${crypto.randomUUID()}` },
        });
      }),
      { numRuns: RUNS },
    );
    console.log(`auth-webhook property: ${RUNS} signed bodies →`, Object.fromEntries([...tally].sort()));
    assert.ok(
      (tally.get('200') ?? 0) > RUNS / 10,
      'enough bodies were accepted for the property to mean something',
    );
    assert.ok((tally.get('invalid_payload') ?? 0) > 0 && (tally.get('invalid_json') ?? 0) > 0);
  } finally {
    await db.drop();
  }
});
