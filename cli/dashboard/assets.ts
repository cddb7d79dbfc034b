/**
 * The page and what it loads, read once at start: our own HTML, script and style (assets/, shipped
 * with the package) and uPlot from node_modules (a runtime dependency; no CDN).
 * @module
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../package-root.ts';

export type Asset = { body: string; type: string };

// from the package root: this module runs from cli/dashboard/ in a clone and bundled in dist/ once packed
const own = (name: string) => readFileSync(join(packageRoot(), 'cli', 'dashboard', 'assets', name), 'utf8');
const fromPackage = (path: string) => readFileSync(createRequire(import.meta.url).resolve(path), 'utf8');

const JS = 'text/javascript; charset=utf-8';
const CSS = 'text/css; charset=utf-8';

export function loadAssets(csrf: string): { page: string; files: Record<string, Asset> } {
  return {
    page: own('index.html').replace('{{csrf}}', csrf),
    files: {
      'dashboard.js': { body: own('dashboard.js'), type: JS },
      'dashboard.css': { body: own('dashboard.css'), type: CSS },
      'uPlot.iife.min.js': { body: fromPackage('uplot/dist/uPlot.iife.min.js'), type: JS },
      'uPlot.min.css': { body: fromPackage('uplot/dist/uPlot.min.css'), type: CSS },
    },
  };
}
