/**
 * The SQL (supabase/schemas/30_text_normalisers.sql) implements the definition (tests/cleaning/clean.ts):
 * profile_sync.clean_name and profile_sync.safe_avatar_url, as migrated, give exactly what
 * cleanName and safeAvatarUrl give, on the same generated inputs.
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { cleanName, safeAvatarUrl } from './clean.ts';
import { freshDatabase } from '../helpers/db.ts';
import { rawName, rawUrl } from './arbitraries.ts';

Deno.test('clean_name and safe_avatar_url in SQL agree with the TypeScript definition', async (t) => {
  const db = await freshDatabase('cleaning_sql');
  try {
    const [fn] = await db.sql`
      select bool_and(provolatile = 'i') as immutable from pg_proc
      where pronamespace = 'profile_sync'::regnamespace and proname in ('clean_name', 'safe_avatar_url')`;
    assert.equal(fn.immutable, true);

    const agree = async (sqlFn: 'clean_name' | 'safe_avatar_url', ts: (s: string) => string | null, inputs: string[]) => {
      const rows = await db.sql.unsafe<{ out: string | null }[]>(
        `select profile_sync.${sqlFn}(x) as out from unnest($1::text[]) with ordinality as r(x, i) order by i`,
        [inputs as unknown as string],
      );
      assert.equal(rows.length, inputs.length);
      rows.forEach((row, i) => assert.deepEqual(row.out, ts(inputs[i]), `${sqlFn}(${JSON.stringify(inputs[i])})`));
    };

    await t.step('examples', () =>
      agree('clean_name', cleanName, ['\u001b[31mRed\u001b[0m', ' Ada\u00a0\u00a0Lovelace\r\n', '\u202e\u200b', 'x'.repeat(300)])
        .then(() => agree('safe_avatar_url', safeAvatarUrl, ['https://a.example/x.png', 'http://169.254.169.254/', ' https://b.example/ '])));
    const [ex] = await db.sql`select profile_sync.clean_name(${'[31mRed[0m'}) as n, profile_sync.safe_avatar_url(${' https://b.example/ '}) as u`;
    assert.deepEqual([ex.n, ex.u], ['Red', 'https://b.example/']);

    await t.step('null in, null out', async () => {
      const [row] = await db.sql`select profile_sync.clean_name(null) as n, profile_sync.safe_avatar_url(null) as u`;
      assert.deepEqual([row.n, row.u], [null, null]);
    });
    await t.step('clean_name', () =>
      fc.assert(fc.asyncProperty(fc.array(rawName, { minLength: 1, maxLength: 60 }), (xs) => agree('clean_name', cleanName, xs)), { numRuns: 150 }));
    await t.step('safe_avatar_url', () =>
      fc.assert(fc.asyncProperty(fc.array(rawUrl, { minLength: 1, maxLength: 60 }), (xs) => agree('safe_avatar_url', safeAvatarUrl, xs)), { numRuns: 150 }));
  } finally {
    await db.drop();
  }
});
