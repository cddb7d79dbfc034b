/**
 * A reconcile run holds a session lock, so it never goes through Supabase's transaction pooler:
 * port 6543 of *.pooler.supabase.com becomes session mode (5432); other URLs are kept as given.
 */
import assert from 'node:assert/strict';
import { sessionUrl } from '../../shared/reconcile-connections.ts';

Deno.test('sessionUrl: the Supabase transaction pooler becomes session mode; anything else is unchanged', () => {
  assert.equal(
    sessionUrl('postgresql://postgres.ref:p%40ss@aws-0-eu-west-1.pooler.supabase.com:6543/postgres?sslmode=require'),
    'postgresql://postgres.ref:p%40ss@aws-0-eu-west-1.pooler.supabase.com:5432/postgres?sslmode=require',
  );
  for (const url of [
    'postgresql://postgres:pw@db.ref.supabase.co:5432/postgres',
    'postgresql://postgres.ref:pw@aws-0-eu-west-1.pooler.supabase.com:5432/postgres',
    'postgres://u:pw@127.0.0.1:6543/app',
  ]) {
    assert.equal(sessionUrl(url), url);
  }
});
