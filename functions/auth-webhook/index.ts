// Entry point of the auth-webhook Edge Function; the app is built in app.ts. Without a webhook
// secret the function refuses to boot (fail closed, with a message saying what to set).
import { serveFunction } from '../../shared/serve.ts';
import { requireWebhookSecrets } from '../../shared/webhook.ts';
import { createApp } from './app.ts';

serveFunction('auth-webhook', (deps) => {
  requireWebhookSecrets(deps.config);
  return createApp(deps);
});
