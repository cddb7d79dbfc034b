/**
 * Helpers of the auth-webhook tests: Standard-Webhooks-signed requests made with the
 * `standardwebhooks` library (as Supabase Auth signs its hooks), Vault set-up and polling.
 * @module
 */
import { Webhook } from 'standardwebhooks';
import type { Sql } from '../../shared/db.ts';
import { DEV_WEBHOOK_SECRET } from '../../local/dev-keys.ts';

export { DEV_WEBHOOK_SECRET };

/** A fresh `v1,whsec_<base64 of 32 random bytes>` secret, the format Supabase documents. */
export function newWebhookSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return `v1,whsec_${btoa(String.fromCharCode(...bytes))}`;
}

/** The three Standard Webhooks headers for body, signed with secret (`v1,whsec_…` or `whsec_…`). */
export function signHeaders(
  body: string,
  options: { secret?: string; id?: string; timestamp?: Date } = {},
): Record<string, string> {
  const hook = new Webhook((options.secret ?? DEV_WEBHOOK_SECRET).replace(/^v1,/, ''));
  const id = options.id ?? `msg_${crypto.randomUUID()}`;
  const timestamp = options.timestamp ?? new Date();
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
    'webhook-signature': hook.sign(id, timestamp, body),
  };
}

/** The auth-webhook URL of a running stack. */
export const webhookUrl = (stack: { url: string }) => `${stack.url}/functions/v1/auth-webhook`;

/** POSTs body (an object is JSON-encoded) to the stack's auth-webhook, signed unless told otherwise. */
export async function postWebhook(
  stack: { url: string },
  body: unknown,
  options: { secret?: string; timestamp?: Date; headers?: Record<string, string>; signed?: boolean } = {},
): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  const headers = options.signed === false ? { 'content-type': 'application/json' } : signHeaders(text, options);
  const res = await fetch(webhookUrl(stack), { method: 'POST', body: text, headers: { ...headers, ...options.headers } });
  return { status: res.status, json: await res.json(), headers: res.headers };
}

/** The trigger's minimal Database Webhook payload for a user id. */
export function minimalEvent(type: 'INSERT' | 'UPDATE' | 'DELETE', id: string): Record<string, unknown> {
  const row = { id, email: `${id.slice(0, 8)}@example.com`, phone: null, raw_user_meta_data: {}, raw_app_meta_data: {} };
  return {
    type,
    table: 'users',
    schema: 'auth',
    record: type === 'DELETE' ? null : row,
    old_record: type === 'INSERT' ? null : row,
  };
}

/** Points the trigger at url with secret (Vault secrets profile_sync_webhook_url / _secret). */
export async function setWebhookVault(sql: Sql, url: string, secret: string): Promise<void> {
  await sql`delete from vault.secrets where name in ('profile_sync_webhook_url', 'profile_sync_webhook_secret')`;
  await sql`select vault.create_secret(${url}, 'profile_sync_webhook_url')`;
  await sql`select vault.create_secret(${secret}, 'profile_sync_webhook_secret')`;
}

export type QueuedRequest = { id: string; url: string; headers: Record<string, string>; body: string };

/** What the pg_net stand-in queued (not yet sent: these tests run without the relay). */
export async function queuedRequests(sql: Sql): Promise<QueuedRequest[]> {
  const rows = await sql<{ id: string; url: string; headers: Record<string, string>; body: Uint8Array }[]>`
    select id, url, headers, body from net.http_request_queue order by id`;
  return rows.map((r) => ({ ...r, body: new TextDecoder().decode(r.body) }));
}
