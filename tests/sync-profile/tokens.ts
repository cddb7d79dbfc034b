/**
 * Access tokens for the sync-profile tests: real keys, real signatures, and the forgeries an
 * attacker would try (alg none, HS256 keyed with the public key, tampered payloads).
 * @module
 */
import * as jose from 'jose';
import { DEV_JWKS, DEV_SIGNING_JWK } from '../../local/dev-keys.ts';

const b64 = (value: unknown) => jose.base64url.encode(JSON.stringify(value));

/** Claims of a Supabase user access token; `overrides` replace any of them (undefined removes). */
export function userClaims(issuer: string, sub: string, overrides: Record<string, unknown> = {}) {
  const now = Math.floor(Date.now() / 1000);
  // What verification looks at, plus the session claims every Supabase token has.
  const base = { iss: issuer, sub, aud: 'authenticated', role: 'authenticated', iat: now, exp: now + 3600 };
  const session = { aal: 'aal1', session_id: crypto.randomUUID() };
  const claims: Record<string, unknown> = { ...base, ...session, ...overrides };
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k];
  return claims;
}

/** Signs `claims` with `key` under the given protected header. */
export async function sign(
  claims: Record<string, unknown>,
  key: jose.CryptoKey | Uint8Array,
  header: jose.JWTHeaderParameters,
): Promise<string> {
  return await new jose.SignJWT(claims).setProtectedHeader({ typ: 'JWT', ...header }).sign(key);
}

/** The dev ES256 key (the one the local stack's JWKS serves). */
export const devKey = () => jose.importJWK(DEV_SIGNING_JWK, 'ES256') as Promise<jose.CryptoKey>;
export const DEV_KID = DEV_SIGNING_JWK.kid;

/** A fresh key pair and its public JWK (with kid; no `alg`, as many JWKS publish them). */
export async function newKeyPair(
  alg: 'ES256' | 'RS256' | 'RS512',
  kid = `${alg.toLowerCase()}-${crypto.randomUUID()}`,
) {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await jose.exportJWK(publicKey)), kid, use: 'sig' };
  return { privateKey, jwk, kid };
}

/** An unsigned token (`alg: none`). */
export const unsignedToken = (claims: Record<string, unknown>) =>
  `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims)}.`;

/** HS256 keyed with the public key's JSON text: the algorithm-confusion forgery. */
export async function hs256WithPublicKey(claims: Record<string, unknown>): Promise<string> {
  const secret = new TextEncoder().encode(JSON.stringify(DEV_JWKS.keys[0]));
  return await sign(claims, secret, { alg: 'HS256', kid: DEV_KID });
}

/** A valid token with its payload swapped for `claims`, signature kept. */
export function tamper(token: string, claims: Record<string, unknown>): string {
  const [header, , signature] = token.split('.');
  return `${header}.${b64(claims)}.${signature}`;
}
