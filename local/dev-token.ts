/**
 * The local stack's dev sign-in: `GET /auth/v1/dev/token?user_id=<id>` with an admin key answers
 * an access token for that auth user, signed with the dev key the stack's JWKS serves, with the
 * claims Supabase Auth would put in it (email, phone, metadata, is_anonymous). Only served while
 * the stack is its own Auth (no SUPABASE_URL or SUPABASE_JWKS given): a token of a real project
 * comes from that project's Auth.
 * @module
 */
import { hasAdminCredential } from '../shared/admin.ts';
import type { Deps } from '../shared/serve.ts';
import { isUuid } from '../shared/uuid.ts';
import { signDevAccessToken } from './dev-keys.ts';

export const DEV_TOKEN_PATH = '/auth/v1/dev/token';
const EXPIRES_IN = 3600;

const refuse = (status: number, code: string, message: string) =>
  Response.json({ error: { code, message } }, { status });

export async function devTokenResponse(req: Request, deps: Deps): Promise<Response> {
  if (req.method !== 'GET' && req.method !== 'POST') return refuse(405, 'method_not_allowed', 'Use GET or POST.');
  if (!hasAdminCredential(req.headers, deps.config.adminKeys)) {
    return refuse(401, 'invalid_credentials', 'Send the secret key as apikey (it is in the banner of `npm run dev`).');
  }
  const userId = new URL(req.url).searchParams.get('user_id');
  if (!isUuid(userId)) return refuse(400, 'invalid_user_id', 'Give ?user_id=<an auth.users id>.');
  const [user] = await deps.sql<{
    email: string | null; phone: string | null; app_metadata: unknown; user_metadata: unknown; is_anonymous: boolean;
  }[]>`
    select email, phone, raw_app_meta_data as app_metadata, raw_user_meta_data as user_metadata, is_anonymous
    from auth.users where id = ${userId}`;
  if (!user) return refuse(404, 'user_not_found', 'No auth user has this id.');
  const token = await signDevAccessToken(deps.config.supabaseUrl, userId, {
    email: user.email ?? '',
    phone: user.phone ?? '',
    app_metadata: user.app_metadata ?? {},
    user_metadata: user.user_metadata ?? {},
    is_anonymous: user.is_anonymous,
  }, EXPIRES_IN);
  return Response.json({ access_token: token, token_type: 'bearer', expires_in: EXPIRES_IN, user_id: userId });
}
