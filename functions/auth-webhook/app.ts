/**
 * auth-webhook: receives the signed Database Webhook the auth.users trigger sends through pg_net,
 * verifies it (Standard Webhooks) before anything else, and syncs the named user via the core.
 * Unauthenticated requests cost as little as possible: the headers are checked before a byte of
 * the body is read, the body is capped at what an auth.users event can be, and the HMAC is
 * WebCrypto's.
 * @module
 */
import { AppError } from '../../shared/errors.ts';
import { createFunctionApp, logOutcome, methodNotAllowed, parseJson } from '../../shared/http.ts';
import type { Deps } from '../../shared/serve.ts';
import { syncUser } from '../../shared/sync.ts';
import { createSignedBodyReader, createWebhookVerifier } from '../../shared/webhook.ts';
import type { WebhookVerifier } from '../../shared/webhook.ts';
import { parseAuthUserEvent } from '../../shared/webhook-payload.ts';

/**
 * Without a webhook secret the app still builds (the local stack keeps serving the other
 * functions) but refuses every request with 503 webhook_not_configured; index.ts refuses to boot.
 */
function verifierOrNone(deps: Deps): WebhookVerifier | undefined {
  if (deps.config.webhookSecrets.length > 0) return createWebhookVerifier(deps.config.webhookSecrets);
  deps.log.error('auth-webhook is disabled: PROFILE_SYNC_WEBHOOK_SECRET is not set; every request gets 503', {
    fn: 'auth-webhook',
  });
  return undefined;
}

export function createApp(deps: Deps) {
  const { config, sql } = deps;
  const verify = verifierOrNone(deps);
  const app = createFunctionApp('auth-webhook', deps.log);

  if (!verify) {
    app.all('*', () => {
      throw new AppError('webhook_not_configured');
    });
    return app;
  }

  // The body, read once its headers pass and its turn comes, verified before anything else.
  const readSigned = createSignedBodyReader(verify, { maxBytes: Math.min(config.maxBodyBytes, config.webhookMaxBodyBytes) });
  app.post('/', async (c) => {
    const text = await readSigned(c);
    const { type, userId } = parseAuthUserEvent(parseJson(text));
    const { outcome } = await syncUser(sql, userId, 'auth-webhook');
    // not_found: neither an auth user nor a profile. For a DELETE that is the goal already reached.
    if (outcome === 'not_found' && type !== 'DELETE') throw new AppError('user_not_found');
    const result = { user_id: userId, outcome: outcome === 'not_found' ? 'deleted' : outcome };
    logOutcome(c, 'auth user synced', { type, ...result, webhook_id: c.req.header('webhook-id') });
    return c.json(result);
  });
  app.all('/', methodNotAllowed(['POST']));
  return app;
}
