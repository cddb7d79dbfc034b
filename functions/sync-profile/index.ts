// Entry point of the sync-profile Edge Function; the app is built in app.ts.
import { serveFunction } from '../../shared/serve.ts';
import { createApp } from './app.ts';

serveFunction('sync-profile', createApp);
