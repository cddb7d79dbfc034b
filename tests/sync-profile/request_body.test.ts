/**
 * sync-profile's request handling: the body is optional for a user, bad bodies are coded 400/413
 * after authentication, other methods 405, a user gone from auth 404; nothing is written on refusal.
 * @module
 */
import assert from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { insertAuthUser } from '../helpers/users.ts';
import { inProcessApp, ISSUER, userHeaders } from './helpers.ts';
import { DEV_KID, devKey, sign, userClaims } from './tokens.ts';

Deno.test('sync-profile request bodies, methods and missing users', async (t) => {
  const db = await freshDatabase('sp_body');
  try {
    const { app, post } = inProcessApp(db, { PROFILE_SYNC_MAX_BODY_BYTES: '1024' });
    const key = await devKey();
    const tokenFor = (sub: string) => sign(userClaims(ISSUER, sub), key, { alg: 'ES256', kid: DEV_KID });
    const profiles = async (id: string) =>
      (await db.sql`select count(*)::int as n from public.profiles where id = ${id}`)[0].n as number;

    for (
      const [name, body] of [['no body', undefined], ['empty JSON object', '{}'], [
        'blank body',
        ' \n',
      ]] as const
    ) {
      await t.step(`${name} → 200`, async () => {
        const id = await insertAuthUser(db.sql);
        const res = await post(userHeaders(await tokenFor(id)), body);
        assert.deepEqual([res.status, res.json.profile?.id], [200, id]);
      });
    }

    await t.step('user_id naming the caller (any case) → 200', async () => {
      const id = await insertAuthUser(db.sql);
      const res = await post(userHeaders(await tokenFor(id)), JSON.stringify({ user_id: id.toUpperCase() }));
      assert.deepEqual([res.status, res.json.profile?.id], [200, id]);
    });

    const bad: [string, string, number, string][] = [
      ['invalid JSON', '{"user_id":', 400, 'invalid_json'],
      ['JSON null', 'null', 400, 'invalid_payload'],
      ['JSON array', '[]', 400, 'invalid_payload'],
      ['user_id not a uuid', '{"user_id":"nope"}', 400, 'invalid_payload'],
      ['user_id a number', '{"user_id":5}', 400, 'invalid_payload'],
      [
        'body over PROFILE_SYNC_MAX_BODY_BYTES',
        JSON.stringify({ pad: 'x'.repeat(2048) }),
        413,
        'payload_too_large',
      ],
    ];
    for (const [name, body, status, code] of bad) {
      await t.step(`${name} → ${status} ${code}, nothing written`, async () => {
        const id = await insertAuthUser(db.sql);
        const res = await post(userHeaders(await tokenFor(id)), body);
        assert.deepEqual([res.status, res.json.error?.code], [status, code]);
        assert.equal(await profiles(id), 0);
      });
    }

    await t.step('no token and a bad body → 401: authentication comes first', async () => {
      const res = await post({}, '{"user_id":');
      assert.deepEqual([res.status, res.json.error?.code], [401, 'missing_token']);
    });

    for (const method of ['GET', 'PUT', 'PATCH', 'DELETE']) {
      await t.step(`${method} → 405 with Allow and CORS`, async () => {
        const res = await app.fetch(new Request('http://functions.local/sync-profile', { method }));
        assert.deepEqual([res.status, (await res.json()).error.code], [405, 'method_not_allowed']);
        assert.equal(res.headers.get('allow'), 'POST, OPTIONS');
        assert.equal(res.headers.get('access-control-allow-origin'), '*');
      });
    }

    await t.step('a valid token whose user is not in auth.users → 404 user_not_found', async () => {
      const res = await post(userHeaders(await tokenFor(crypto.randomUUID())));
      assert.deepEqual([res.status, res.json.error?.code], [404, 'user_not_found']);
    });

    await t.step('a user deleted after syncing → 404, and the profile is gone', async () => {
      const id = await insertAuthUser(db.sql);
      const token = await tokenFor(id);
      assert.equal((await post(userHeaders(token))).status, 200);
      // Drop the cascade's work out of the picture: the core must remove the orphan itself.
      await db.sql`alter table public.profiles disable trigger all`;
      await db.sql`delete from auth.users where id = ${id}`;
      await db.sql`alter table public.profiles enable trigger all`;
      const res = await post(userHeaders(token));
      assert.deepEqual([res.status, res.json.error?.code], [404, 'user_not_found']);
      assert.equal(await profiles(id), 0);
    });
  } finally {
    await db.drop();
  }
});
