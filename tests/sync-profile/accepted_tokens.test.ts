/**
 * sync-profile accepts the user tokens Supabase Auth issues: ES256 and RS256 from the JWKS,
 * HS256 only with the configured legacy secret; the profile comes from auth.users, not the token.
 * @module
 */
import assert from 'node:assert/strict';
import { DEV_JWKS, DEV_SECRET_KEY } from '../../local/dev-keys.ts';
import { PROFILE_COLUMNS } from '../../shared/sync.ts';
import { freshDatabase } from '../helpers/db.ts';
import { insertAuthUser, provider } from '../helpers/users.ts';
import { inProcessApp, ISSUER, userHeaders } from './helpers.ts';
import { DEV_KID, devKey, newKeyPair, sign, userClaims } from './tokens.ts';

const JWT_SECRET = 'legacy-hs256-secret-of-at-least-32-characters';

Deno.test('sync-profile accepts real user tokens and returns the caller profile', async (t) => {
  const db = await freshDatabase('sp_accepted');
  try {
    const rsa = await newKeyPair('RS256');
    const es = await devKey();
    const secret = new TextEncoder().encode(JWT_SECRET);
    const app = inProcessApp(db, {
      SUPABASE_JWKS: JSON.stringify({ keys: [...DEV_JWKS.keys, rsa.jwk] }),
      SUPABASE_JWT_SECRET: JWT_SECRET,
    });
    const now = Math.floor(Date.now() / 1000);
    const es256 = (sub: string, c: Record<string, unknown> = {}) =>
      sign(userClaims(ISSUER, sub, c), es, { alg: 'ES256', kid: DEV_KID });

    const cases: [string, (sub: string) => Promise<string>][] = [
      ['ES256 from the JWKS', (sub) => es256(sub)],
      [
        'RS256 from the JWKS',
        (sub) => sign(userClaims(ISSUER, sub), rsa.privateKey, { alg: 'RS256', kid: rsa.kid }),
      ],
      ['HS256 with the configured secret', (sub) => sign(userClaims(ISSUER, sub), secret, { alg: 'HS256' })],
      ['aud as an array', (sub) => es256(sub, { aud: ['authenticated'] })],
      ['exp a second ago (clock tolerance)', (sub) => es256(sub, { exp: now - 1 })],
      ['anonymous sign-in user', (sub) => es256(sub, { is_anonymous: true })],
    ];
    for (const [name, token] of cases) {
      await t.step(`${name} → 200`, async () => {
        const id = await insertAuthUser(db.sql);
        const res = await app.post(userHeaders(await token(id)));
        assert.equal(res.status, 200);
        assert.equal(res.json.profile?.id, id);
      });
    }

    await t.step('the profile has exactly the public columns, taken from auth.users', async () => {
      const id = await insertAuthUser(db.sql, {
        email: 'grace@example.com',
        ...provider.google('Grace Hopper'),
      });
      // The token's metadata and the body lie; neither may reach the profile.
      const token = await es256(id, { email: 'evil@example.com', user_metadata: { full_name: 'Mallory' } });
      const res = await app.post(userHeaders(token), JSON.stringify({ full_name: 'Mallory', role: 'admin' }));
      assert.equal(res.status, 200);
      const profile = res.json.profile!;
      assert.deepEqual(Object.keys(profile).sort(), [...PROFILE_COLUMNS].sort());
      assert.deepEqual(
        [profile.email, profile.full_name, profile.role, profile.provider],
        ['grace@example.com', 'Grace Hopper', 'user', 'google'],
      );
    });

    await t.step('a secret key as apikey beside a user token syncs that user', async () => {
      const id = await insertAuthUser(db.sql);
      const res = await app.post({ ...userHeaders(await es256(id)), apikey: DEV_SECRET_KEY });
      assert.deepEqual([res.status, res.json.profile?.id], [200, id]);
    });
  } finally {
    await db.drop();
  }
});
