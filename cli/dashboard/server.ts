/**
 * Serves the dashboard on 127.0.0.1 (node:http through @hono/node-server, so the same code runs
 * under Node and Deno): one pool on the database as the CLI opens it, a fresh token per start.
 * @module
 */
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { ServerType } from '@hono/node-server';
import { createDb } from '../../shared/db.ts';
import type { Sql } from '../../shared/db.ts';
import type { ReplayDead } from './actions.ts';
import { createDashboardApp } from './app.ts';
import { newDoorKeys } from './guard.ts';

/** The port `profile-sync dashboard` listens on without --port (0: any free one). */
export const DEFAULT_PORT = 54329;

export type DashboardOptions = { dbUrl: string; port?: number; replayDead?: ReplayDead };

export type Dashboard = {
  /** The URL to open, with the token: printed once, for the operator only. */
  url: string;
  port: number;
  close(): Promise<void>;
};

/** Listens on 127.0.0.1 only; rejects (EADDRINUSE …) when the port cannot be had. */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const keys = newDoorKeys();
  let handler: ((req: Request) => Response | Promise<Response>) | undefined;
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({
      fetch: (req: Request) => handler ? handler(req) : new Response('starting\n', { status: 503 }),
      hostname: '127.0.0.1',
      port: options.port ?? DEFAULT_PORT,
    }, () => resolve(s));
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  // a reconcile needs a session of its own besides the pool (see shared/reconcile-connections.ts)
  const sql: Sql = createDb(options.dbUrl, { max: 4, application: 'profile-sync/dashboard' });
  handler = createDashboardApp({
    ctx: { sql, dbUrl: options.dbUrl, interactive: false },
    keys,
    port,
    replayDead: options.replayDead,
  }).fetch;
  return {
    url: `http://127.0.0.1:${port}/?token=${keys.token}`,
    port,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
      await sql.end({ timeout: 1 });
    },
  };
}
