/**
 * What a clean display name is (tests/cleaning/clean.ts cleanName), as properties: nothing invisible or
 * disruptive survives, whitespace is single ASCII spaces inside, at most 200 characters, blank
 * is absent, cleaning twice changes nothing, and a name that was clean comes out unchanged.
 */
// deno-lint-ignore-file no-control-regex -- control characters are what these patterns are for
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cleanName, NAME_MAX } from './clean.ts';
import { rawName } from './arbitraries.ts';

// the joiners U+200C/U+200D may stand inside a name (emoji sequences, some scripts), never at its ends
const DISALLOWED = /[\u0000-\u001f\u007f-\u009f\u00a0\u061c\u1680\u2000-\u200b\u200e\u200f\u2028-\u202f\u205f-\u2069\u3000\ufeff]|^[\u200c\u200d]|[\u200c\u200d]$/;

Deno.test('cleanName: examples from the attack run', () => {
  const cases: [string | null, string | null][] = [
    [null, null],
    ['  Ada  Lovelace ', 'Ada Lovelace'],
    ['\u001b[31mRed\u001b[0m Alert\u0007', 'Red Alert'],
    ['Ada\r\nLovelace', 'Ada Lovelace'],
    ['\u202eevil\u202c', 'evil'],
    ['Zero\u200bWidth\ufeff', 'ZeroWidth'],
    ['\u00a0\u2003\u3000', null],
    ['\u200b\u2060', null],
    ['名前 😀', '名前 😀'],
    ['x'.repeat(250), 'x'.repeat(200)],
    [`${'x'.repeat(199)} y`, 'x'.repeat(199)],
    ['O\'Brien 🧑\u200d🚀', 'O\'Brien 🧑\u200d🚀'],
    ['\u200d\u200c', null],
  ];
  for (const [raw, clean] of cases) assert.equal(cleanName(raw), clean, JSON.stringify(raw));
});

Deno.test('cleanName: properties', () => {
  fc.assert(
    fc.property(rawName, (raw) => {
      const name = cleanName(raw);
      if (name === null) {
        // only a value with nothing visible left is absent
        assert.equal(raw.replace(/\u001b\[[0-?]*[ -/]*[@-~]/g, '').replace(DISALLOWED, '').replace(/[\s\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g, ''), '');
        return;
      }
      assert.ok(!DISALLOWED.test(name), `left in: ${JSON.stringify(name)}`);
      assert.ok(!name.includes('  ') && name.trim() === name && name !== '');
      assert.ok([...name].length <= NAME_MAX);
      assert.equal(cleanName(name), name, 'idempotent');
    }),
    { numRuns: 2000 },
  );
});

Deno.test('cleanName: a name that is already clean is kept as it is', () => {
  const word = fc.stringMatching(/^[A-Za-zÀ-ÿ0-9'.-]{1,20}$/);
  fc.assert(
    fc.property(fc.array(word, { minLength: 1, maxLength: 8 }), (words) => {
      const name = words.join(' ');
      assert.equal(cleanName(name), name);
      assert.equal(cleanName(`\u3000${name}\u00a0\n`), name);
    }),
  );
});
