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

/** Builds the dependencies of a function from an env record. */
export function createDeps(env: Record<string, string | undefined>, application: string): Deps {
  const config = loadConfig(env);
  return {
    config,
    sql: createDb(config.dbUrl, { max: config.dbPoolMax, application }),
    log: createLogger({ level: config.logLevel }),
  };
}

export function serveFunction(name: string, createApp: AppFactory): void {
  const deps = createDeps(Deno.env.toObject(), `profile-sync/${name}`);
  Deno.serve(createApp(deps).fetch);
}
