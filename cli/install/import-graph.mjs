/**
 * What the functions import, read from their sources: the files (functions/<name>/ and the shared/
 * modules they reach) and the bare specifiers. `init` copies exactly these files, and
 * `npm run gen:import-map` keeps exactly these specifiers in the deployed import map. Plain
 * JavaScript, so Node runs it from local/ as it is; tests/install/import_graph.test.ts checks it
 * against `deno info`.
 * @module
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

/** The three functions, in the order init reports them. */
export const FUNCTIONS = /** @type {const} */ (['auth-webhook', 'sync-profile', 'reconcile']);

// `import … from '…'`, `export … from '…'` (over several lines) and `import '…'`, at a line's start:
// a specifier mentioned in a comment or a string is not an import.
const STATIC = /^\s*(?:import|export)\b[^;'"]*?\bfrom\s*(['"])([^'"]+)\1|^\s*import\s*(['"])([^'"]+)\3/gm;
const DYNAMIC = /\bimport\(\s*(['"])([^'"]+)\1\s*\)/g;

/** @param {string} code @returns {string[]} every specifier the module imports */
export function importsOf(code) {
  const found = [];
  for (const m of code.matchAll(STATIC)) found.push(m[2] ?? m[4]);
  for (const m of code.matchAll(DYNAMIC)) found.push(m[2]);
  return found;
}

/**
 * The import graph of the functions from a root (this repository or the installed package).
 * @param {string} root folder holding functions/ and shared/
 * @returns {{ files: Record<string, string[]>, packages: string[] }} per function the root-relative
 *   files it loads (its own first, then shared/, sorted), and every bare specifier (npm packages,
 *   node: builtins excluded), sorted
 */
export function functionImports(root) {
  /** @type {Record<string, string[]>} */
  const files = {};
  const packages = new Set();
  for (const name of FUNCTIONS) {
    const seen = new Set();
    const walk = (/** @type {string} */ file) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const spec of importsOf(readFileSync(join(root, file), 'utf8'))) {
        if (spec.startsWith('.')) walk(relative(root, join(root, dirname(file), spec)));
        else if (!spec.startsWith('node:')) packages.add(spec);
      }
    };
    walk(`functions/${name}/index.ts`);
    const own = [...seen].filter((f) => f.startsWith(`functions/${name}/`)).sort();
    files[name] = [...own, ...[...seen].filter((f) => !own.includes(f)).sort()];
  }
  return { files, packages: [...packages].sort() };
}
