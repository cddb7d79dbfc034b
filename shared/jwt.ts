/**
 * Verification of Supabase Auth access tokens with jose: ES256/RS256 against the project's JWKS
 * (SUPABASE_JWKS, else fetched and cached), HS256 only with the legacy secret; user tokens only.
 * @module
 */
import * as jose from 'jose';
import type { Config } from './config.ts';
import { AppError } from './errors.ts';
import { isUuid } from './uuid.ts';

/** The claims of a verified user access token (supabase-facts §6.2); `sub` is the user id. */
export type UserClaims = jose.JWTPayload & { sub: string; role: 'authenticated' };

/** Verifies an access token; throws AppError invalid_token (401) or jwks_unavailable (503). */
export type TokenVerifier = (token: string) => Promise<UserClaims>;

export type VerifierOptions = {
  /** How the remote JWKS is fetched (default: global fetch). */
  fetch?: typeof fetch;
  /** Minimum time between refetches on an unknown `kid`, so forged kids cannot flood Auth. */
  cooldownMs?: number;
  /** How long a fetched JWKS is trusted before it is fetched again. */
  cacheMaxAgeMs?: number;
  /** Time allowed for one JWKS fetch. */
  timeoutMs?: number;
};

const AUDIENCE = 'authenticated';
const ASYMMETRIC = ['ES256', 'RS256'];
// Tolerates small clock differences between Auth and the edge for exp/nbf, nothing more.
const CLOCK_TOLERANCE_S = 5;

// Which claim failed is safe to say (the signature was already good) and tells an operator when
// SUPABASE_URL does not match the issuer; why a signature failed is not said.
function claimDetail(err: jose.errors.JOSEError): string | undefined {
  if (err instanceof jose.errors.JWTExpired) return 'The token has expired.';
  if (err instanceof jose.errors.JWTClaimValidationFailed) return `The "${err.claim}" claim is not accepted.`;
  return undefined;
}

type KeyFn = (header: jose.JWSHeaderParameters, token: jose.FlattenedJWSInput) => Promise<jose.CryptoKey>;

/** The JWKS key resolver: the configured set, else the project's well-known endpoint. */
function jwksResolver(config: Pick<Config, 'supabaseUrl' | 'jwks'>, options: VerifierOptions): KeyFn {
  if (config.jwks) return jose.createLocalJWKSet(config.jwks as jose.JSONWebKeySet);
  const url = new URL(`${config.supabaseUrl}/auth/v1/.well-known/jwks.json`);
  const remote = jose.createRemoteJWKSet(url, {
    cooldownDuration: options.cooldownMs ?? 30_000,
    cacheMaxAge: options.cacheMaxAgeMs ?? 10 * 60_000,
    timeoutDuration: options.timeoutMs ?? 5_000,
    ...(options.fetch ? { [jose.customFetch]: options.fetch } : {}),
  });
  return async (header, token) => {
    try {
      return await remote(header, token);
    } catch (err) {
      // No key for this kid is the token's fault; anything else (network, non-200, bad JSON) is
      // ours, and must not tell a signed-in user their token is bad.
      if (
        err instanceof jose.errors.JWKSNoMatchingKey || err instanceof jose.errors.JWKSMultipleMatchingKeys
      ) {
        throw err;
      }
      throw new AppError('jwks_unavailable', { cause: err, headers: { 'Retry-After': '5' } });
    }
  };
}

/**
 * Builds the verifier once per isolate (the remote JWKS cache lives in it). Accepts only
 * ES256/RS256 from the JWKS and, when `jwtSecret` is set, HS256 with that secret.
 */
export function createTokenVerifier(
  config: Pick<Config, 'supabaseUrl' | 'issuer' | 'jwks' | 'jwtSecret'>,
  options: VerifierOptions = {},
): TokenVerifier {
  const jwks = jwksResolver(config, options);
  const secret = config.jwtSecret ? new TextEncoder().encode(config.jwtSecret) : undefined;
  const algorithms = secret ? [...ASYMMETRIC, 'HS256'] : ASYMMETRIC;
  // jose has already refused any alg outside `algorithms` before this runs.
  const key = (header: jose.JWSHeaderParameters, token: jose.FlattenedJWSInput) =>
    header.alg === 'HS256' && secret ? Promise.resolve(secret) : jwks(header, token);

  return async (token) => {
    let payload: jose.JWTPayload;
    try {
      ({ payload } = await jose.jwtVerify(token, key, {
        algorithms,
        issuer: config.issuer,
        audience: AUDIENCE,
        clockTolerance: CLOCK_TOLERANCE_S,
        requiredClaims: ['exp', 'sub'],
      }));
    } catch (err) {
      if (err instanceof jose.errors.JOSEError) {
        throw new AppError('invalid_token', { cause: err, detail: claimDetail(err) });
      }
      throw err;
    }
    // An anon or service_role key is a valid JWT too, but names no user.
    if (payload.role !== 'authenticated') {
      throw new AppError('invalid_token', { detail: 'Not a user token.' });
    }
    if (!isUuid(payload.sub)) {
      throw new AppError('invalid_token', { detail: 'The subject is not a user id.' });
    }
    return payload as UserClaims;
  };
}
