// Entry point of the reconcile Edge Function; the app is built in app.ts.
import { RUN_SESSIONS } from '../../shared/reconcile-connections.ts';
import { serveFunction } from '../../shared/serve.ts';
import { createApp } from './app.ts';

// A run's session counts against PROFILE_SYNC_DB_POOL_MAX: the pool is smaller by it.
serveFunction('reconcile', createApp, { sessions: RUN_SESSIONS });
