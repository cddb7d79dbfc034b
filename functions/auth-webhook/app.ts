/**
 * auth-webhook: drains the delivery queue (profile_sync.deliveries) when the auth.users triggers'
 * signed wake-up arrives through pg_net; a signed single-record Database Webhook
 * ({type, table, schema, record, old_record}) is a wake-up for its user, answered with that
 * user's outcome. Every request is verified (Standard Webhooks) before anything else.
 * Unauthenticated requests cost as little as possible: the headers are checked before a byte of
 * the body is read, the body is capped at what an auth.users event can be, and the HMAC is
 * WebCrypto's.
 * @module
 */
import { AppError } from '../../shared/errors.ts';
import { createFunctionApp, logOutcome, methodNotAllowed, parseJson } from '../../shared/http.ts';
import type { Deps } from '../../shared/serve.ts';
import { createDeliveryBatcher, createDrainer, deliverUsers, isQueueMissing } from '../../shared/deliveries.ts';
import type { DeliveryBatcher } from '../../shared/deliveries.ts';
import type { Sql } from '../../shared/db.ts';
import { syncUser } from '../../shared/sync.ts';
import type { SyncResult } from '../../shared/sync.ts';
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

/** The body of the triggers' wake-up (profile_sync.wake_up_drain): no user data. */
const isWakeUp = (body: unknown) =>
  typeof body === 'object' && body !== null && (body as Record<string, unknown>).type === 'WAKE_UP' &&
  (body as Record<string, unknown>).schema === 'profile_sync' && (body as Record<string, unknown>).table === 'deliveries';

/**
 * A single-record payload's user, through the queue: queued if absent, claimed (unless a drain
 * holds it: then synced directly for the answer), synced and settled together with the users of
 * the payloads arriving meanwhile (createDeliveryBatcher, deliverUsers), so a failure is retried
 * like any delivery. On a database not migrated to the queue yet (functions deployed before `db push`),
 * the user is synced directly, as before the queue.
 */
async function deliverOne(sql: Sql, batcher: DeliveryBatcher, userId: string): Promise<SyncResult> {
  let result: SyncResult | undefined;
  try {
    result = await batcher.deliver(userId);
  } catch (err) {
    if (!isQueueMissing(err)) throw err;
    return await syncUser(sql, userId, 'auth-webhook');
  }
  return result ?? await syncUser(sql, userId, 'auth-webhook');
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

  const drainer = createDrainer(sql, deps.log);
  const batcher = createDeliveryBatcher((ids) => deliverUsers(sql, ids, 'auth-webhook'), config.dbPoolMax);
  // The body, read once its headers pass and its turn comes, verified before anything else.
  const readSigned = createSignedBodyReader(verify, { maxBytes: Math.min(config.maxBodyBytes, config.webhookMaxBodyBytes) });
  app.post('/', async (c) => {
    const text = await readSigned(c);
    const body = parseJson(text);
    if (isWakeUp(body)) {
      const report = await drainer.drain();
      logOutcome(c, 'queue drained', { ...report, webhook_id: c.req.header('webhook-id') });
      return c.json(report);
    }
    const { type, userId } = parseAuthUserEvent(body);
    const { outcome } = await deliverOne(sql, batcher, userId);
    // not_found: neither an auth user nor a profile. For a DELETE that is the goal already reached.
    if (outcome === 'not_found' && type !== 'DELETE') throw new AppError('user_not_found');
    const result = { user_id: userId, outcome: outcome === 'not_found' ? 'deleted' : outcome };
    logOutcome(c, 'auth user synced', { type, ...result, webhook_id: c.req.header('webhook-id') });
    return c.json(result);
  });
  app.all('/', methodNotAllowed(['POST']));
  return app;
}
