// Races: auth-webhook, sync-profile (user tokens and the admin key) and reconcile running at once
// over HTTP on the same 1,000 users while Auth keeps writing (renames, signups, soft and hard
// deletes). Each auth write is followed by its webhook, as the trigger does; there is no final
// repair pass. Every user ends with exactly one profile equal to the final auth row; no answer is
// a 5xx; no deadlock or unique violation surfaces, in an answer or in the log.
import assert from 'node:assert/strict';
import { DEV_SECRET_KEY, signDevAccessToken } from '../../local/dev-keys.ts';
import { minimalEvent, signHeaders } from '../auth-webhook/helpers.ts';
import { insertAuthUsers, renameAuthUsers } from '../helpers/bulk.ts';
import { freshDatabase } from '../helpers/db.ts';
import { profileMismatches } from '../helpers/profiles.ts';
import { startTestStack } from '../helpers/stack.ts';

const USERS = 1_000;
const ROUNDS = 6;

const pick = <T>(items: readonly T[], n: number) => [...items].sort(() => Math.random() - 0.5).slice(0, n);

Deno.test(`webhook, sync-profile and reconcile racing on ${USERS} users with auth writes interleaved`, async () => {
  const db = await freshDatabase('rel_race');
  const stack = await startTestStack(db.url);
  const fn = (name: string) => `${stack.url}/functions/v1/${name}`;
  const tally: Record<string, number> = {};
  const count = (path: string, status: number, code?: string) => {
    const key = `${path} ${status}${code ? ` ${code}` : ''}`;
    tally[key] = (tally[key] ?? 0) + 1;
  };
  const post = async (path: string, headers: Record<string, string>, body?: string) => {
    const res = await fetch(fn(path), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });
    const json = await res.json();
    count(path, res.status, json.error?.code);
    return { status: res.status, json };
  };
  try {
    const ids = await insertAuthUsers(db.sql, USERS, 'race');
    const known = [...ids];
    const live = new Set(ids);
    const tokens = new Map(
      await Promise.all(
        ids.map(async (id) => [id, await signDevAccessToken(stack.supabaseUrl, id)] as const),
      ),
    );
    const webhooks: string[] = ids.map((id) => JSON.stringify(minimalEvent('INSERT', id)));
    let writing = true;
    const busy = () => writing || webhooks.length > 0;

    // Auth: each write commits, then its webhook is queued, as the trigger + pg_net do.
    const writer = (async () => {
      for (let round = 1; round <= ROUNDS; round++) {
        const renamed = pick([...live], 200);
        await renameAuthUsers(db.sql, renamed, `r${round}`);
        webhooks.push(...renamed.map((id) => JSON.stringify(minimalEvent('UPDATE', id))));
        if (round === 2) {
          const fresh = await insertAuthUsers(db.sql, 100, 'late');
          for (const id of fresh) {
            known.push(id);
            live.add(id);
            tokens.set(id, await signDevAccessToken(stack.supabaseUrl, id));
          }
          webhooks.push(...fresh.map((id) => JSON.stringify(minimalEvent('INSERT', id))));
        }
        if (round === 3) {
          const gone = pick([...live], 50);
          await db
            .sql`update auth.users set deleted_at = now(), email = null, updated_at = clock_timestamp() where id = any(${gone}::uuid[])`;
          webhooks.push(...gone.map((id) => JSON.stringify(minimalEvent('UPDATE', id))));
        }
        if (round === 4 || round === 5) {
          // One at a time, as Auth's admin deleteUser does.
          for (const id of pick([...live], 25)) {
            await db.sql`delete from auth.users where id = ${id}`;
            live.delete(id);
            webhooks.push(JSON.stringify(minimalEvent('DELETE', id)));
          }
        }
        await new Promise((r) => setTimeout(r, 150));
      }
      writing = false;
    })();

    const webhookWorker = async () => {
      while (busy()) {
        const body = webhooks.shift();
        if (!body) {
          await new Promise((r) => setTimeout(r, 5));
          continue;
        }
        await post('auth-webhook', signHeaders(body), body);
      }
    };
    const syncWorker = async () => {
      while (busy()) {
        const [id] = pick(known, 1);
        if (Math.random() < 0.5) await post('sync-profile', { authorization: `Bearer ${tokens.get(id)}` });
        else await post('sync-profile', { apikey: DEV_SECRET_KEY }, JSON.stringify({ user_id: id }));
      }
    };
    const reconcileWorker = async () => {
      while (busy()) {
        await post('reconcile', { apikey: DEV_SECRET_KEY }, JSON.stringify({ batch_size: 100 }));
      }
    };
    await Promise.all([
      writer,
      ...Array.from({ length: 12 }, webhookWorker),
      ...Array.from({ length: 6 }, syncWorker),
      reconcileWorker(),
      reconcileWorker(),
    ]);
    console.log(`race on ${known.length} users, ${ROUNDS} rounds of auth writes:`, tally);

    const allowed =
      /^(auth-webhook 200|auth-webhook 404 user_not_found|sync-profile 200|sync-profile 404 user_not_found|reconcile 200|reconcile 409 reconcile_in_progress)$/;
    const unexpected = Object.keys(tally).filter((k) => !allowed.test(k));
    assert.deepEqual(
      unexpected,
      [],
      'only 200, 404 for users deleted meanwhile, and 409 for a second reconcile',
    );
    assert.ok(Object.keys(tally).some((k) => k.startsWith('reconcile 200')), 'reconcile ran');

    assert.deepEqual(
      await profileMismatches(db.sql),
      [],
      'every user has exactly one profile equal to the final auth row',
    );
    const [{ users, profiles }] = await db.sql`
      select (select count(*)::int from auth.users) as users, (select count(*)::int from public.profiles) as profiles`;
    assert.equal(profiles, users);
    const log = stack.logs.join('\n');
    // SQLSTATEs as logged values (quoted): bare digits would also match inside a random uuid.
    for (const sign of ['"40P01"', '"23505"', 'deadlock', 'duplicate key', '"level":"error"']) {
      assert.ok(!log.includes(sign), `the log mentions ${sign}`);
    }
  } finally {
    await stack.close();
    await db.drop();
  }
});
