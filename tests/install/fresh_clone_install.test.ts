/**
 * What `npm install` does on a clean clone: it must leave package-lock.json byte for byte (npm
 * rewrites a lock whose keys are not in its own order, leaving the tree dirty), and no package in
 * the lock may need a newer Node than package.json's `engines` promises (npm's EBADENGINE warning).
 * @module
 */
import assert from 'node:assert/strict';

const root = new URL('../../', import.meta.url);
const read = (name: string) => Deno.readTextFileSync(new URL(name, root));

Deno.test('npm install on a clean clone leaves package-lock.json as committed', async () => {
  const dir = await Deno.makeTempDir({ prefix: 'lock-' });
  try {
    const lock = read('package-lock.json');
    await Deno.writeTextFile(`${dir}/package.json`, read('package.json'));
    await Deno.writeTextFile(`${dir}/package-lock.json`, lock);
    const out = await new Deno.Command('npm', {
      args: ['install', '--package-lock-only', '--ignore-scripts', '--offline', '--no-audit', '--no-fund'],
      cwd: dir,
      stdout: 'piped',
      stderr: 'piped',
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.ok(
      (await Deno.readTextFile(`${dir}/package-lock.json`)) === lock,
      'npm rewrote package-lock.json: run `npm run lock:fix` and commit the result',
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

type Version = [number, number, number];
const parse = (v: string): Version => {
  const [a = 0, b = 0, c = 0] = v.replace(/^v/, '').split('.').map((n) => Number.parseInt(n, 10) || 0);
  return [a, b, c];
};
const cmp = (a: Version, b: Version) => a[0] - b[0] || a[1] - b[1] || a[2] - b[2];

/** Whether `version` satisfies a range of the forms engines use (>=, >, ^, ~, x, ||, spaces). */
function satisfies(version: Version, range: string): boolean {
  return range.split('||').some((alt) =>
    alt.trim().replace(/([<>=^~]+)\s+/g, '$1').split(/\s+/).filter(Boolean).every((c) => {
      const m = /^([<>=^~]*)v?([\d.x*]+)$/.exec(c);
      if (!m) return true;
      const [op, raw] = [m[1], m[2].replace(/\.?[x*].*$/, '')];
      const v = parse(raw);
      const d = cmp(version, v);
      switch (op) {
        case '>=': return d >= 0;
        case '>': return d > 0;
        case '<': return d < 0;
        case '<=': return d <= 0;
        case '^': return d >= 0 && version[0] === v[0];
        case '~': return d >= 0 && version[0] === v[0] && version[1] === v[1];
        default: return raw.split('.').length < 3 ? version[0] === v[0] : d === 0;
      }
    })
  );
}

Deno.test("every locked package runs on the oldest Node that engines allows", () => {
  const pkg = JSON.parse(read('package.json'));
  const min = parse(/(\d+(\.\d+){0,2})/.exec(pkg.engines.node)![1]);
  const lock = JSON.parse(read('package-lock.json'));
  const refused = Object.entries(lock.packages as Record<string, { engines?: { node?: string }; optional?: boolean }>)
    .filter(([name, p]) => name !== '' && typeof p.engines?.node === 'string' && !satisfies(min, p.engines.node))
    .map(([name, p]) => `${name.replace(/^.*node_modules\//, '')} needs node ${p.engines!.node}`);
  assert.deepEqual(refused, [], `engines says node ${pkg.engines.node}`);
});
