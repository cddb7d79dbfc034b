/**
 * The pieces of a project init edits by rule: config.toml gains a [functions.<name>] section only
 * where there is none (one that exists but checks JWTs is named), and new migration versions come
 * after now and after the newest migration, one second apart.
 */
import assert from 'node:assert/strict';
import { nextVersions, withFunctionSections } from '../../cli/install/project.ts';

Deno.test('sections are appended only for functions without one; the rest of the file is kept', () => {
  const toml = 'project_id = "x"\n\n[functions.sync-profile]\nenabled = true\nverify_jwt = false\n\n[functions."reconcile"]\nverify_jwt = true\n[auth]\nx = 1';
  const { toml: out, added, warnings } = withFunctionSections(toml, ['auth-webhook', 'sync-profile', 'reconcile']);
  assert.deepEqual(added, ['auth-webhook']);
  assert.ok(out.startsWith(`${toml}\n`));
  assert.match(out, /\[functions\.auth-webhook\]\nenabled = true\nverify_jwt = false\nimport_map = "\.\/functions\/auth-webhook\/deno\.json"\n$/);
  assert.deepEqual(warnings.length, 1);
  assert.match(warnings[0], /\[functions\.reconcile\] has no `verify_jwt = false`/);
  assert.deepEqual(withFunctionSections(out, ['auth-webhook']).added, []);
  // a commented-out example is not a section
  assert.deepEqual(withFunctionSections('# [functions.auth-webhook]\n', ['auth-webhook']).added, ['auth-webhook']);
});

Deno.test('versions come after now and after the newest migration, one second apart', () => {
  const now = new Date('2026-11-30T12:00:00.500Z');
  assert.deepEqual(nextVersions([], 2, now), ['20261130120000', '20261130120001']);
  assert.deepEqual(nextVersions(['20240101000000_a.sql'], 1, now), ['20261130120000']);
  assert.deepEqual(nextVersions(['20990101235959_future.sql', '0001_odd.sql'], 2, now), ['20990102000000', '20990102000001']);
});
