/**
 * Standard Webhooks signature verification (the `standardwebhooks` library, 5-minute tolerance)
 * against every configured secret, so a secret can be rotated without a window of refusals.
 * @module
 */
import { Webhook } from 'standardwebhooks';
import { ConfigError } from './config.ts';
import type { Config } from './config.ts';
import { AppError } from './errors.ts';

const HEADERS = ['webhook-id', 'webhook-timestamp', 'webhook-signature'] as const;

/** Checks the raw body's signature; throws AppError 401 (missing_signature / invalid_signature). */
export type WebhookVerifier = (rawBody: string, headers: Headers) => void;

/**
 * A verifier for the given secrets (`whsec_<base64>`, as Config holds them). A secret the library
 * cannot decode is a ConfigError at start-up, naming its position but never its value.
 */
export function createWebhookVerifier(secrets: readonly string[]): WebhookVerifier {
  if (secrets.length === 0) throw new ConfigError('PROFILE_SYNC_WEBHOOK_SECRET is not set');
  const hooks = secrets.map((secret, i) => {
    try {
      return new Webhook(secret);
    } catch {
      throw new ConfigError(`PROFILE_SYNC_WEBHOOK_SECRET: secret #${i + 1} is not valid base64 after whsec_`);
    }
  });
  return (rawBody, headers) => {
    const signed: Record<string, string> = {};
    for (const name of HEADERS) {
      const value = headers.get(name);
      if (!value) throw new AppError('missing_signature');
      signed[name] = value;
    }
    for (const hook of hooks) {
      try {
        hook.verify(rawBody, signed, { jsonParse: false });
        return;
      } catch {
        // A wrong secret, a bad signature and a stale timestamp all mean: try the next secret.
      }
    }
    throw new AppError('invalid_signature');
  };
}

/** Fails start-up of the deployed function when no secret is configured (fail closed, say why). */
export function requireWebhookSecrets(config: Config): void {
  if (config.webhookSecrets.length === 0) {
    throw new ConfigError(
      'PROFILE_SYNC_WEBHOOK_SECRET is not set: auth-webhook refuses to start without it. ' +
        'Set it with `supabase secrets set PROFILE_SYNC_WEBHOOK_SECRET=v1,whsec_<base64>` ' +
        '(the same value as the Vault secret profile_sync_webhook_secret).',
    );
  }
}
