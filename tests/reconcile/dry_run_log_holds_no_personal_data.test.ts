/**
 * A dry run's report (to the admin who asked) lists changes with their from/to values, emails and
 * phone numbers included; its log line keeps counts only: no email, no phone, no sample.
 */
import assert from 'node:assert/strict';
import { DEV_SECRET_KEY } from '../../local/dev-keys.ts';
import { syncUsers } from '../../shared/sync.ts';
import { freshDatabase } from '../helpers/db.ts';
import { inProcess } from '../helpers/in_process.ts';
import { insertAuthUser, updateAuthUser } from '../helpers/users.ts';

Deno.test('a dry run logs counts and no email or phone number', async () => {
  const db = await freshDatabase('dry_run_log');
  try {
    const personal: string[] = [];
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const email = `dry-run-old-${i}@example.org`;
      const phone = `1555010${1000 + i}`;
      ids.push(await insertAuthUser(db.sql, { email, phone, user_metadata: { full_name: `Person ${i}` } }));
      personal.push(email, phone);
    }
    await syncUsers(db.sql, ids);
    for (const [i, id] of ids.entries()) {
      const email = `dry-run-new-${i}@example.org`;
      const phone = `1555020${1000 + i}`;
      await updateAuthUser(db.sql, id, { email, phone });
      personal.push(email, phone);
    }
    // and one user with no profile yet
    const missingEmail = 'dry-run-missing@example.org';
    await insertAuthUser(db.sql, { email: missingEmail, phone: '15550309999' });
    personal.push(missingEmail, '15550309999');

    const { call, logs } = inProcess('reconcile', db);
    const res = await call({ headers: { apikey: DEV_SECRET_KEY }, body: { dry_run: true } });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    const answer = JSON.stringify(res.json);
    assert.ok(answer.includes('dry-run-new-0@example.org'), 'the admin\'s report holds the changes (the test can fail)');
    assert.equal((res.json.changes as Record<string, { rows: number }>).email.rows, 3);

    const line = logs.map((l) => JSON.parse(l)).find((l) => l.msg === 'reconcile');
    assert.ok(line, logs.join('\n'));
    assert.equal(line.dry_run, true);
    assert.deepEqual(line.changes.email, { rows: 3, kept: 0 });
    assert.equal(line.samples, undefined);
    const all = logs.join('\n');
    for (const value of personal) assert.ok(!all.includes(value), `the log holds ${value}`);
    assert.doesNotMatch(all, /@example\.org/);
  } finally {
    await db.drop();
  }
});
