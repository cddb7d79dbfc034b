// Property: whatever JSON Auth holds in raw_user_meta_data / raw_app_meta_data (quotes, SQL,
// emoji, combining marks, 10,000-character values, arrays or objects where strings belong), a
// signup and a later update synced through auth-webhook or sync-profile give 200 and the profile
// the rules say, stored safely; metadata with a NUL is refused by auth.users itself (jsonb).
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { signDevAccessToken } from '../../local/dev-keys.ts';
import { cleanName, safeAvatarUrl } from '../cleaning/clean.ts';
import { minimalEvent, signHeaders } from '../auth-webhook/helpers.ts';
import { freshDatabase } from '../helpers/db.ts';
import { hostileMetadata, jsonbRefuses, NUL } from '../helpers/hostile.ts';
import { inProcess, SUPABASE_URL } from '../helpers/in_process.ts';
import { insertAuthUser, updateAuthUser } from '../helpers/users.ts';

const RUNS = 100;

/** profile_sync.clean_text written again: strings only, spaces trimmed, cut to max code points, blank → null. */
function cleanText(value: unknown, max: number): string | null {
  if (typeof value !== 'string') return null;
  const cut = Array.from(value.replace(/^ +| +$/g, '')).slice(0, max).join('');
  return cut === '' ? null : cut;
}

const str = (value: unknown) => (typeof value === 'string' ? value : null);

/** The DESIGN rules for the metadata-derived columns, for a profile the app has not edited. */
function expectedProfile(user: Record<string, unknown>, app: Record<string, unknown>) {
  const name = ['full_name', 'name', 'user_name', 'preferred_username'].map((k) => cleanName(str(user[k])))
    .find((v) => v !== null);
  return {
    full_name: name ?? null,
    avatar_url: safeAvatarUrl(str(user.avatar_url)) ?? safeAvatarUrl(str(user.picture)),
    role: cleanText(app.role, 100) ?? 'user',
    provider: cleanText(app.provider, 100),
  };
}

Deno.test('metadata of any shape syncs to the profile the rules say, never a 5xx', async () => {
  const db = await freshDatabase('rel_metadata_props');
  const webhook = inProcess('auth-webhook', db);
  const syncProfile = inProcess('sync-profile', db);
  const seen = { synced: 0, refusedByAuth: 0, tenThousand: 0 };

  const deliver = async (type: 'INSERT' | 'UPDATE', id: string, viaWebhook: boolean, user: unknown) => {
    if (viaWebhook) {
      const body = JSON.stringify(minimalEvent(type, id));
      return await webhook.call({ body, headers: signHeaders(body) });
    }
    // The token carries hostile metadata too: sync-profile must take nothing from it.
    const token = await signDevAccessToken(SUPABASE_URL, id, {
      user_metadata: user,
      app_metadata: { role: 'admin' },
    });
    return await syncProfile.call({ headers: { authorization: `Bearer ${token}` } });
  };
  const profile = async (id: string) =>
    (await db.sql`select full_name, avatar_url, role, provider from public.profiles where id = ${id}`)[0];

  try {
    await fc.assert(
      fc.asyncProperty(
        hostileMetadata,
        hostileMetadata,
        hostileMetadata,
        hostileMetadata,
        fc.boolean(),
        async (user, app, user2, app2, viaWebhook) => {
          const id = crypto.randomUUID();
          if (JSON.stringify([user, app, user2, app2]).length > 10_000) seen.tenThousand++;
          if (jsonbRefuses(user) || jsonbRefuses(app)) {
            await assert.rejects(
              insertAuthUser(db.sql, { id, user_metadata: user, app_metadata: app }),
              (err: { code?: string }) => err.code === '22P05' || err.code === '22P02',
            );
            const [{ n }] = await db.sql`select count(*)::int as n from auth.users where id = ${id}`;
            assert.equal(n, 0);
            seen.refusedByAuth++;
            return;
          }
          await insertAuthUser(db.sql, { id, user_metadata: user, app_metadata: app });
          const created = await deliver('INSERT', id, viaWebhook, user);
          assert.equal(created.status, 200, JSON.stringify(created.json));
          assert.deepEqual(await profile(id), expectedProfile(user, app));

          if (jsonbRefuses(user2) || jsonbRefuses(app2)) {
            await assert.rejects(
              updateAuthUser(db.sql, id, { raw_user_meta_data: user2, raw_app_meta_data: app2 }),
            );
            seen.refusedByAuth++;
            return;
          }
          await updateAuthUser(db.sql, id, { raw_user_meta_data: user2, raw_app_meta_data: app2 });
          const updated = await deliver('UPDATE', id, viaWebhook, user2);
          assert.equal(updated.status, 200, JSON.stringify(updated.json));
          // Role: app metadata wins; user metadata only ever counts at creation (and is not allowlisted here).
          assert.deepEqual(await profile(id), expectedProfile(user2, app2));
          seen.synced++;
        },
      ),
      { numRuns: RUNS },
    );
    console.log(`metadata property: ${RUNS} users`, seen);
    assert.ok(seen.synced > RUNS / 3 && seen.refusedByAuth > 0 && seen.tenThousand > 0, JSON.stringify(seen));
    const logs = [...webhook.logs, ...syncProfile.logs];
    assert.ok(logs.every((l) => !l.includes('"level":"error"')), 'no unhandled errors were logged');
  } finally {
    await db.drop();
  }
});

Deno.test('a NUL byte: refused by auth.users itself, and a coded answer from the functions', async () => {
  const db = await freshDatabase('rel_nul');
  const webhook = inProcess('auth-webhook', db);
  try {
    const id = await insertAuthUser(db.sql, { user_metadata: { full_name: 'Nul Tester' } });
    // jsonb cannot hold \u0000: Auth's own insert or update fails, so no such row ever reaches sync.
    await assert.rejects(insertAuthUser(db.sql, { user_metadata: { full_name: `a${NUL}b` } }), {
      code: '22P05',
    });
    await assert.rejects(updateAuthUser(db.sql, id, { raw_user_meta_data: { [`k${NUL}`]: 1 } }), {
      code: '22P05',
    });
    await assert.rejects(db.sql`update auth.users set email = ${`x${NUL}@example.com`} where id = ${id}`, {
      code: '22021',
    });

    const post = (body: string) => webhook.call({ body, headers: signHeaders(body) });
    // A NUL only in the payload's metadata: the payload is a hint, the core reads auth: 200.
    const event = minimalEvent('INSERT', id);
    const inMetadata = await post(
      JSON.stringify({
        ...event,
        record: { ...(event.record as object), raw_user_meta_data: { full_name: NUL } },
      }),
    );
    assert.deepEqual([inMetadata.status, inMetadata.json.outcome], [200, 'created']);
    const [row] = await db.sql`select full_name from public.profiles where id = ${id}`;
    assert.equal(row.full_name, 'Nul Tester');
    // A NUL in the user id, in the type, or raw in the body: coded 400s.
    assert.deepEqual(
      (await post(JSON.stringify(minimalEvent('INSERT', `${id}${NUL}`)))).json.error?.code,
      'invalid_payload',
    );
    assert.deepEqual(
      (await post(JSON.stringify({ ...event, type: `INSERT${NUL}` }))).json.error?.code,
      'invalid_payload',
    );
    assert.deepEqual((await post(`{"type":"INSERT"${NUL}}`)).json.error?.code, 'invalid_json');
  } finally {
    await db.drop();
  }
});
