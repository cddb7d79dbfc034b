/**
 * Without SUPABASE_JWKS, keys come from ${SUPABASE_URL}/auth/v1/.well-known/jwks.json over real
 * HTTP: cached, refetched for an unknown kid (after a cooldown), and an outage is 503, never 401.
 * @module
 */
import assert from 'node:assert/strict';
import { DEV_JWKS } from '../../local/dev-keys.ts';
import { freshDatabase } from '../helpers/db.ts';
import { startTestStack } from '../helpers/stack.ts';
import { insertAuthUser } from '../helpers/users.ts';
import { inProcessApp, postStack, startJwksServer, userHeaders } from './helpers.ts';
import { DEV_KID, devKey, newKeyPair, sign, userClaims } from './tokens.ts';

Deno.test('sync-profile with the JWKS fetched over HTTP', async (t) => {
  const db = await freshDatabase('sp_jwks');
  const jwks = startJwksServer([...DEV_JWKS.keys]);
  try {
    const env = { SUPABASE_URL: jwks.url, SUPABASE_JWKS: undefined };
    const key = await devKey();
    const id = await insertAuthUser(db.sql);
    const devToken = await sign(userClaims(jwks.issuer, id), key, { alg: 'ES256', kid: DEV_KID });
    const rotated = await newKeyPair('ES256');
    const rotatedToken = await sign(userClaims(jwks.issuer, id), rotated.privateKey, {
      alg: 'ES256',
      kid: rotated.kid,
    });

    const cached = inProcessApp(db, env);
    await t.step('fetched once, then served from the cache', async () => {
      assert.equal((await cached.post(userHeaders(devToken))).status, 200);
      assert.equal((await cached.post(userHeaders(devToken))).status, 200);
      assert.equal(jwks.fetches, 1);
    });

    await t.step('an unknown kid within the cooldown: 401 without a refetch', async () => {
      jwks.keys.push(rotated.jwk);
      const res = await cached.post(userHeaders(rotatedToken));
      assert.deepEqual([res.status, res.json.error?.code, jwks.fetches], [401, 'invalid_token', 1]);
    });

    const eager = inProcessApp(db, env, { cooldownMs: 0 });
    await t.step('a key rotated in is fetched on its unknown kid', async () => {
      jwks.keys.splice(0, jwks.keys.length, ...DEV_JWKS.keys);
      assert.equal((await eager.post(userHeaders(devToken))).status, 200);
      const before = jwks.fetches;
      jwks.keys.push(rotated.jwk);
      const res = await eager.post(userHeaders(rotatedToken));
      assert.deepEqual([res.status, res.json.profile?.id, jwks.fetches], [200, id, before + 1]);
    });

    await t.step('the JWKS endpoint failing (500) → 503 jwks_unavailable', async () => {
      jwks.status = 500;
      const res = await inProcessApp(db, env).post(userHeaders(devToken));
      assert.deepEqual([res.status, res.json.error?.code], [503, 'jwks_unavailable']);
      jwks.status = 200;
    });

    await t.step('the JWKS server stopped → 503 with Retry-After; cached keys still work', async () => {
      await jwks.close();
      const stranger = await newKeyPair('ES256');
      const unknownKid = await sign(userClaims(jwks.issuer, id), stranger.privateKey, {
        alg: 'ES256',
        kid: stranger.kid,
      });
      const refetch = await eager.post(userHeaders(unknownKid));
      assert.deepEqual([refetch.status, refetch.json.error?.code], [503, 'jwks_unavailable']);
      assert.equal(refetch.headers.get('retry-after'), '5');
      const firstFetch = await inProcessApp(db, env).post(userHeaders(devToken));
      assert.deepEqual([firstFetch.status, firstFetch.json.error?.code], [503, 'jwks_unavailable']);
      assert.equal((await eager.post(userHeaders(devToken))).status, 200);
    });

    await t.step(
      'over HTTP: the local stack with its JWKS host down → 503, CORS, logged without the token',
      async () => {
        const stack = await startTestStack(db.url, { env });
        try {
          const res = await postStack(stack, userHeaders(devToken));
          assert.deepEqual([res.status, res.json.error?.code], [503, 'jwks_unavailable']);
          assert.equal(res.headers.get('access-control-allow-origin'), '*');
          const logged = stack.logs.join('\n');
          assert.match(logged, /jwks_unavailable/);
          assert.ok(!logged.includes(devToken.split('.')[2]), 'the token reached the log');
        } finally {
          await stack.close();
        }
      },
    );
  } finally {
    await jwks.close().catch(() => {});
    await db.drop();
  }
});
