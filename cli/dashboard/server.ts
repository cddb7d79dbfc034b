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
import { createDashboardApp } from './app.ts';
import { newDoorKeys } from './guard.ts';
import { createMeasurer } from './measure.ts';

/** The port `profile-sync dashboard` listens on without --port (0: any free one). */
export const DEFAULT_PORT = 54329;

export type DashboardOptions = { dbUrl: string; port?: number };

export type Dashboard = {
  /** The URL to open, with the token: printed once, for the operator only. */
  url: string;
  port: number;
  close(): Promise<void>;
};

/** Listens on 127.0.0.1 only; rejects (EADDRINUSE …) when the port cannot be had. */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const keys = newDoorKeys();
  // the app needs the port it listens on (the Host it accepts): it is built once listening
  const app: { fetch?: (req: Request) => Response | Promise<Response> } = {};
  const server: ServerType = await new Promise((resolve, reject) => {
    const s = serve({
      fetch: (req: Request) => app.fetch ? app.fetch(req) : new Response('starting\n', { status: 503 }),
      hostname: '127.0.0.1',
      port: options.port ?? DEFAULT_PORT,
      // keep the runtime's own Request/Response: `npm run dev` serves the functions with Deno's server
      // from the same process, and Deno's server takes only its own Response
      overrideGlobalObjects: false,
    }, () => resolve(s));
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  // a reconcile needs a session of its own besides the pool (see shared/reconcile-connections.ts)
  const sql: Sql = createDb(options.dbUrl, { max: 4, application: 'profile-sync/dashboard' });
  // the state now is measured from the start, so the page the operator opens has it (or nearly)
  const measurer = createMeasurer(sql);
  // (a failure is the page's to show when it asks; sql.end() on close ends one still running)
  measurer.measure().catch(() => {});
  app.fetch = createDashboardApp({
    ctx: { sql, dbUrl: options.dbUrl, interactive: false },
    keys,
    port,
    measurer,
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
