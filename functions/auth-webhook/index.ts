// Entry point of the auth-webhook Edge Function; the app is built in app.ts.
import { serveFunction } from '../../shared/serve.ts';
import { createApp } from './app.ts';

serveFunction('auth-webhook', createApp);
