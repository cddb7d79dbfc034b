// Bad input the per-endpoint suites do not reach, over real HTTP against the local stack: JSON
// nested 100,000 deep, signature headers cut short, a trigger-signed delivery replayed (inside
// and outside the tolerance). Each gets a coded answer, writes nothing it should not, leaves the
// server serving, and leaves no secret in the log.
import assert from 'node:assert/strict';
import { DEV_SECRET_KEY, signDevAccessToken } from '../../local/dev-keys.ts';
import {
  DEV_WEBHOOK_SECRET,
  minimalEvent,
  queuedRequests,
  setWebhookVault,
  signHeaders,
  webhookUrl,
} from '../auth-webhook/helpers.ts';
import { freshDatabase } from '../helpers/db.ts';
import { syncTables } from '../helpers/profiles.ts';
import { startTestStack } from '../helpers/stack.ts';
import { insertAuthUser, updateAuthUser } from '../helpers/users.ts';

const nestedArrays = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);
const nestedObjects = (depth: number) => '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);

Deno.test('bad input over HTTP: coded answers, no writes, no secrets in the log', async (t) => {
  const db = await freshDatabase('rel_bad_input');
  const stack = await startTestStack(db.url);
  const fn = (name: string) => `${stack.url}/functions/v1/${name}`;
  const secretsSeen: string[] = [DEV_WEBHOOK_SECRET.replace(/^v1,/, ''), DEV_SECRET_KEY];
  const send = async (url: string, body: string, headers: Record<string, string>) => {
    const res = await fetch(url, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...headers },
    });
    const text = await res.text();
    return {
      status: res.status,
      code: (JSON.parse(text) as { error?: { code: string } }).error?.code,
      json: JSON.parse(text),
    };
  };
  const signed = (body: string) => {
    const headers = signHeaders(body);
    secretsSeen.push(headers['webhook-signature'].replace(/^v1,/, ''));
    return send(fn('auth-webhook'), body, headers);
  };
  try {
    const id = await insertAuthUser(db.sql, { user_metadata: { full_name: 'Ada' } });
    const token = await signDevAccessToken(stack.supabaseUrl, id);
    secretsSeen.push(token);

    await t.step(
      'JSON nested 100,000 deep: a coded 400 from every function, 413 past the size limit',
      async () => {
        const before = await syncTables(db.sql);
        // auth-webhook caps its body at 256 KiB (what an auth.users event can be): 40,000 nested
        // objects fit under it, 100,000 (600 KB) do not.
        assert.deepEqual((await signed(nestedObjects(100_000))).code, 'payload_too_large');
        for (const [deep, fitsWebhook] of [[nestedArrays(100_000), nestedArrays(100_000)], [nestedObjects(100_000), nestedObjects(40_000)]]) {
          assert.deepEqual((await signed(fitsWebhook)).code, 'invalid_payload');
          const asRecord =
            `{"type":"INSERT","table":"users","schema":"auth","old_record":null,"record":${fitsWebhook}}`;
          assert.deepEqual((await signed(asRecord)).code, 'invalid_payload');
          const admin = await send(fn('sync-profile'), deep, { apikey: DEV_SECRET_KEY });
          assert.deepEqual([admin.status, admin.code], [400, 'invalid_payload']);
          const reconcile = await send(fn('reconcile'), deep, { apikey: DEV_SECRET_KEY });
          assert.deepEqual([reconcile.status, reconcile.code], [400, 'invalid_payload']);
        }
        const user = await send(fn('sync-profile'), nestedArrays(100_000), {
          authorization: `Bearer ${token}`,
        });
        assert.deepEqual([user.status, user.code], [400, 'invalid_payload']);
        assert.deepEqual(await syncTables(db.sql), before);
        // Twice the default 1 MiB limit, refused before it is parsed.
        assert.deepEqual((await signed(nestedArrays(1_048_576))).code, 'payload_too_large');
        // An object body's unknown keys are ignored by sync-profile, however deep they go: the caller syncs.
        const deepKey = await send(fn('sync-profile'), nestedObjects(100_000), {
          authorization: `Bearer ${token}`,
        });
        assert.deepEqual([deepKey.status, deepKey.json.profile?.id], [200, id]);
        await db.sql`delete from public.profiles`;
      },
    );

    await t.step(
      'deep nesting inside the payload metadata: only a hint, the user syncs from auth (200)',
      async () => {
        const event = minimalEvent('INSERT', id) as { record: Record<string, unknown> };
        const body = JSON.stringify({
          ...event,
          record: { ...event.record, raw_user_meta_data: { full_name: 'x' } },
        })
          .replace('{"full_name":"x"}', nestedObjects(40_000));
        const res = await signed(body);
        assert.deepEqual([res.status, res.json.outcome], [200, 'created']);
        const [row] = await db.sql`select full_name from public.profiles where id = ${id}`;
        assert.equal(row.full_name, 'Ada');
      },
    );

    await t.step(
      'deep metadata in auth.users: 100,000 levels refused by Postgres, 10,000 delivered by the trigger',
      async () => {
        await assert.rejects(
          db.sql`update auth.users set raw_user_meta_data = ${
            nestedObjects(100_000)
          }::text::jsonb where id = ${id}`,
          { code: '54001' },
        );
        await setWebhookVault(db.sql, webhookUrl(stack), DEV_WEBHOOK_SECRET);
        const deepId = crypto.randomUUID();
        await insertAuthUser(db.sql, { id: deepId });
        // taken from the queue as a drain would, so the update is queued with a wake-up of its own
        await db.sql`delete from net.http_request_queue`;
        await db.sql`delete from profile_sync.deliveries`;
        await db.sql`
        update auth.users set raw_user_meta_data = jsonb_build_object('full_name', 'Deep', 'deep', ${
          nestedObjects(10_000)
        }::text::jsonb),
          updated_at = clock_timestamp() where id = ${deepId}`;
        const [queued] = await queuedRequests(db.sql);
        const res = await send(queued.url, queued.body, queued.headers);
        assert.deepEqual([res.status, res.json.delivered, res.json.failed], [200, 1, 0]);
        const [row] = await db.sql`select full_name from public.profiles where id = ${deepId}`;
        assert.equal(row.full_name, 'Deep');
      },
    );

    await t.step('signature headers cut short: 401, nothing written', async () => {
      const other = await insertAuthUser(db.sql, { user_metadata: { full_name: 'Grace' } });
      const body = JSON.stringify(minimalEvent('INSERT', other));
      const good = signHeaders(body);
      secretsSeen.push(good['webhook-signature'].replace(/^v1,/, ''));
      const cuts = (value: string) =>
        [...new Set([0, 1, 2, 3, 10, value.length - 4, value.length - 1])].filter((n) => n < value.length)
          .map((n) => value.slice(0, n));
      const before = await syncTables(db.sql);
      for (const header of ['webhook-signature', 'webhook-timestamp', 'webhook-id'] as const) {
        for (const cut of cuts(good[header])) {
          const res = await send(fn('auth-webhook'), body, { ...good, [header]: cut });
          const expected = cut === '' ? 'missing_signature' : 'invalid_signature';
          assert.deepEqual(
            [res.status, res.code],
            [401, expected],
            `${header} cut to ${JSON.stringify(cut)}`,
          );
        }
      }
      // Nor does the right signature with something glued onto it.
      assert.equal(
        (await send(fn('auth-webhook'), body, {
          ...good,
          'webhook-signature': `${good['webhook-signature']}x`,
        })).status,
        401,
      );
      assert.deepEqual(await syncTables(db.sql), before);
    });

    await t.step(
      'a trigger-signed delivery replayed: harmless inside the tolerance, 401 outside',
      async () => {
        await db.sql`delete from net.http_request_queue`;
        await db.sql`delete from profile_sync.deliveries`;
        const replayed = await insertAuthUser(db.sql, { user_metadata: { full_name: 'First' } });
        const [captured] = await queuedRequests(db.sql); // the signup's wake-up
        secretsSeen.push(captured.headers['webhook-signature'].replace(/^v1,/, ''));
        assert.equal((await send(captured.url, captured.body, captured.headers)).status, 200);
        // The user changes; the old wake-up, replayed within 5 minutes, only drains the queue again:
        // it cannot take the profile back.
        await updateAuthUser(db.sql, replayed, { raw_user_meta_data: { full_name: 'Second' } });
        await send(fn('sync-profile'), JSON.stringify({ user_id: replayed }), { apikey: DEV_SECRET_KEY });
        const again = await send(captured.url, captured.body, captured.headers);
        assert.equal(again.status, 200);
        const [row] = await db.sql`select full_name from public.profiles where id = ${replayed}`;
        assert.equal(row.full_name, 'Second');

        // The same bytes signed by the SQL signer as if sent 6 minutes ago, or 6 minutes ahead.
        const before = await syncTables(db.sql);
        for (const skew of [-360, 360]) {
          const timestamp = Math.floor(Date.now() / 1000) + skew;
          const [{ signature }] = await db.sql`
          select profile_sync.standard_webhook_signature(${
            captured.headers['webhook-id']
          }, ${timestamp}, ${captured.body}, ${DEV_WEBHOOK_SECRET}) as signature`;
          const res = await send(captured.url, captured.body, {
            ...captured.headers,
            'webhook-timestamp': String(timestamp),
            'webhook-signature': signature,
          });
          assert.deepEqual([res.status, res.code], [401, 'invalid_signature'], `skew ${skew} s`);
        }
        assert.deepEqual(await syncTables(db.sql), before);
      },
    );

    await t.step('the server still serves, and its log holds no secret, token or signature', async () => {
      const res = await signed(JSON.stringify(minimalEvent('UPDATE', id)));
      assert.equal(res.status, 200);
      const log = stack.logs.join('\n');
      for (const secret of secretsSeen) {
        assert.ok(!log.includes(secret), `the log holds ${secret.slice(0, 12)}…`);
      }
      assert.ok(!log.includes('$2a$10$'), 'the log holds a password hash');
      assert.ok(stack.logs.every((line) => line.length < 4096), 'a log line echoes a request body');
      assert.ok(
        stack.logs.every((line) => !line.includes('"level":"error"')),
        'an unhandled error was logged',
      );
    });
  } finally {
    await stack.close();
    await db.drop();
  }
});
