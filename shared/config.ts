/**
 * Configuration: read once from an env record, validated with zod, passed to whoever needs it.
 * Nothing here reads Deno.env at import time; a bad value is a clear start-up error.
 * @module
 */
import { z } from 'zod';

const csv = (value: string | undefined) =>
  (value ?? '').split(',').map((s) => s.trim()).filter((s) => s.length > 0);

const jsonRecord = (name: string) =>
  z.string().optional().transform((raw, ctx) => {
    if (raw === undefined || raw.trim() === '') return undefined;
    try {
      return JSON.parse(raw) as unknown;
    } catch {
      ctx.addIssue({ code: 'custom', message: `${name} is not valid JSON` });
      return z.NEVER;
    }
  });

/**
 * The largest auth-webhook body by default. An event carries the user's metadata twice at most
 * (record and old_record of an UPDATE); Auth copies both metadata objects into every access token,
 * which travels in a header that gateways cap (Envoy 60 KiB, nginx 8 KiB a line by default), so a
 * user whose metadata outgrows that cannot use the API at all. 2 × 64 KiB plus the columns is
 * under 256 KiB; a typical OAuth signup is 1-3 KiB (docs/reliability.md).
 */
export const WEBHOOK_MAX_BODY_BYTES = 256 * 1024;

const roleName = z.string().trim().min(1).max(100).regex(/^[A-Za-z0-9_.:-]+$/, 'letters, digits, _ . : - only');

const EnvSchema = z.object({
  SUPABASE_DB_URL: z.string().min(1, 'set SUPABASE_DB_URL to the Postgres connection URL').refine(
    (v) => /^postgres(ql)?:\/\//.test(v),
    'SUPABASE_DB_URL must be a postgres:// or postgresql:// URL',
  ),
  SUPABASE_URL: z.string().url('SUPABASE_URL must be the project URL, e.g. https://<ref>.supabase.co'),
  SUPABASE_JWKS: jsonRecord('SUPABASE_JWKS').pipe(
    z.union([
      z.undefined(),
      z.object({ keys: z.array(z.record(z.string(), z.unknown())) }),
      z.array(z.record(z.string(), z.unknown())).transform((keys) => ({ keys })),
    ]),
  ),
  SUPABASE_JWT_SECRET: z.string().min(32, 'SUPABASE_JWT_SECRET must be at least 32 characters').optional(),
  // `supabase secrets set` skips names starting with SUPABASE_: a hosted project sets this one
  PROFILE_SYNC_JWT_SECRET: z.string().min(32, 'PROFILE_SYNC_JWT_SECRET must be at least 32 characters').optional(),
  SUPABASE_SECRET_KEYS: jsonRecord('SUPABASE_SECRET_KEYS').pipe(
    z.union([z.undefined(), z.record(z.string(), z.string().min(1))]),
  ),
  SUPABASE_SERVICE_ROLE_KEY: z.string().min(1).optional(),
  PROFILE_SYNC_WEBHOOK_SECRET: z.string().optional().transform((raw, ctx) => {
    const secrets = (raw ?? '').split(/[\s|]+/).filter((s) => s.length > 0);
    for (const s of secrets) {
      if (!/^(v1,)?whsec_[A-Za-z0-9+/=]{16,}$/.test(s)) {
        ctx.addIssue({ code: 'custom', message: 'PROFILE_SYNC_WEBHOOK_SECRET must be v1,whsec_<base64> (several joined by spaces or |)' });
        return z.NEVER;
      }
    }
    return secrets.map((s) => s.replace(/^v1,/, ''));
  }),
  PROFILE_SYNC_DEFAULT_ROLE: roleName.optional(),
  PROFILE_SYNC_SELF_ASSIGNABLE_ROLES: z.string().optional().transform((raw) => raw === undefined ? undefined : csv(raw)).pipe(z.array(roleName).optional()),
  PROFILE_SYNC_MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(16 * 1024 * 1024).default(1024 * 1024),
  PROFILE_SYNC_WEBHOOK_MAX_BODY_BYTES: z.coerce.number().int().min(1024).max(16 * 1024 * 1024).default(WEBHOOK_MAX_BODY_BYTES),
  PROFILE_SYNC_DB_POOL_MAX: z.coerce.number().int().min(1).max(100).default(5),
  PROFILE_SYNC_LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
});

/** Who gets which role: the default, and the roles a user may pick at signup (user metadata `role`). */
export type RolePolicy = { defaultRole: string; selfAssignableRoles: string[] };

export type Config = {
  dbUrl: string;
  supabaseUrl: string;
  /** JWT issuer of access tokens: `${SUPABASE_URL}/auth/v1`. */
  issuer: string;
  jwks?: { keys: Record<string, unknown>[] };
  jwtSecret?: string;
  /** Admin credentials: the values of SUPABASE_SECRET_KEYS plus SUPABASE_SERVICE_ROLE_KEY. */
  adminKeys: string[];
  /** Standard Webhooks secrets without the `v1,` prefix (`whsec_…`); any may match. */
  webhookSecrets: string[];
  /**
   * The role policy from PROFILE_SYNC_DEFAULT_ROLE / _SELF_ASSIGNABLE_ROLES, when either is set.
   * The policy in force is the database's (profile_sync.settings); only the local stack writes
   * this one there, at startup, so the two cannot disagree. Deployed functions ignore it.
   */
  rolePolicy?: RolePolicy;
  maxBodyBytes: number;
  /** auth-webhook's body cap (it also never exceeds maxBodyBytes). */
  webhookMaxBodyBytes: number;
  dbPoolMax: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error';
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Validates env once; throws ConfigError naming every variable to fix. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.') || 'env'}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const supabaseUrl = e.SUPABASE_URL.replace(/\/+$/, '');
  const adminKeys = [
    ...Object.values(e.SUPABASE_SECRET_KEYS ?? {}),
    ...(e.SUPABASE_SERVICE_ROLE_KEY ? [e.SUPABASE_SERVICE_ROLE_KEY] : []),
  ];
  return {
    dbUrl: e.SUPABASE_DB_URL,
    supabaseUrl,
    issuer: `${supabaseUrl}/auth/v1`,
    jwks: e.SUPABASE_JWKS,
    jwtSecret: e.SUPABASE_JWT_SECRET ?? e.PROFILE_SYNC_JWT_SECRET,
    adminKeys,
    webhookSecrets: e.PROFILE_SYNC_WEBHOOK_SECRET,
    rolePolicy: e.PROFILE_SYNC_DEFAULT_ROLE === undefined && e.PROFILE_SYNC_SELF_ASSIGNABLE_ROLES === undefined
      ? undefined
      : {
        defaultRole: e.PROFILE_SYNC_DEFAULT_ROLE ?? 'user',
        selfAssignableRoles: e.PROFILE_SYNC_SELF_ASSIGNABLE_ROLES ?? [],
      },
    maxBodyBytes: e.PROFILE_SYNC_MAX_BODY_BYTES,
    webhookMaxBodyBytes: e.PROFILE_SYNC_WEBHOOK_MAX_BODY_BYTES,
    dbPoolMax: e.PROFILE_SYNC_DB_POOL_MAX,
    logLevel: e.PROFILE_SYNC_LOG_LEVEL,
  };
}
