/**
 * Static server of the example page, on its own origin as a real frontend is: the page, its
 * script, supabase-js's browser build from node_modules and config.json; against the local stack
 * also /dev-sign-in?user_id=…, which signs the browser in with a dev-key token (no Auth locally).
 * @module
 */
import { DEV_PUBLISHABLE_KEY, signDevAccessToken } from '../../local/dev-keys.ts';
import { isUuid } from '../../shared/uuid.ts';

const HERE = new URL('./', import.meta.url);
const JS = 'text/javascript; charset=utf-8';
const FILES: Record<string, [URL, string]> = {
  '/': [new URL('index.html', HERE), 'text/html; charset=utf-8'],
  '/app.js': [new URL('app.js', HERE), JS],
  '/vendor/supabase.js': [new URL('../../node_modules/@supabase/supabase-js/dist/umd/supabase.js', HERE), JS],
};

export type ExampleOptions = {
  /** Project URL the page talks to (the local stack: http://127.0.0.1:54321). */
  supabaseUrl: string;
  publishableKey: string;
  port?: number;
  hostname?: string;
};

// JSON that is safe inside an inline <script>.
const inlineJson = (value: unknown) => JSON.stringify(value).replace(/</g, '\\u003c');

/**
 * A page that stores a session for `userId` where supabase-js keeps it and goes back to `/`,
 * where supabase-js finds it and emits SIGNED_IN, as after a real sign-in.
 */
async function devSignInPage(supabaseUrl: string, userId: string): Promise<string> {
  const lifetime = 3600;
  const session = {
    access_token: await signDevAccessToken(supabaseUrl, userId, {}, `${lifetime}s`),
    refresh_token: 'local-dev-only',
    token_type: 'bearer',
    expires_in: lifetime,
    expires_at: Math.floor(Date.now() / 1000) + lifetime,
    user: { id: userId, aud: 'authenticated', role: 'authenticated', app_metadata: {}, user_metadata: {} },
  };
  // supabase-js's default storage key: sb-<first label of the project host>-auth-token.
  const storageKey = `sb-${new URL(supabaseUrl).hostname.split('.')[0]}-auth-token`;
  return `<!doctype html><meta charset="utf-8"><title>dev sign-in</title><script>
localStorage.setItem(${inlineJson(storageKey)}, ${inlineJson(JSON.stringify(session))});
location.replace('/');
</script>`;
}

export function serveExample(options: ExampleOptions) {
  const { supabaseUrl, publishableKey } = options;
  const hostname = options.hostname ?? '127.0.0.1';
  // Only the local stack's well-known dev key can mint tokens; never for a real project.
  const devSignIn = publishableKey === DEV_PUBLISHABLE_KEY;
  const config = JSON.stringify({ supabaseUrl, publishableKey });

  const server = Deno.serve({ hostname, port: options.port ?? 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    if (req.method !== 'GET') return new Response('Method not allowed\n', { status: 405 });
    if (url.pathname === '/config.json') {
      return new Response(config, {
        headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
      });
    }
    if (url.pathname === '/dev-sign-in' && devSignIn) {
      const userId = url.searchParams.get('user_id');
      if (!isUuid(userId)) return new Response('user_id must be a uuid\n', { status: 400 });
      return new Response(await devSignInPage(supabaseUrl, userId), {
        headers: { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' },
      });
    }
    const file = FILES[url.pathname];
    if (!file) return new Response('Not found\n', { status: 404 });
    return new Response(await Deno.readFile(file[0]), { headers: { 'content-type': file[1] } });
  });
  return {
    url: `http://${hostname}:${server.addr.port}`,
    close: () => server.shutdown(),
  };
}

if (import.meta.main) {
  const env = Deno.env.toObject();
  const supabaseUrl = env.SUPABASE_URL ?? 'http://127.0.0.1:54321';
  const example = serveExample({
    supabaseUrl,
    publishableKey: env.SUPABASE_PUBLISHABLE_KEY ?? DEV_PUBLISHABLE_KEY,
    port: Number(env.PORT ?? 54380),
  });
  console.error(`example page on ${example.url}/ (functions at ${supabaseUrl}/functions/v1/)`);
  if (!env.SUPABASE_PUBLISHABLE_KEY) {
    console.error(`sign in locally: ${example.url}/dev-sign-in?user_id=<auth.users id>`);
  }
}
