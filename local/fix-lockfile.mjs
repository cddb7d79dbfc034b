#!/usr/bin/env node
// Adds lock entries for other platforms' optional binary packages that this registry does not serve,
// so `npm ci` accepts the lock on linux-x64 (it skips them by os/cpu/libc). Then npm rewrites the
// lock in its own key order, so a later `npm install` on a clean clone leaves it byte for byte.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
const platform = (name) => {
  const os = /darwin/.test(name) ? 'darwin' : /win(32|dows)/.test(name) ? 'win32' : 'linux';
  const cpu = /arm64/.test(name) ? 'arm64' : 'x64';
  const libc = /musl/.test(name) ? ['musl'] : os === 'linux' ? ['glibc'] : undefined;
  return { os: [os], cpu: [cpu], ...(libc ? { libc } : {}) };
};
let added = 0;
for (const entry of Object.values(lock.packages)) {
  for (const [dep, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${dep}`;
    if (lock.packages[key]) continue;
    lock.packages[key] = { version, optional: true, ...platform(dep) };
    added++;
  }
}
const sorted = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))));
lock.packages = sorted;
writeFileSync('package-lock.json', JSON.stringify(lock, null, 2) + '\n');
execFileSync('npm', ['install', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund'], { stdio: 'inherit' });
console.log(`added ${added} platform entries`);
