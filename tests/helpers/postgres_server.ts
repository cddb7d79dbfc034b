/**
 * A throwaway Postgres server for tests that must own one (restart, SIGKILL, preloaded pg_cron):
 * initdb and pg_ctl from a given bin dir, run as the `postgres` OS user when root, in a temp dir;
 * databases get the stand-ins and migrations as `npm test` gives them (local/postgres.mjs).
 * @module
 */
import { freePort } from './stack.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

/** Runs a command (as `postgres` when asked and we are root); throws with its output on failure. */
export async function run(
  cmd: string,
  args: string[],
  options: { asPostgres?: boolean; env?: Record<string, string> } = {},
): Promise<string> {
  const [file, argv] = options.asPostgres && Deno.uid() === 0
    ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]]
    : [cmd, args];
  const out = await new Deno.Command(file, {
    args: argv,
    cwd: ROOT,
    env: options.env,
    stdout: 'piped',
    stderr: 'piped',
  })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  if (!out.success) {
    throw new Error(`${cmd.split('/').pop()} ${args[0] ?? ''} failed (exit ${out.code}):\n${text}`);
  }
  return text;
}

export type PostgresServer = {
  port: number;
  /** The data directory (postmaster.pid lives here). */
  data: string;
  /** URL of database `name` on this server, as the trust-authenticated superuser. */
  url(name: string): string;
  /** pg_ctl start, retried for a while (after a SIGKILL the old shared memory lingers briefly). */
  start(): Promise<void>;
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Applies the stand-ins (optionally without pg_net / Vault) and the migrations to `url`. */
  migrate(url: string, standIns?: { withNet?: boolean; withVault?: boolean }): Promise<void>;
  /** Stops the server (immediately) and removes its files. */
  remove(): Promise<void>;
};

/** initdb in a new temp dir; the server is not started yet. `settings` are extra `-c` options. */
export async function initServer(bin: string, settings: string[] = []): Promise<PostgresServer> {
  const parent = await Deno.makeTempDir({ prefix: 'profile-sync-pg-' });
  // The postgres user writes the data directory, the socket and the log here.
  await Deno.chmod(parent, 0o777);
  const data = `${parent}/data`;
  const port = freePort();
  await run(
    `${bin}/initdb`,
    ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8'],
    {
      asPostgres: true,
    },
  );
  const options = [
    `-p ${port}`,
    '-c listen_addresses=127.0.0.1',
    `-c unix_socket_directories=${parent}`,
    '-c fsync=off',
    ...settings.map((s) => `-c ${s}`),
  ].join(' ');
  const stop = async (mode: 'fast' | 'immediate' = 'fast') => {
    await run(`${bin}/pg_ctl`, ['-D', data, '-m', mode, '-w', '-t', '30', 'stop'], { asPostgres: true });
  };
  return {
    port,
    data,
    url: (name) => `postgresql://postgres@127.0.0.1:${port}/${name}`,
    async start() {
      for (let attempt = 1;; attempt++) {
        try {
          await run(`${bin}/pg_ctl`, [
            '-D',
            data,
            '-o',
            options,
            '-l',
            `${parent}/postgres.log`,
            '-w',
            '-t',
            '30',
            'start',
          ], {
            asPostgres: true,
          });
          return;
        } catch (err) {
          if (attempt >= 40) throw err;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
    },
    stop,
    async migrate(url, standIns = {}) {
      await run('node', [
        '--input-type=module',
        '-e',
        `import { applyStandIns, pushMigrations } from './local/postgres.mjs';
         await applyStandIns(process.env.URL, JSON.parse(process.env.STAND_INS));
         await pushMigrations(process.env.URL);`,
      ], { env: { URL: url, STAND_INS: JSON.stringify(standIns) } });
    },
    async remove() {
      await stop('immediate').catch(() => {});
      await Deno.remove(parent, { recursive: true });
    },
  };
}
