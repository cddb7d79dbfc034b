/**
 * `profile-sync` CLI: status, reconcile, sync, deliveries, replay and doctor over SUPABASE_DB_URL (the database owner
 * over a direct connection), each with --json; init and generate install into a project folder.
 * Exit 0 in sync, 1 when drift or failures remain, 2 on a usage or configuration error, with a
 * message saying what to fix.
 * @module
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../shared/config.ts';
import { createDb, isDbUnavailable } from '../shared/db.ts';
import { isAppError } from '../shared/errors.ts';
import { BatchSize, RECONCILE_LIMITS } from '../shared/reconcile-limits.ts';
import { EXIT, reconcileCommand, statusCommand, syncCommand, UsageError } from './commands.ts';
import type { CommandContext, CommandResult, ExitCode } from './commands.ts';
import { deliveriesCommand, replayCommand } from './deliveries.ts';
import { dashboardCommand, DASHBOARD_USAGE, parseDashboardArgs } from './dashboard/command.ts';
import { doctor, doctorText } from './doctor.ts';
import { printable } from './output.ts';
import { generateCommand, initCommand, INSTALL_USAGE, parseGenerateArgs, parseInitArgs } from './install/commands.ts';
import { InstallError } from './install/project.ts';
import { MappingError } from './mapping.ts';
import pkg from '../package.json' with { type: 'json' };

/** The package's version, as `profile-sync --version` prints it. */
export const VERSION: string = pkg.version;

export const USAGE = `usage: profile-sync <command> [--json]
       profile-sync --version | --help

commands:
  status                                  users, profiles, drift, failures, last run
  reconcile [--dry-run] [--batch-size N]  repair all drift now (--dry-run: count it, write nothing)
  sync <user-id>                          sync one user's profile now
  deliveries [--dead]                     what waits in the delivery queue (--dead: dead letters)
  replay <user-id…> | --dead | --since T  queue users again (ids, every dead letter, or auth
                                          users changed since the ISO time T)
  doctor [--send-test]                    check every moving part and say what to fix
                                          (--send-test: a signed test delivery must round-trip)
${DASHBOARD_USAGE}
${INSTALL_USAGE}
  dev                                     run the project in this folder locally: embedded Postgres, its
                                          migrations, its installed functions, the pg_net relay (no Docker)

environment:
  SUPABASE_DB_URL   postgres://… URL of the database, as its owner (a direct connection)

exit status: 0 in sync, 1 drift or failures remain, 2 usage or configuration error`;

export type Io = {
  out(text: string): void;
  err(text: string): void;
  /** Whether stderr is a terminal (progress bar). */
  isTerminal: boolean;
  env: Record<string, string | undefined>;
  /** The project folder for init and generate; the process's working directory by default. */
  cwd?: string;
  /** Asks a yes/no question; only given when stdin is a terminal. */
  confirm?: (question: string) => Promise<boolean>;
};

const INSTALL_COMMANDS = { init: initCommand, generate: generateCommand };

/** init and generate: their own flags, and InstallError is exit 2 with nothing written. */
async function install(name: keyof typeof INSTALL_COMMANDS, argv: string[], io: Io): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(USAGE);
    return EXIT.inSync;
  }
  try {
    return await INSTALL_COMMANDS[name](argv, { ...io, cwd: io.cwd ?? process.cwd() });
  } catch (err) {
    const parseError = String((err as { code?: unknown })?.code).startsWith('ERR_PARSE_ARGS_');
    if (parseError) {
      io.err(`profile-sync ${name}: [usage] ${parseErrorText(err as Error)}\n\n${USAGE}`);
    } else if (err instanceof InstallError || err instanceof MappingError) {
      const code = err instanceof InstallError ? err.code : 'mapping_invalid';
      io.err(`profile-sync ${name}: [${code}] ${err.message}`);
    } else throw err;
    return EXIT.usage;
  }
}

type Parsed = {
  command: string;
  positionals: string[];
  json: boolean;
  dryRun: boolean;
  batchSize?: number;
  sendTest: boolean;
  dead: boolean;
  since?: string;
};

function parse(argv: string[]): Parsed {
  let values, positionals;
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        json: { type: 'boolean', default: false },
        'dry-run': { type: 'boolean', default: false },
        'batch-size': { type: 'string' },
        dead: { type: 'boolean', default: false },
        since: { type: 'string' },
        'send-test': { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
        version: { type: 'boolean', short: 'v', default: false },
      },
    }));
  } catch (err) {
    throw new UsageError(parseErrorText(err as Error & { code?: string }));
  }
  const [command = values.help ? 'help' : values.version ? 'version' : '', ...rest] = positionals;
  if (command !== 'reconcile' && (values['dry-run'] || values['batch-size'] !== undefined)) {
    throw new UsageError('--dry-run and --batch-size belong to `reconcile`');
  }
  if (values.dead && command !== 'deliveries' && command !== 'replay') {
    throw new UsageError('--dead belongs to `deliveries` and `replay`');
  }
  if (values.since !== undefined && command !== 'replay') throw new UsageError('--since belongs to `replay`');
  if (command !== 'doctor' && values['send-test']) throw new UsageError('--send-test belongs to `doctor`');
  let batchSize: number | undefined;
  if (values['batch-size'] !== undefined) {
    const parsed = BatchSize.safeParse(Number(values['batch-size']));
    if (!parsed.success) {
      const { min, max } = RECONCILE_LIMITS.batchSize;
      throw new UsageError(`--batch-size must be a whole number from ${min} to ${max}`);
    }
    batchSize = parsed.data;
  }
  const takes = command === 'replay' ? Infinity : command === 'sync' ? 1 : 0;
  if (rest.length > takes) throw new UsageError(`unexpected argument: ${rest.slice(takes).join(' ')}`);
  return {
    command,
    positionals: rest,
    json: values.json,
    dryRun: values['dry-run'],
    batchSize,
    sendTest: values['send-test'],
    dead: values.dead,
    since: values.since,
  };
}

/**
 * node:util's parser explains an unknown option with a hint whose quotes do not pair up; say what
 * was wrong in our own words, naming the option as it was typed.
 */
function parseErrorText(err: Error & { code?: string }): string {
  const option = /'(-{1,2}[^'\s<]+)/.exec(err.message)?.[1] ?? 'an option';
  switch (err.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option: ${option}`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return /argument missing/.test(err.message) ? `${option} needs a value` : `${option} takes no value`;
    default:
      return err.message;
  }
}

const COMMANDS: Record<string, (ctx: CommandContext, p: Parsed) => Promise<CommandResult>> = {
  status: (ctx) => statusCommand(ctx),
  reconcile: (ctx, p) => reconcileCommand(ctx, { dryRun: p.dryRun, batchSize: p.batchSize }),
  sync: (ctx, p) => syncCommand(ctx, p.positionals[0]),
  deliveries: (ctx, p) => deliveriesCommand(ctx, p.dead),
  replay: (ctx, p) => replayCommand(ctx, { userIds: p.positionals, dead: p.dead, since: p.since }),
  doctor: async (ctx, p) => {
    const report = await doctor(ctx.sql, { projectDir: ctx.cwd, sendTest: p.sendTest });
    return { exitCode: report.ok ? EXIT.inSync : EXIT.drift, json: report, text: doctorText(report) };
  },
};

/** How each command that parses its own flags checks them (the same functions the commands call). */
/** `dev` runs the project in the current folder: it takes no arguments. */
const parseDevArgs = (argv: string[]) => {
  if (argv.length > 0) throw new UsageError(`unexpected argument: ${argv.join(' ')} (dev runs the project in this folder)`);
};

const OWN_PARSERS: Record<string, (argv: string[]) => unknown> = {
  init: parseInitArgs,
  generate: parseGenerateArgs,
  dev: parseDevArgs,
  dashboard: parseDashboardArgs,
};

/**
 * Checks a command line (the words after `profile-sync`) exactly as `main` parses it, running
 * nothing: the usage error `main` would report, or undefined when it would run. The docs' commands
 * are checked with it (tests/cli/docs_commands_parse.test.ts).
 */
export function usageError(argv: string[]): string | undefined {
  try {
    const own = OWN_PARSERS[argv[0]];
    if (own) {
      own(argv.slice(1));
      return undefined;
    }
    const { command } = parse(argv);
    if (command === 'help' || command === 'version' || COMMANDS[command]) return undefined;
    return command ? `unknown command: ${command}` : 'no command given';
  } catch (err) {
    const code = String((err as { code?: unknown })?.code);
    return code.startsWith('ERR_PARSE_ARGS_') ? parseErrorText(err as Error & { code?: string }) : (err as Error).message;
  }
}

/** What went wrong, for the operator, and the exit code it deserves. */
function explain(err: unknown): { code: string; message: string; exitCode: ExitCode } {
  if (err instanceof UsageError) return { code: 'usage', message: `${err.message}\n\n${USAGE}`, exitCode: EXIT.usage };
  if (err instanceof ConfigError) return { code: 'config', message: err.message, exitCode: EXIT.usage };
  if (isAppError(err) && (err.code === 'reconcile_in_progress' || err.code === 'dry_run_in_progress')) {
    const what = err.code === 'dry_run_in_progress' ? 'dry run' : 'reconcile';
    return { code: err.code, message: `another ${what} is running; try again when it has finished`, exitCode: EXIT.drift };
  }
  const cause = isAppError(err) ? err.cause ?? err : err;
  const pgCode = (cause as { code?: unknown })?.code;
  if (isDbUnavailable(cause)) {
    return {
      code: 'database_unavailable',
      message: `cannot reach the database at SUPABASE_DB_URL (${(cause as Error).message}): check the URL and that it is up`,
      exitCode: EXIT.usage,
    };
  }
  if (pgCode === '28P01' || pgCode === '28000' || pgCode === '3D000') {
    return { code: 'config', message: `SUPABASE_DB_URL is refused: ${(cause as Error).message}`, exitCode: EXIT.usage };
  }
  if (pgCode === '42883' || pgCode === '3F000' || pgCode === '42P01') {
    return {
      code: 'not_migrated',
      message: `the profile-sync migrations are not applied to this database (${(cause as Error).message}): run \`supabase db push\``,
      exitCode: EXIT.usage,
    };
  }
  return { code: 'error', message: (cause as Error)?.message ?? String(cause), exitCode: EXIT.drift };
}

/**
 * `profile-sync dev`: the local stack (local/dev.mjs, under Node) on the project in this folder:
 * embedded Postgres with the stand-ins, the project's migrations, its installed functions and the
 * pg_net relay. Exit code and output are the stack's.
 */
async function dev(argv: string[], io: Io): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.out(USAGE);
    return EXIT.inSync;
  }
  try {
    parseDevArgs(argv);
  } catch (err) {
    io.err(`profile-sync dev: [usage] ${(err as Error).message}\n\n${USAGE}`);
    return EXIT.usage;
  }
  // beside cli/ in a clone; the npm package does not ship the local stack (embedded Postgres, Deno
  // and the Supabase CLI are far beyond its size), so there dev says where to run it from
  const script = fileURLToPath(new URL('../local/dev.mjs', import.meta.url));
  if (!existsSync(script)) {
    io.err('profile-sync dev: [dev_unavailable] the local stack (local/) is not part of this installation: ' +
      'from a clone of profile-sync, `npm install`, then `npm run dev -- --project <your project folder>`');
    return EXIT.usage;
  }
  const child = spawn(process.execPath, [script, '--project', io.cwd ?? process.cwd()], {
    env: io.env as NodeJS.ProcessEnv,
    stdio: 'inherit',
  });
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  const listeners = (['SIGINT', 'SIGTERM'] as const).map((signal) => [signal, forward(signal)] as const);
  for (const [signal, listener] of listeners) process.on(signal, listener);
  try {
    return await new Promise<number>((resolve) => {
      child.on('error', (err) => {
        io.err(`profile-sync dev: could not start Node (${err.message})`);
        resolve(EXIT.usage);
      });
      child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    });
  } finally {
    for (const [signal, listener] of listeners) process.off(signal, listener);
  }
}

/** Runs the CLI; returns the exit code (never exits the process itself). */
export async function main(argv: string[], rawIo: Io): Promise<number> {
  // names from a database or a folder may hold terminal escape codes: never pass them through
  const io: Io = { ...rawIo, out: (text) => rawIo.out(printable(text)), err: (text) => rawIo.err(printable(text)) };
  if (argv[0] === 'init' || argv[0] === 'generate') return await install(argv[0], argv.slice(1), io);
  if (argv[0] === 'dev') return await dev(argv.slice(1), io);
  if (argv[0] === 'dashboard') return await dashboardCommand(argv.slice(1), io);
  const wantsJson = argv.includes('--json');
  // with --json, stdout holds one JSON document and nothing else is written
  const report = (e: ReturnType<typeof explain>) => {
    if (wantsJson) io.out(JSON.stringify({ error: { code: e.code, message: e.message.split('\n\n')[0] } }));
    else io.err(`profile-sync: ${e.message}`);
    return e.exitCode;
  };
  let parsed: Parsed;
  try {
    parsed = parse(argv);
  } catch (err) {
    return report(explain(err));
  }
  if (parsed.command === 'help') {
    io.out(USAGE);
    return EXIT.inSync;
  }
  if (parsed.command === 'version') {
    io.out(parsed.json ? JSON.stringify({ version: VERSION }) : `profile-sync ${VERSION}`);
    return EXIT.inSync;
  }
  const command = COMMANDS[parsed.command];
  if (!command) {
    return report(explain(new UsageError(parsed.command ? `unknown command: ${parsed.command}` : 'no command given')));
  }

  if (!io.env.SUPABASE_DB_URL) {
    return report(explain(new ConfigError(
      'SUPABASE_DB_URL is not set: set it to the postgres:// URL of the database, as its owner ' +
        '(Supabase: Project Settings → Database → Connection string, direct connection)',
    )));
  }
  let ctx: CommandContext;
  try {
    // The CLI only talks to the database: SUPABASE_URL matters to the functions' token checks only.
    const config = loadConfig({ SUPABASE_URL: 'http://127.0.0.1', ...io.env });
    ctx = {
      sql: createDb(config.dbUrl, { max: 2, application: 'profile-sync/cli' }),
      dbUrl: config.dbUrl,
      interactive: io.isTerminal && !parsed.json,
      cwd: io.cwd ?? process.cwd(),
    };
  } catch (err) {
    return report(explain(err));
  }
  try {
    const result = await command(ctx, parsed);
    io.out(parsed.json ? JSON.stringify(result.json) : result.text);
    return result.exitCode;
  } catch (err) {
    return report(explain(err));
  } finally {
    await ctx.sql.end({ timeout: 1 });
  }
}
