/**
 * The entry point every function shares: load config once, create the pool once per isolate,
 * and serve the app. A configuration error stops the isolate with a message saying what to set.
 * @module
 */
import { loadConfig } from './config.ts';
import type { Config } from './config.ts';
import { createDb } from './db.ts';
import type { Sql } from './db.ts';
import { createLogger } from './log.ts';
import type { Logger } from './log.ts';

export type Deps = { config: Config; sql: Sql; log: Logger };
export type AppFactory = (deps: Deps) => { fetch: (req: Request) => Response | Promise<Response> };

export type ServeOptions = {
  /**
   * Connections the function opens outside its pool (reconcile's run session): the pool gets
   * PROFILE_SYNC_DB_POOL_MAX minus these (at least 1), so the isolate's total stays within it.
   */
  sessions?: number;
};

/** Builds the dependencies of a function from an env record. */
export function createDeps(
  env: Record<string, string | undefined>,
  application: string,
  options: ServeOptions = {},
): Deps {
  const config = loadConfig(env);
  return {
    config,
    sql: createDb(config.dbUrl, { max: Math.max(1, config.dbPoolMax - (options.sessions ?? 0)), application }),
    log: createLogger({ level: config.logLevel }),
  };
}

export function serveFunction(name: string, createApp: AppFactory, options: ServeOptions = {}): void {
  const deps = createDeps(Deno.env.toObject(), `profile-sync/${name}`, options);
  Deno.serve(createApp(deps).fetch);
}
