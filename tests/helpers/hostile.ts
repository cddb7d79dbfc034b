/**
 * Hostile input for property-based tests: the strings that break naive sync code (quotes, SQL,
 * emoji, combining marks, bidi overrides, NUL, lone surrogates, 10,000 characters) and fast-check
 * arbitraries of metadata and JSON built from them.
 * @module
 */
import fc from 'fast-check';

export const NUL = '\u0000';

/** Named hostile strings; fast-check mixes them with generated ones. */
export const HOSTILE_STRINGS: readonly string[] = [
  "O'Brien",
  '"double" quoted',
  "Robert'); drop table public.profiles; --",
  "' or 1=1 --",
  '$$; select pg_sleep(10); $$',
  '\\',
  '\\u0000',
  '%s%n%x',
  '{"nested":"json in a string"}',
  '👩🏽‍💻 Ada 🚀',
  'e\u0301\u0301\u0301\u0301',
  'Z̷̢͉̈́a̸̡̛l̵͈̏g̴̰̈o̶̰͝',
  '\u202eevil\u202c',
  '\u200b',
  '   ',
  '\t\n',
  'x'.repeat(10_000),
  '😀'.repeat(10_000),
  'javascript:alert(1)',
  'https://example.com/a.png',
  'HTTP://EXAMPLE.COM/B.PNG',
  'https://exa mple.com/c.png',
  ' https://example.com/d.png ',
];

/** Strings Postgres jsonb cannot hold: NUL, and an unpaired surrogate. */
export const JSONB_REFUSED: readonly string[] = [NUL, `a${NUL}b`, '\ud800', 'x\udc00'];

/** Whether Postgres jsonb refuses this value: a NUL or an unpaired surrogate in any key or string. */
export function jsonbRefuses(value: unknown): boolean {
  if (typeof value === 'string') return value.includes(NUL) || !value.isWellFormed();
  if (Array.isArray(value)) return value.some(jsonbRefuses);
  if (value && typeof value === 'object') {
    return Object.entries(value).some(([k, v]) => jsonbRefuses(k) || jsonbRefuses(v));
  }
  return false;
}

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { arbitrary: fc.constantFrom(...HOSTILE_STRINGS), weight: 12 },
  { arbitrary: fc.constantFrom(...JSONB_REFUSED), weight: 1 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }), weight: 8 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 20 }), weight: 2 },
  { arbitrary: fc.webUrl(), weight: 4 },
);

/** Any JSON value, its strings hostile. */
export const hostileJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileString,
    fc.constant(null),
    fc.boolean(),
    fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(hostileString, tie('value'), { maxKeys: 4 }),
  ),
})).value;

const PROFILE_KEYS = [
  'full_name',
  'name',
  'user_name',
  'preferred_username',
  'avatar_url',
  'picture',
  'role',
  'provider',
];

/** A metadata object: the keys sync reads, holding anything (strings, arrays, objects, numbers). */
export const hostileMetadata: fc.Arbitrary<Record<string, unknown>> = fc.dictionary(
  fc.oneof({ arbitrary: fc.constantFrom(...PROFILE_KEYS), weight: 4 }, {
    arbitrary: hostileString,
    weight: 1,
  }),
  fc.oneof({ arbitrary: hostileString, weight: 3 }, { arbitrary: hostileJson, weight: 1 }),
  { maxKeys: 6 },
);
