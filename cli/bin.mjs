#!/usr/bin/env node
// `npx profile-sync …`: runs the CLI (cli/main.ts) with the Deno that ships in node_modules, so the
// CLI uses the same shared/ TypeScript as the functions. Arguments, stdio and exit code pass through.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const denoPackage = dirname(createRequire(import.meta.url).resolve('deno/package.json'));
const exe = join(denoPackage, process.platform === 'win32' ? 'deno.exe' : 'deno');
// bin.cjs installs the platform binary on first use when npm skipped the install script.
const [command, prefix] = existsSync(exe) ? [exe, []] : [process.execPath, [join(denoPackage, 'bin.cjs')]];

const child = spawn(
  command,
  [...prefix, 'run', '-A', '--quiet', '--config', join(root, 'deno.json'), join(root, 'cli', 'main.ts'), ...process.argv.slice(2)],
  { stdio: 'inherit', env: { ...process.env, DENO_NO_UPDATE_CHECK: '1' } },
);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('error', (err) => {
  console.error(`profile-sync: could not start Deno (${err.message}); run \`npm install\` first`);
  process.exit(2);
});
child.on('close', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
