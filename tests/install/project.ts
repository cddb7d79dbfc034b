/**
 * A team's Supabase project for the install tests: a scratch folder with its own
 * supabase/config.toml and migration history, the CLI run from it (in-process, as `npx
 * profile-sync` would from that folder), the real Supabase CLI's `db push` from it, and scratch
 * databases holding only the Supabase stand-ins (no profile-sync migrations).
 * @module
 */
import { createHash } from 'node:crypto';
import { main } from '../../cli/main.ts';
import { freshDatabase } from '../helpers/db.ts';
import type { TestDb } from '../helpers/db.ts';
import type { AppFactory } from '../../shared/serve.ts';

const ROOT = new URL('../../', import.meta.url).pathname;

/** A config.toml as `supabase init` leaves it, trimmed: what init must not disturb. */
export const CONFIG_TOML = `# A project's own settings.
project_id = "team-app"

[api]
enabled = true
port = 54321

[db]
port = 54322
major_version = 17

# [functions.MY_FUNCTION_NAME]
# enabled = true

[auth]
site_url = "http://127.0.0.1:3000"
`;

export type CliRun = { code: number; out: string; err: string };

export type Project = {
  dir: string;
  /** Runs `profile-sync <args>` in the project folder; `env` is the whole environment; `answer`, a terminal's. */
  cli(args: string[], env?: Record<string, string>, answer?: boolean): Promise<CliRun>;
  read(path: string): string;
  write(path: string, text: string): void;
  exists(path: string): boolean;
  /** Every file under supabase/ (but .temp) → sha256: equal trees mean nothing was written. */
  tree(): Record<string, string>;
  migrations(): string[];
  /** The apps of the functions init wrote (their app.ts, with the _shared init wrote), by name. */
  functions(): Promise<Record<string, AppFactory>>;
  /** `supabase db push --db-url` from the project folder (the real CLI). */
  push(url: string): Promise<string>;
  remove(): void;
};

/** A new project folder holding config.toml and the given app migrations (file name → SQL). */
export function scratchProject(migrations: Record<string, string> = {}, config = CONFIG_TOML): Project {
  const dir = Deno.makeTempDirSync({ prefix: 'profile-sync-project-' });
  const write = (path: string, text: string) => {
    Deno.mkdirSync(`${dir}/${path}`.replace(/\/[^/]+$/, ''), { recursive: true });
    Deno.writeTextFileSync(`${dir}/${path}`, text);
  };
  write('supabase/config.toml', config);
  for (const [name, sql] of Object.entries(migrations)) write(`supabase/migrations/${name}`, sql);
  const walk = (path: string, out: Record<string, string>) => {
    for (const entry of Deno.readDirSync(`${dir}/${path}`)) {
      const child = `${path}/${entry.name}`;
      if (entry.name === '.temp') continue;
      if (entry.isDirectory) walk(child, out);
      else out[child] = createHash('sha256').update(Deno.readFileSync(`${dir}/${child}`)).digest('hex');
    }
    return out;
  };
  return {
    dir,
    async cli(args, env = {}, answer) {
      const out: string[] = [];
      const err: string[] = [];
      const confirm = answer === undefined ? undefined : () => Promise.resolve(answer);
      const code = await main(args, { out: (t) => out.push(t), err: (t) => err.push(t), isTerminal: false, env, cwd: dir, confirm });
      return { code, out: out.join('\n'), err: err.join('\n') };
    },
    read: (path) => Deno.readTextFileSync(`${dir}/${path}`),
    write,
    exists: (path) => {
      try {
        Deno.statSync(`${dir}/${path}`);
        return true;
      } catch {
        return false;
      }
    },
    tree: () => walk('supabase', {}),
    async functions() {
      const apps: Record<string, AppFactory> = {};
      for (const name of ['auth-webhook', 'sync-profile', 'reconcile']) {
        apps[name] = (await import(`file://${dir}/supabase/functions/${name}/app.ts`)).createApp;
      }
      return apps;
    },
    migrations: () => [...Deno.readDirSync(`${dir}/supabase/migrations`)].map((e) => e.name).sort(),
    async push(url) {
      const out = await new Deno.Command(`${ROOT}node_modules/.bin/supabase`, {
        args: ['db', 'push', '--db-url', url, '--yes', '--include-all'],
        cwd: dir,
        env: { SUPABASE_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1' },
        stdout: 'piped',
        stderr: 'piped',
      }).output();
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      if (!out.success) throw new Error(`supabase db push failed (exit ${out.code}):\n${text}`);
      return text;
    },
    remove: () => Deno.removeSync(dir, { recursive: true }),
  };
}

/** A new database with only what Supabase provides (the stand-ins): no profile-sync migrations. */
export async function scratchDatabase(label: string): Promise<TestDb> {
  const db = await freshDatabase(label, 'template0');
  for (const entry of [...Deno.readDirSync(`${ROOT}local/stand-ins`)].map((e) => e.name).sort()) {
    await db.sql.unsafe(await Deno.readTextFile(`${ROOT}local/stand-ins/${entry}`));
  }
  return db;
}
