// Running Deno from the launcher: the binary npm installed, and the dev-env helper that hands
// over the functions' dev environment and dev access tokens (keys live in local/dev-keys.ts).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../../local/postgres.mjs';

export const DENO = join(ROOT, 'node_modules', '.bin', 'deno');

/** Runs deno with args; resolves with stdout, rejects with stderr on a non-zero exit. */
export function runDeno(args, { input, env } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(DENO, args, { cwd: ROOT, env: { ...process.env, DENO_NO_UPDATE_CHECK: '1', ...env } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`deno ${args.join(' ')} failed (${code}):\n${err}`))));
    child.stdin.end(input ?? '');
  });
}

/** The dev environment for the functions and a dev access token per id in `tokenFor`. */
export async function devSetup(dbUrl, supabaseUrl, tokenFor = []) {
  const out = await runDeno(['run', '-A', '--no-prompt', join(ROOT, 'bench', 'dev-env.ts')], {
    input: JSON.stringify({ dbUrl, supabaseUrl, tokenFor }),
  });
  return JSON.parse(out);
}

/** Version line of the Deno binary, e.g. "deno 2.9.6 (stable, release, x86_64-unknown-linux-gnu)". */
export async function denoVersion() {
  return (await runDeno(['--version'])).split('\n')[0].trim();
}
