/** The functions the local stack serves, by name (the path segment after /functions/v1/). */
import type { AppFactory } from '../shared/serve.ts';
import { createApp as authWebhook } from '../functions/auth-webhook/app.ts';
import { createApp as syncProfile } from '../functions/sync-profile/app.ts';
import { createApp as reconcile } from '../functions/reconcile/app.ts';

export const FUNCTIONS: Record<string, AppFactory> = {
  'auth-webhook': authWebhook,
  'sync-profile': syncProfile,
  'reconcile': reconcile,
};
