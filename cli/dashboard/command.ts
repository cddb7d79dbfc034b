/**
 * `profile-sync dashboard [--db-url URL] [--port N] [--open]`: starts the dashboard, prints its URL
 * (with the token) and serves until Ctrl-C.
 * @module
 */
import { spawn } from 'node:child_process';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { DEFAULT_PORT, startDashboard } from './server.ts';

export const DASHBOARD_USAGE = `  dashboard [--db-url URL] [--port N] [--open]
                                          a page on 127.0.0.1 (port ${DEFAULT_PORT}): state, drift over time,
                                          deliveries, failures, runs; dry run and reconcile from it`;

export type DashboardIo = {
  out(text: string): void;
  err(text: string): void;
  env: Record<string, string | undefined>;
  /** Resolves when the server should stop (Ctrl-C by default). */
  stopped?: Promise<unknown>;
};

export class DashboardUsageError extends Error {}

/** The flags alone, as `profile-sync` checks a command line (tests/cli/docs_commands_parse.test.ts). */
export function parseDashboardArgs(argv: string[]): { dbUrl?: string; port: number; open: boolean } {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: { 'db-url': { type: 'string' }, port: { type: 'string' }, open: { type: 'boolean', default: false } },
  });
  if (positionals.length > 0) throw new DashboardUsageError(`unexpected argument: ${positionals.join(' ')}`);
  const port = values.port === undefined ? DEFAULT_PORT : Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new DashboardUsageError('--port must be a TCP port number (0: any free port)');
  return { dbUrl: values['db-url'], port, open: values.open };
}

function parse(argv: string[], env: DashboardIo['env']) {
  const args = parseDashboardArgs(argv);
  const dbUrl = args.dbUrl ?? env.SUPABASE_DB_URL;
  if (!dbUrl) throw new DashboardUsageError('no database: pass --db-url URL or set SUPABASE_DB_URL (the postgres:// URL, as its owner)');
  if (!/^postgres(ql)?:\/\//.test(dbUrl)) throw new DashboardUsageError('--db-url / SUPABASE_DB_URL must be a postgres:// URL');
  return { ...args, dbUrl };
}

/** Opens the URL in the desktop's browser; nothing happens where there is none. */
function openBrowser(url: string) {
  const [cmd, args] = process.platform === 'darwin' ? ['open', [url]]
    : process.platform === 'win32' ? ['cmd', ['/c', 'start', '""', url]]
    : ['xdg-open', [url]];
  try {
    spawn(cmd, args as string[], { stdio: 'ignore', detached: true }).on('error', () => {}).unref();
  } catch { /* no browser here: the URL is printed */ }
}

/** Exit 2 on a usage error or a port that cannot be had; 0 once stopped. */
export async function dashboardCommand(argv: string[], io: DashboardIo): Promise<number> {
  let args;
  try {
    args = parse(argv, io.env);
  } catch (err) {
    io.err(`profile-sync dashboard: ${(err as Error).message}`);
    return 2;
  }
  let dashboard;
  try {
    dashboard = await startDashboard({ dbUrl: args.dbUrl, port: args.port });
  } catch (err) {
    const code = (err as { code?: string }).code;
    io.err(`profile-sync dashboard: cannot listen on 127.0.0.1:${args.port} (${code ?? (err as Error).message})` +
      (code === 'EADDRINUSE' ? ': pass --port N (0: any free port)' : ''));
    return 2;
  }
  io.out(`profile-sync dashboard: open this URL (its token is this run's alone: keep it to yourself), Ctrl-C stops it\n  ${dashboard.url}`);
  if (args.open) openBrowser(dashboard.url);
  await (io.stopped ?? new Promise((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  }));
  await dashboard.close();
  return 0;
}
