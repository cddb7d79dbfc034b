/**
 * A correctly signed body that is not an auth.users Database Webhook gets 400 with a code
 * saying what is wrong (invalid_json, invalid_payload with the field, unsupported_table), and
 * nothing is written.
 */
import assert from 'node:assert/strict';
import { freshDatabase } from '../helpers/db.ts';
import { startTestStack } from '../helpers/stack.ts';
import { insertAuthUser } from '../helpers/users.ts';
import { minimalEvent, postWebhook } from './helpers.ts';

Deno.test('auth-webhook refuses signed bodies that are not auth.users webhooks with 400', async (t) => {
  const db = await freshDatabase('webhook_payload');
  const stack = await startTestStack(db.url);
  try {
    const id = await insertAuthUser(db.sql);
    const valid = minimalEvent('UPDATE', id);
    const refuse = async (body: unknown, code: string, detail?: RegExp) => {
      const { status, json } = await postWebhook(stack, body);
      const error = json.error as { code: string; message: string };
      assert.equal(status, 400, JSON.stringify(json));
      assert.equal(error.code, code);
      if (detail) assert.match(error.message, detail);
    };

    await t.step('invalid JSON: invalid_json', () => refuse('{"type":"INSERT",', 'invalid_json'));
    await t.step('empty body: invalid_json', () => refuse('', 'invalid_json'));

    for (const [label, body] of [['array', '[1,2]'], ['string', '"INSERT"'], ['number', '42'], ['null', 'null']]) {
      await t.step(`JSON ${label} instead of an object: invalid_payload`, () => refuse(body, 'invalid_payload', /expected a JSON object/));
    }

    await t.step('unknown type: invalid_payload naming type', () =>
      refuse({ ...valid, type: 'TRUNCATE' }, 'invalid_payload', /type: /));
    await t.step('lower-case type: invalid_payload', () => refuse({ ...valid, type: 'update' }, 'invalid_payload', /type: /));
    await t.step('record.id not a uuid: invalid_payload naming record.id', () =>
      refuse({ ...valid, record: { ...valid.record as object, id: 'not-a-uuid' } }, 'invalid_payload', /record\.id: /));
    await t.step('record.id a number: invalid_payload naming record.id', () =>
      refuse({ ...valid, record: { ...valid.record as object, id: 42 } }, 'invalid_payload', /record\.id: /));
    await t.step('email a number: invalid_payload naming record.email', () =>
      refuse({ ...valid, record: { ...valid.record as object, email: 42 } }, 'invalid_payload', /record\.email: /));
    await t.step('metadata a string: invalid_payload naming the column', () =>
      refuse({ ...valid, record: { ...valid.record as object, raw_user_meta_data: 'x' } }, 'invalid_payload', /record\.raw_user_meta_data: /));
    await t.step('is_anonymous a string: invalid_payload', () =>
      refuse({ ...valid, record: { ...valid.record as object, is_anonymous: 'yes' } }, 'invalid_payload', /record\.is_anonymous: /));
    await t.step('UPDATE without record: invalid_payload naming record', () =>
      refuse({ ...valid, record: null }, 'invalid_payload', /record: /));
    await t.step('DELETE without old_record: invalid_payload naming old_record', () =>
      refuse({ ...minimalEvent('DELETE', id), old_record: null }, 'invalid_payload', /old_record: /));
    await t.step('UPDATE whose record and old_record name different users: invalid_payload', () =>
      refuse({ ...valid, old_record: { ...valid.old_record as object, id: crypto.randomUUID() } }, 'invalid_payload', /differ/));
    await t.step('missing table and schema: invalid_payload', () =>
      refuse({ type: 'INSERT', record: valid.record, old_record: null }, 'invalid_payload', /table: /));
    await t.step('table a number: invalid_payload', () => refuse({ ...valid, table: 1 }, 'invalid_payload', /table: /));

    await t.step('another table: unsupported_table', () => refuse({ ...valid, table: 'identities' }, 'unsupported_table'));
    await t.step('another schema: unsupported_table', () => refuse({ ...valid, schema: 'public' }, 'unsupported_table'));
    await t.step('public.users: unsupported_table', () =>
      refuse({ ...valid, schema: 'public', table: 'users' }, 'unsupported_table'));

    const [{ n }] = await db.sql`select count(*)::int as n from public.profiles`;
    assert.equal(n, 0, 'nothing may be written for a refused request');
  } finally {
    await stack.close();
    await db.drop();
  }
});
