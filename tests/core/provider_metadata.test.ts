// The core maps every provider's metadata shape to full_name/avatar_url/provider (DESIGN rules).
import { deepStrictEqual as assertEquals } from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { insertAuthUser, provider } from '../helpers/users.ts';
import { getProfile, syncUser } from '../../shared/sync.ts';


Deno.test('provider metadata shapes map to the profile', async (t) => {
  const db = await freshDatabase('providers');
  try {
    const cases: [string, ReturnType<(typeof provider)[keyof typeof provider]>, Record<string, unknown>][] = [
      ['google: name + picture', provider.google('Grace Hopper'), {
        full_name: 'Grace Hopper', avatar_url: 'https://lh3.googleusercontent.com/a/photo.jpg', provider: 'google',
      }],
      ['github without a name: user_name', provider.github('octocat'), {
        full_name: 'octocat', avatar_url: 'https://avatars.githubusercontent.com/u/583231?v=4', provider: 'github',
      }],
      ['github with a name', provider.github('octocat', 'The Octocat'), { full_name: 'The Octocat', provider: 'github' }],
      ['azure: only full_name', provider.azure('Ada Lovelace'), { full_name: 'Ada Lovelace', avatar_url: null, provider: 'azure' }],
      ['apple: nothing', provider.apple(), { full_name: null, avatar_url: null, provider: 'apple' }],
      ['discord: full_name wins over name', provider.discord('wumpus'), {
        full_name: 'wumpus', avatar_url: 'https://cdn.discordapp.com/avatars/1/a.png', provider: 'discord',
      }],
      ['email with signup data', provider.email({ full_name: '  Linus  ' }), { full_name: 'Linus', provider: 'email' }],
      ['email: blank full_name falls through to name', provider.email({ full_name: '   ', name: 'Bea' }), { full_name: 'Bea' }],
      ['phone', provider.phone('15551234567'), { email: null, phone: '15551234567', provider: 'phone', full_name: null }],
      ['anonymous', provider.anonymous(), { email: null, is_anonymous: true, provider: null, role: 'user' }],
      ['picture used when avatar_url is absent', provider.email({ picture: 'https://img.example/p.png' }), {
        avatar_url: 'https://img.example/p.png',
      }],
      ['non-http avatar refused', provider.email({ avatar_url: 'javascript:alert(1)' }), { avatar_url: null }],
      ['arrays where strings belong are ignored', provider.email({ full_name: ['a', 'b'], name: { x: 1 }, user_name: 'kept' }), {
        full_name: 'kept',
      }],
      ['10,000-character names are cut', provider.email({ full_name: 'x'.repeat(10_000) }), { full_name: 'x'.repeat(200) }],
      ['quotes, SQL and emoji stored as they are', provider.email({ full_name: `O'Brien"; drop table x;-- 🧑‍🚀 é` }), {
        full_name: `O'Brien"; drop table x;-- 🧑‍🚀 é`,
      }],
    ];
    for (const [name, input, expected] of cases) {
      await t.step(name, async () => {
        const id = await insertAuthUser(db.sql, input);
        assertEquals(await syncUser(db.sql, id), { user_id: id, outcome: 'created' });
        const profile = await getProfile(db.sql, id);
        for (const [k, v] of Object.entries(expected)) assertEquals(profile?.[k as keyof typeof profile], v, k);
      });
    }

    await t.step('auth-owned fields follow auth', async () => {
      const confirmed = new Date('2026-01-02T03:04:05Z');
      const signedIn = new Date('2026-02-03T04:05:06Z');
      const id = await insertAuthUser(db.sql, {
        email: 'owned@example.com', email_confirmed_at: confirmed, last_sign_in_at: signedIn,
      });
      await syncUser(db.sql, id);
      const p = await getProfile(db.sql, id);
      assertEquals(p?.email, 'owned@example.com');
      assertEquals(new Date(p!.email_confirmed_at as string).toISOString(), confirmed.toISOString());
      assertEquals(new Date(p!.last_sign_in_at as string).toISOString(), signedIn.toISOString());
    });
  } finally {
    await db.drop();
  }
});
