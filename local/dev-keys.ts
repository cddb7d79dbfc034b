/**
 * Well-known keys of the local stack, like the Supabase CLI's local demo keys: for the embedded
 * database on 127.0.0.1 only. Never use them for a deployed project.
 * @module
 */
import * as jose from 'jose';
import keys from './dev-keys.json' with { type: 'json' };

/** ES256 signing key of the local stack's dev Auth (its public half is served as the JWKS). */
export const DEV_SIGNING_JWK = keys.signingJwk;

export const DEV_JWKS = {
  keys: [(({ d: _d, ...pub }) => pub)(DEV_SIGNING_JWK)],
};

export const DEV_SECRET_KEY = keys.secretKey;
export const DEV_PUBLISHABLE_KEY = keys.publishableKey;
export const DEV_WEBHOOK_SECRET = keys.webhookSecret;

/** Environment of the local stack's functions, as Supabase sets it for deployed ones. */
export function devEnv(dbUrl: string, supabaseUrl: string): Record<string, string> {
  return {
    SUPABASE_DB_URL: dbUrl,
    SUPABASE_URL: supabaseUrl,
    SUPABASE_JWKS: JSON.stringify(DEV_JWKS),
    SUPABASE_SECRET_KEYS: JSON.stringify({ default: DEV_SECRET_KEY }),
    SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: DEV_PUBLISHABLE_KEY }),
    PROFILE_SYNC_WEBHOOK_SECRET: DEV_WEBHOOK_SECRET,
  };
}

/**
 * An access token as Supabase Auth issues it (ES256, kid, iss `${supabaseUrl}/auth/v1`,
 * aud/role `authenticated`), signed with the dev key. `claims` override any default.
 */
export async function signDevAccessToken(
  supabaseUrl: string,
  sub: string,
  claims: Record<string, unknown> = {},
  expiresIn: string | number = '1h',
): Promise<string> {
  const key = await jose.importJWK(DEV_SIGNING_JWK, 'ES256');
  return await new jose.SignJWT({
    aud: 'authenticated',
    role: 'authenticated',
    aal: 'aal1',
    session_id: crypto.randomUUID(),
    is_anonymous: false,
    email: '',
    phone: '',
    app_metadata: {},
    user_metadata: {},
    ...claims,
  })
    .setProtectedHeader({ alg: 'ES256', kid: DEV_SIGNING_JWK.kid, typ: 'JWT' })
    .setSubject(sub)
    .setIssuer(`${supabaseUrl.replace(/\/+$/, '')}/auth/v1`)
    .setIssuedAt()
    // a number is seconds from now (jose would read a bare number as an absolute time)
    .setExpirationTime(typeof expiresIn === 'number' ? `${expiresIn}s` : expiresIn)
    .sign(key);
}
