/**
 * Where profile-sync's own files are (functions/, shared/, supabase/migrations/): the folder of the
 * nearest package.json above this module, which is the clone's root from cli/ and the installed
 * package's root from the bundle in dist/.
 * @module
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;

/** The package root, with a trailing slash. */
export function packageRoot(): string {
  if (root) return root;
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
  return (root = `${dir}/`);
}
