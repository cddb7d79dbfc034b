/**
 * The offline check of a mapping is its shape only (zod): each problem names its field
 * (`columns.role: …`), one line per problem. Every rule about the table or between fields is
 * apply_mapping's, checked live (tests/install/one_validator_sql.test.ts).
 */
import assert from 'node:assert/strict';
import { MappingError, normaliseMapping, parseMapping, TODO_SOURCE } from '../../cli/mapping.ts';

function errorsOf(doc: unknown): string[] {
  const result = parseMapping(doc);
  assert.equal(result.ok, false, `expected errors for ${JSON.stringify(doc)}`);
  return (result as { errors: string[] }).errors;
}

const base = { table: 'public.profiles', key: 'id', columns: { email: 'email', role: 'role', full_name: 'full_name' } };

Deno.test('an unknown source names the column and the sources there are', () => {
  const [error] = errorsOf({ ...base, columns: { role: 'user_metadata' } });
  assert.match(error, /^columns\.role: unknown source "user_metadata": use an auth column \(email, phone/);
  assert.match(errorsOf({ ...base, columns: { x: 'raw_user_meta_data.role' } })[0], /^columns\.x: unknown source/);
  assert.match(errorsOf({ ...base, columns: { x: 'user_metadata.' } })[0], /^columns\.x: unknown source/);
});

Deno.test('bad shapes: wrong types, unknown fields, bad owners, bad names, each with its path', () => {
  assert.match(errorsOf({ ...base, columns: { email: 42 } })[0], /^columns\.email: must be a source/);
  assert.match(errorsOf({ ...base, columns: { email: { from: 'email', owner: 'user' } } })[0], /^columns\.email\.owner: must be "auth", "app" or "insert"/);
  assert.match(errorsOf({ ...base, columns: { email: { from: 'email', fallback: 'x' } } })[0], /^columns\.email: unknown field "fallback"/);
  assert.match(errorsOf({ ...base, columns: { x: { from: 'email', default: { a: 1 } } } })[0], /^columns\.x\.default: /);
  assert.match(errorsOf({ ...base, soft_delet: null })[0], /^unknown field "soft_delet"/);
  assert.match(errorsOf({ ...base, table: 'public.my-table' })[0], /^table: must be a table name/);
  assert.match(errorsOf({ ...base, key: 'user id' })[0], /^key: must be a column name/);
  assert.match(errorsOf({ ...base, columns: { 'Full Name': 'full_name' } })[0], /^columns\.Full Name: must be a column name/);
  assert.match(errorsOf({ ...base, roles: { default: '' } })[0], /^roles\.default: must not be empty/);
  assert.match(errorsOf({ ...base, roles: { self_assignable: ['artist', 'artist'] } })[0], /^roles\.self_assignable\[1\]: artist is listed twice/);
  assert.match(errorsOf({ ...base, soft_delete: { when: 'x' } })[0], /^soft_delete: must be null, \{"at": column\}/);
  assert.match(errorsOf('nope')[0], /expected object/);
});

Deno.test('the placeholder init writes for a column without a source is an error saying what to put there', () => {
  const [error] = errorsOf({ ...base, columns: { org_id: TODO_SOURCE } });
  assert.match(error, /^columns\.org_id: needs a source: set it to an auth column .*, or \{"value": …\}/);
});

Deno.test('every problem is reported at once, and MappingError lists them', () => {
  const doc = { ...base, columns: { a: 'nope', b: 'nope' } };
  assert.equal(errorsOf(doc).length, 2);
  assert.throws(() => normaliseMapping(doc), (err: unknown) => err instanceof MappingError && /2 errors:\n {2}columns\.a: /.test(err.message));
});
