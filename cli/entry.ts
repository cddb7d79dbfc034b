/**
 * The process entry of the CLI: argv, environment, terminal and exit code from node:process, so the
 * same file runs under Deno (from a clone, cli/bin.mjs) and, bundled into dist/cli.mjs, under Node.
 * @module
 */
import process from 'node:process';
import { createInterface } from 'node:readline/promises';
import { main } from './main.ts';

/** Asks on the terminal; Enter alone is yes. */
async function confirm(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$|^$/i.test((await rl.question(`${question} [Y/n] `)).trim());
  } finally {
    rl.close();
  }
}

const code = await main(process.argv.slice(2), {
  out: (text) => console.log(text),
  err: (text) => console.error(text),
  isTerminal: Boolean(process.stderr.isTTY),
  env: { ...process.env },
  cwd: process.cwd(),
  confirm: process.stdin.isTTY ? confirm : undefined,
});
process.exit(code);
