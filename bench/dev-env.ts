/**
 * Helper the Node launcher runs with Deno: reads {dbUrl, supabaseUrl, tokenFor} as JSON on stdin
 * and prints {env, webhookSecret, secretKey, tokens}: the functions' dev environment and a dev
 * access token per user id (local/dev-keys.ts, the same keys the local stack uses).
 * @module
 */
import { DEV_SECRET_KEY, DEV_WEBHOOK_SECRET, devEnv, signDevAccessToken } from '../local/dev-keys.ts';

type Input = { dbUrl: string; supabaseUrl: string; tokenFor?: string[] };

const input = JSON.parse(await new Response(Deno.stdin.readable).text()) as Input;
const tokens: Record<string, string> = {};
for (const id of input.tokenFor ?? []) tokens[id] = await signDevAccessToken(input.supabaseUrl, id);
console.log(JSON.stringify({
  env: devEnv(input.dbUrl, input.supabaseUrl),
  webhookSecret: DEV_WEBHOOK_SECRET,
  secretKey: DEV_SECRET_KEY,
  tokens,
}));
