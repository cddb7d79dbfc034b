/**
 * `doctor` shows the mapping in force and names any grant (with the policies that would let it
 * through) that lets a user write the role, the key or an auth-owned column of the mapped table.
 */
import assert from 'node:assert/strict';
import { coreDatabase, freshDatabase } from '../helpers/db.ts';
import { runCli } from './run.ts';

type Check = { check: string; status: string; message: string; fix?: string };

const doctor = async (url: string) => {
  const res = await runCli({ SUPABASE_DB_URL: url }, 'doctor', '--json');
  return Object.fromEntries((res.json.checks as Check[]).map((c) => [c.check, c]));
};

Deno.test('doctor: the mapping in force, and grants that let users write what profile-sync owns', async () => {
  const db = await freshDatabase('doctor_mapping');
  try {
    let d = await doctor(db.url);
    assert.equal(d.mapping.status, 'ok');
    assert.match(d.mapping.message, /^public\.profiles keyed by id; auth: email, email_confirmed_at, is_anonymous, last_sign_in_at, phone, provider; app: avatar_url, full_name, role; soft delete: deleted_at; roles: default user/);
    assert.equal(d.access.status, 'ok', d.access.message);
    assert.match(d.access.message, /authenticated may update only full_name, avatar_url; no insert or delete/);

    await db.sql`grant update (role, email) on public.profiles to authenticated`;
    await db.sql`grant insert on public.profiles to anon`;
    d = await doctor(db.url);
    assert.equal(d.access.status, 'fail');
    assert.equal(d.access.message,
      'users can write what profile-sync owns on public.profiles: anon may insert, authenticated may update (email), ' +
        'authenticated may update (role) (policies that let it through: "Users can update their own profile")');
    assert.equal(d.access.fix,
      'revoke insert on public.profiles from anon; revoke update (email) on public.profiles from authenticated; ' +
        'revoke update (role) on public.profiles from authenticated;');
  } finally {
    await db.drop();
  }
});

Deno.test('doctor: no mapping applied is a failure that says what to do', async () => {
  const db = await coreDatabase('doctor_no_mapping');
  try {
    const d = await doctor(db.url);
    assert.equal(d.mapping.status, 'fail');
    assert.match(d.mapping.message, /no mapping is applied/);
    assert.match(d.mapping.fix!, /npx profile-sync init/);
  } finally {
    await db.drop();
  }
});
