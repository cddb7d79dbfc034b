// Entry point of the reconcile Edge Function; the app is built in app.ts.
import { serveFunction } from '../../shared/serve.ts';
import { createApp } from './app.ts';

serveFunction('reconcile', createApp);
