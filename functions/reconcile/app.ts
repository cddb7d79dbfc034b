/**
 * reconcile: placeholder app (being written).
 * @module
 */
import { createFunctionApp, methodNotAllowed } from '../../shared/http.ts';
import type { Deps } from '../../shared/serve.ts';

export function createApp(deps: Deps) {
  const app = createFunctionApp('reconcile', deps.log);
  app.all('/', methodNotAllowed([]));
  return app;
}
