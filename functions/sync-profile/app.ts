/**
 * sync-profile: the frontend's call after sign-in. Verifies the caller's access token, syncs the
 * caller's profile from the current auth.users row and returns it; an admin may name any user.
 * @module
 */
import type { Context } from 'hono';
import { z } from 'zod';
import { bearerToken, hasAdminCredential, isAdminKey } from '../../shared/admin.ts';
import { AppError } from '../../shared/errors.ts';
import { createFunctionApp, logOutcome, methodNotAllowed, parseJson, readBodyText } from '../../shared/http.ts';
import type { AppEnv } from '../../shared/http.ts';
import { createTokenVerifier } from '../../shared/jwt.ts';
import type { TokenVerifier } from '../../shared/jwt.ts';
import type { Deps } from '../../shared/serve.ts';
import { syncProfile } from '../../shared/sync.ts';
import { isUuid } from '../../shared/uuid.ts';

// Unknown keys are ignored so a frontend may send whatever its framework adds.
const Body = z.object({
  user_id: z.string().refine(isUuid, 'user_id must be a uuid').optional(),
});
type Body = z.infer<typeof Body>;

async function readBody(c: Context<AppEnv>, maxBytes: number): Promise<Body> {
  const text = await readBodyText(c, maxBytes);
  // supabase-js sends no body when invoke() is called without one.
  if (text.trim() === '') return {};
  const parsed = Body.safeParse(parseJson(text));
  if (!parsed.success) {
    throw new AppError('invalid_payload', { detail: parsed.error.issues[0]?.message });
  }
  return parsed.data;
}

/** The user token on the request, if any: a Bearer value that is not an admin key. */
function userToken(c: Context<AppEnv>, adminKeys: readonly string[]): string | undefined {
  const token = bearerToken(c.req.raw.headers);
  if (token) return isAdminKey(token, adminKeys) ? undefined : token;
  // Present but not `Bearer <token>` is a bad credential, not a missing one.
  if (c.req.header('authorization')?.trim()) throw new AppError('invalid_token');
  return undefined;
}

/**
 * Whom to sync. A user syncs themself (naming another user is 403). An admin credential names
 * the user in `user_id`; supabase-js's publishable `apikey` is no admin credential, so a browser
 * call always takes the user path.
 */
async function targetUser(
  c: Context<AppEnv>,
  deps: Deps,
  verify: TokenVerifier,
): Promise<[string, 'user' | 'admin']> {
  const { adminKeys, maxBodyBytes } = deps.config;
  if (hasAdminCredential(c.req.raw.headers, adminKeys)) {
    const body = await readBody(c, maxBodyBytes);
    // With user_id the Authorization header is not looked at (a gateway may have rewritten it).
    if (body.user_id) return [body.user_id, 'admin'];
    // A server calling on behalf of a signed-in user: its secret key plus the user's token.
    const token = userToken(c, adminKeys);
    if (token) return [(await verify(token)).sub, 'user'];
    throw new AppError('invalid_payload', { detail: 'user_id is required with an admin credential.' });
  }
  // Authenticate before reading a body from anyone.
  const token = userToken(c, adminKeys);
  if (!token) throw new AppError('missing_token');
  const claims = await verify(token);
  const body = await readBody(c, maxBodyBytes);
  if (body.user_id && body.user_id.toLowerCase() !== claims.sub.toLowerCase()) {
    throw new AppError('forbidden', { detail: 'A user token may only sync its own profile.' });
  }
  return [claims.sub, 'user'];
}

/** Response header: `row` when a user's call came within 10 s of their last sync (docs/paths.md). */
export const SERVED_FROM = 'Profile-Sync-Served-From';

export function createApp(deps: Deps, options: { verifyToken?: TokenVerifier } = {}) {
  const verify = options.verifyToken ?? createTokenVerifier(deps.config);
  const app = createFunctionApp('sync-profile', deps.log, { cors: true });

  app.post('/', async (c) => {
    const [userId, by] = await targetUser(c, deps, verify);
    // A caller that has gone away reads no answer: no sync is started for it.
    if (c.req.raw.signal.aborted) throw new AppError('request_aborted', { detail: 'The client went away before the sync.' });
    // One SQL call: the ban check (access tokens outlive a ban by up to an hour; Auth refuses a
    // banned user, and so do we), the sync from the current auth.users row (nothing from the token
    // or body reaches the profile) and the row as the user may read it.
    const { outcome, banned, profile } = await syncProfile(deps.sql, userId, by === 'user');
    if (banned) throw new AppError('forbidden', { detail: 'This user is banned.' });
    logOutcome(c, 'profile synced', { user_id: userId, outcome, by });
    if (outcome === 'failed') throw new AppError('profile_rejected');
    // A soft-deleted user's tombstone is not theirs to read: same answer as a user who is gone.
    if (!profile) throw new AppError('user_not_found');
    // Whether this answer is a sync's or the row as a recent sync left it (the shape is the same).
    c.header(SERVED_FROM, outcome === 'served_from_row' ? 'row' : 'sync');
    c.header('Access-Control-Expose-Headers', SERVED_FROM);
    return c.json({ profile });
  });
  app.all('/', methodNotAllowed(['POST', 'OPTIONS']));
  return app;
}
