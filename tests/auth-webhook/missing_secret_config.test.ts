/**
 * Without PROFILE_SYNC_WEBHOOK_SECRET the deployed function refuses to boot with a message saying
 * what to set; the local stack keeps serving the other functions and auth-webhook answers every
 * request with 503 webhook_not_configured, never as if the sender's signature were wrong.
 */
import assert from 'node:assert/strict';
import { fileURLToPath as fromFileUrl } from 'node:url';
import { loadConfig, ConfigError } from '../../shared/config.ts';
import { createWebhookVerifier, requireWebhookSecrets } from '../../shared/webhook.ts';
import { freshDatabase } from '../helpers/db.ts';
import { startTestStack } from '../helpers/stack.ts';
import { minimalEvent, postWebhook, webhookUrl } from './helpers.ts';

Deno.test('the deployed entry point exits at boot without a webhook secret', async () => {
  const entry = fromFileUrl(new URL('../../functions/auth-webhook/index.ts', import.meta.url));
  const out = await new Deno.Command(Deno.execPath(), {
    args: ['run', '-A', '--no-prompt', entry],
    clearEnv: true,
    env: {
      PATH: Deno.env.get('PATH') ?? '',
      HOME: Deno.env.get('HOME') ?? '/tmp',
      ...(Deno.env.get('DENO_DIR') ? { DENO_DIR: Deno.env.get('DENO_DIR')! } : {}),
      SUPABASE_DB_URL: 'postgresql://postgres:postgres@127.0.0.1:9/postgres',
      SUPABASE_URL: 'http://127.0.0.1:9',
      NO_COLOR: '1',
    },
    stdout: 'piped',
    stderr: 'piped',
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.notEqual(out.code, 0);
  assert.match(stderr, /PROFILE_SYNC_WEBHOOK_SECRET is not set: auth-webhook refuses to start/);
});

Deno.test('the shared checks name the variable, never the secret', () => {
  const config = loadConfig({ SUPABASE_DB_URL: 'postgres://x@127.0.0.1/db', SUPABASE_URL: 'http://127.0.0.1:1' });
  assert.throws(() => requireWebhookSecrets(config), ConfigError);
  const undecodable = 'whsec_AAAA=AAAAAAAAAAAAAAAA';
  assert.throws(() => createWebhookVerifier([undecodable]), (err: Error) =>
    err instanceof ConfigError && /secret #1/.test(err.message) && !err.message.includes('AAAA'));
});

Deno.test('the local stack without a webhook secret: auth-webhook answers 503, the others still serve', async () => {
  const db = await freshDatabase('webhook_nosecret');
  const stack = await startTestStack(db.url, { env: { PROFILE_SYNC_WEBHOOK_SECRET: undefined } });
  try {
    assert.match(stack.logs.join('\n'), /"level":"error","msg":"auth-webhook is disabled: PROFILE_SYNC_WEBHOOK_SECRET is not set/);
    const post = await postWebhook(stack, minimalEvent('INSERT', crypto.randomUUID()));
    assert.equal(post.status, 503);
    assert.equal((post.json.error as { code: string }).code, 'webhook_not_configured');
    const get = await fetch(webhookUrl(stack));
    assert.equal(get.status, 503);
    await get.body?.cancel();
    const other = await fetch(`${stack.url}/functions/v1/reconcile`);
    const otherBody = await other.text();
    assert.ok(other.status !== 503 && !otherBody.includes('webhook_not_configured'), `${other.status} ${otherBody}`);
  } finally {
    await stack.close();
    await db.drop();
  }
});
