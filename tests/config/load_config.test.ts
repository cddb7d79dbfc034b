// loadConfig validates env once and names what to fix; secrets and role policy parse as DESIGN says.
import { deepStrictEqual as assertEquals, throws } from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../shared/config.ts';

const base = { SUPABASE_DB_URL: 'postgresql://u:p@127.0.0.1:5432/postgres', SUPABASE_URL: 'https://abc.supabase.co/' };

Deno.test('defaults and derived values', () => {
  const c = loadConfig(base);
  assertEquals(c.issuer, 'https://abc.supabase.co/auth/v1');
  assertEquals(c.rolePolicy, undefined); // the database's policy is in force
  assertEquals(c.maxBodyBytes, 1024 * 1024);
  assertEquals(c.webhookSecrets, []);
  assertEquals(c.adminKeys, []);
});

Deno.test('admin keys, JWKS forms, rotation secrets, role lists', () => {
  const c = loadConfig({
    ...base,
    SUPABASE_SECRET_KEYS: '{"default":"sb_secret_a","ci":"sb_secret_b"}',
    SUPABASE_SERVICE_ROLE_KEY: 'legacy.jwt.key',
    SUPABASE_JWKS: '[{"kty":"EC","kid":"k1"}]',
    PROFILE_SYNC_WEBHOOK_SECRET: 'v1,whsec_MDEyMzQ1Njc4OWFiY2RlZg== | whsec_ZmVkY2JhOTg3NjU0MzIxMA==',
    PROFILE_SYNC_SELF_ASSIGNABLE_ROLES: 'creator, viewer',
    PROFILE_SYNC_DEFAULT_ROLE: 'member',
  });
  assertEquals(c.adminKeys, ['sb_secret_a', 'sb_secret_b', 'legacy.jwt.key']);
  assertEquals(c.jwks, { keys: [{ kty: 'EC', kid: 'k1' }] });
  assertEquals(c.webhookSecrets, ['whsec_MDEyMzQ1Njc4OWFiY2RlZg==', 'whsec_ZmVkY2JhOTg3NjU0MzIxMA==']);
  assertEquals(c.rolePolicy, { defaultRole: 'member', selfAssignableRoles: ['creator', 'viewer'] });
});

Deno.test('the legacy HS256 secret is read from PROFILE_SYNC_JWT_SECRET too (secrets set skips SUPABASE_ names)', () => {
  const secret = 'super-secret-jwt-token-with-at-least-32-characters-long';
  assertEquals(loadConfig({ ...base, PROFILE_SYNC_JWT_SECRET: secret }).jwtSecret, secret);
  assertEquals(loadConfig(base).jwtSecret, undefined);
});

Deno.test('bad values stop start-up with a message naming the variable', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ SUPABASE_URL: base.SUPABASE_URL }, /SUPABASE_DB_URL/],
    [{ ...base, SUPABASE_DB_URL: 'mysql://x' }, /SUPABASE_DB_URL/],
    [{ ...base, SUPABASE_URL: 'not a url' }, /SUPABASE_URL/],
    [{ ...base, SUPABASE_JWKS: '{not json' }, /SUPABASE_JWKS/],
    [{ ...base, SUPABASE_SECRET_KEYS: '["a"]' }, /SUPABASE_SECRET_KEYS/],
    [{ ...base, PROFILE_SYNC_WEBHOOK_SECRET: 'hunter2' }, /PROFILE_SYNC_WEBHOOK_SECRET/],
    [{ ...base, PROFILE_SYNC_SELF_ASSIGNABLE_ROLES: 'ok, not ok' }, /PROFILE_SYNC_SELF_ASSIGNABLE_ROLES/],
    [{ ...base, PROFILE_SYNC_MAX_BODY_BYTES: 'lots' }, /PROFILE_SYNC_MAX_BODY_BYTES/],
  ];
  for (const [env, pattern] of cases) throws(() => loadConfig(env), (e: unknown) => e instanceof ConfigError && pattern.test(e.message));
});

Deno.test('the config error never echoes a secret value', () => {
  throws(
    () => loadConfig({ ...base, PROFILE_SYNC_WEBHOOK_SECRET: 'v1,not-a-whsec-but-secret-value' }),
    (e: unknown) => e instanceof ConfigError && !e.message.includes('secret-value'),
  );
});
