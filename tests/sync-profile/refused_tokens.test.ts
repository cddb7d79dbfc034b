/**
 * sync-profile refuses every missing, malformed, forged or non-user token with a coded 401
 * (CORS headers included) and writes nothing; no token reaches the log.
 * @module
 */
import assert from 'node:assert/strict';
import { DEV_JWKS, DEV_PUBLISHABLE_KEY, DEV_SECRET_KEY } from '../../local/dev-keys.ts';
import { freshDatabase } from '../helpers/db.ts';
import { insertAuthUser } from '../helpers/users.ts';
import { inProcessApp, ISSUER } from './helpers.ts';
import {
  DEV_KID,
  devKey,
  hs256WithPublicKey,
  newKeyPair,
  sign,
  tamper,
  unsignedToken,
  userClaims,
} from './tokens.ts';

const JWT_SECRET = 'legacy-hs256-secret-of-at-least-32-characters';

Deno.test('sync-profile refuses bad tokens with 401 and writes nothing', async (t) => {
  const db = await freshDatabase('sp_refused');
  try {
    // An RSA key in the JWKS without `alg`: only the verifier's allowlist stops RS512 with it.
    const rs512 = await newKeyPair('RS512');
    const stranger = await newKeyPair('ES256', DEV_KID); // the dev key's kid, another key
    const unknown = await newKeyPair('ES256');
    const es = await devKey();
    const secret = new TextEncoder().encode(JWT_SECRET);
    const legacyKey = (role: string) =>
      sign({ iss: 'supabase', ref: 'local', role, iat: 1, exp: 4102444800 }, secret, { alg: 'HS256' });
    const serviceRoleKey = await legacyKey('service_role');
    const anonKey = await legacyKey('anon');

    const jwks = JSON.stringify({ keys: [...DEV_JWKS.keys, rs512.jwk] });
    const plain = inProcessApp(db, { SUPABASE_JWKS: jwks });
    const withSecret = inProcessApp(db, {
      SUPABASE_JWKS: jwks,
      SUPABASE_JWT_SECRET: JWT_SECRET,
      SUPABASE_SERVICE_ROLE_KEY: serviceRoleKey,
    });

    // Every token names `victim`, who exists: a token wrongly accepted would create a profile.
    const victim = await insertAuthUser(db.sql);
    const claims = (overrides: Record<string, unknown> = {}) => userClaims(ISSUER, victim, overrides);
    const es256 = (c: Record<string, unknown>) => sign(c, es, { alg: 'ES256', kid: DEV_KID });
    const now = Math.floor(Date.now() / 1000);

    type Case = [
      name: string,
      headers: Record<string, string> | string,
      status: number,
      code: string,
      app?: 'secret',
    ];
    const cases: Case[] = [
      ['no Authorization header', {}, 401, 'missing_token'],
      ['only the publishable apikey', { apikey: DEV_PUBLISHABLE_KEY }, 401, 'missing_token'],
      ['Authorization not Bearer', { authorization: 'Basic dXNlcjpwYXNz' }, 401, 'invalid_token'],
      ['Bearer without a token', { authorization: 'Bearer' }, 401, 'invalid_token'],
      ['not a JWT', 'not-a-jwt', 401, 'invalid_token'],
      ['publishable key as Bearer', DEV_PUBLISHABLE_KEY, 401, 'invalid_token'],
      ['alg none', unsignedToken(claims()), 401, 'invalid_token'],
      ['alg none, HS256 secret configured', unsignedToken(claims()), 401, 'invalid_token', 'secret'],
      ['HS256 keyed with the public key', await hs256WithPublicKey(claims()), 401, 'invalid_token'],
      [
        'HS256 keyed with the public key, secret configured',
        await hs256WithPublicKey(claims()),
        401,
        'invalid_token',
        'secret',
      ],
      [
        'HS256 with the real secret while none is configured',
        await sign(claims(), secret, { alg: 'HS256' }),
        401,
        'invalid_token',
      ],
      [
        'RS512 with a key of the JWKS',
        await sign(claims(), rs512.privateKey, { alg: 'RS512', kid: rs512.kid }),
        401,
        'invalid_token',
      ],
      ['wrong issuer', await es256(claims({ iss: 'https://evil.example/auth/v1' })), 401, 'invalid_token'],
      ['no issuer', await es256(claims({ iss: undefined })), 401, 'invalid_token'],
      ['wrong audience', await es256(claims({ aud: 'other' })), 401, 'invalid_token'],
      ['expired', await es256(claims({ iat: now - 7200, exp: now - 60 })), 401, 'invalid_token'],
      ['no exp', await es256(claims({ exp: undefined })), 401, 'invalid_token'],
      ['nbf in the future', await es256(claims({ nbf: now + 120 })), 401, 'invalid_token'],
      [
        'unknown kid',
        await sign(claims(), unknown.privateKey, { alg: 'ES256', kid: unknown.kid }),
        401,
        'invalid_token',
      ],
      [
        'known kid, signed by another key',
        await sign(claims(), stranger.privateKey, { alg: 'ES256', kid: DEV_KID }),
        401,
        'invalid_token',
      ],
      [
        'tampered payload',
        tamper(await es256(userClaims(ISSUER, crypto.randomUUID())), claims()),
        401,
        'invalid_token',
      ],
      ['anon role, validly signed', await es256(claims({ role: 'anon' })), 401, 'invalid_token'],
      ['legacy anon key', anonKey, 401, 'invalid_token', 'secret'],
      [
        'service_role token on the user path',
        await es256(claims({ role: 'service_role' })),
        401,
        'invalid_token',
      ],
      ['legacy service-role key where it is no admin key', serviceRoleKey, 401, 'invalid_token'],
      ['sub not a uuid', await es256(userClaims(ISSUER, 'not-a-uuid')), 401, 'invalid_token'],
      ['no sub', await es256(claims({ sub: undefined })), 401, 'invalid_token'],
      // An admin credential is no user: it must name the user to sync.
      ['admin service-role key without user_id', serviceRoleKey, 400, 'invalid_payload', 'secret'],
      ['admin secret key without user_id', { apikey: DEV_SECRET_KEY }, 400, 'invalid_payload'],
    ];

    for (const [name, headers, status, code, which] of cases) {
      await t.step(`${name} → ${status} ${code}`, async () => {
        const h = typeof headers === 'string' ? { authorization: `Bearer ${headers}` } : headers;
        const res = await (which === 'secret' ? withSecret : plain).post(h);
        assert.deepEqual([res.status, res.json.error?.code], [status, code]);
        assert.equal(res.headers.get('access-control-allow-origin'), '*');
      });
    }

    await t.step('nothing was written', async () => {
      const [{ n }] = await db.sql`select count(*)::int as n from public.profiles`;
      assert.equal(n, 0);
    });

    await t.step('an expired token says so; a wrong issuer names the claim', async () => {
      const expired = await plain.post({ authorization: `Bearer ${await es256(claims({ exp: now - 60 }))}` });
      assert.match(expired.json.error!.message, /expired/);
      const wrongIss = await plain.post({
        authorization: `Bearer ${await es256(claims({ iss: 'https://x/auth/v1' }))}`,
      });
      assert.match(wrongIss.json.error!.message, /"iss"/);
    });

    await t.step('no token or key reaches the log', () => {
      const text = [...plain.logs, ...withSecret.logs].join('\n');
      assert.ok(text.includes('request refused'), 'the refusals were logged');
      for (const s of ['eyJ', DEV_SECRET_KEY, JWT_SECRET]) {
        assert.ok(!text.includes(s), `log holds ${s.slice(0, 8)}…`);
      }
    });
  } finally {
    await db.drop();
  }
});
