#!/usr/bin/env node
// `npx profile-sync …`. Installed from npm, it runs the CLI bundled into dist/cli.mjs (plain
// JavaScript, Node alone). In a clone, where the TypeScript sources are, it runs them (cli/entry.ts)
// with the Deno that `npm install` put in node_modules, so an edit takes effect without a build.
// Arguments, stdio and the exit code pass through.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entry = join(root, 'cli', 'entry.ts');

if (!existsSync(entry)) {
  await import('../dist/cli.mjs');
} else {
  let denoPackage;
  try {
    denoPackage = dirname(createRequire(import.meta.url).resolve('deno/package.json'));
  } catch {
    console.error('profile-sync: this is a clone without its dev dependencies: run `npm install` first');
    process.exit(2);
  }
  const exe = join(denoPackage, process.platform === 'win32' ? 'deno.exe' : 'deno');
  // bin.cjs installs the platform binary on first use when npm skipped the install script.
  const [command, prefix] = existsSync(exe) ? [exe, []] : [process.execPath, [join(denoPackage, 'bin.cjs')]];
  const child = spawn(
    command,
    [...prefix, 'run', '-A', '--quiet', '--config', join(root, 'deno.json'), entry, ...process.argv.slice(2)],
    { stdio: 'inherit', env: { ...process.env, DENO_NO_UPDATE_CHECK: '1' } },
  );
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('error', (err) => {
    console.error(`profile-sync: could not start Deno (${err.message}); run \`npm install\` first`);
    process.exit(2);
  });
  child.on('close', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}
