/**
 * The Database Webhook payload for auth.users, validated with zod: Supabase's full-row shape and
 * the trigger's minimal one both pass; columns not listed here (encrypted_password, tokens) are
 * stripped by zod and never reach a log. The payload only says which user changed.
 * @module
 */
import { z } from 'zod';
import { AppError } from './errors.ts';
import { isUuid } from './uuid.ts';

const timestamp = z.string().max(64).nullish();
const metadata = z.record(z.string(), z.unknown()).nullish();

/** The non-secret auth.users columns the trigger sends; a full row's other columns are dropped. */
export const AuthUserRecord = z.object({
  id: z.string().refine(isUuid, 'expected a uuid'),
  email: z.string().nullish(),
  phone: z.string().nullish(),
  raw_user_meta_data: metadata,
  raw_app_meta_data: metadata,
  is_anonymous: z.boolean().nullish(),
  email_confirmed_at: timestamp,
  last_sign_in_at: timestamp,
  created_at: timestamp,
  updated_at: timestamp,
  deleted_at: timestamp,
});
export type AuthUserRecord = z.infer<typeof AuthUserRecord>;

const target = { table: z.literal('users'), schema: z.literal('auth') };
const absent = z.null().optional();

export const AuthUserEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('INSERT'), ...target, record: AuthUserRecord, old_record: absent }),
  z.object({ type: z.literal('UPDATE'), ...target, record: AuthUserRecord, old_record: AuthUserRecord.nullish() })
    .refine((e) => !e.old_record || e.old_record.id === e.record.id, {
      message: 'record.id and old_record.id differ',
      path: ['old_record', 'id'],
    }),
  z.object({ type: z.literal('DELETE'), ...target, record: absent, old_record: AuthUserRecord }),
]);
export type AuthUserEvent = z.infer<typeof AuthUserEvent>;
export type EventType = AuthUserEvent['type'];

/** Zod's messages name the path and the expected type, never the value received. */
function describe(error: z.ZodError): string {
  return error.issues.slice(0, 3)
    .map((i) => `${i.path.length > 0 ? i.path.join('.') : 'body'}: ${i.message}`)
    .join('; ');
}

/**
 * Validates a parsed body: 400 invalid_payload (with what is wrong) for a body that is not an
 * auth.users Database Webhook, 400 unsupported_table for an event of another table.
 */
export function parseAuthUserEvent(body: unknown): { type: EventType; userId: string } {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new AppError('invalid_payload', { detail: 'body: expected a JSON object' });
  }
  const { schema, table } = body as Record<string, unknown>;
  if (typeof schema === 'string' && typeof table === 'string' && (schema !== 'auth' || table !== 'users')) {
    throw new AppError('unsupported_table');
  }
  const parsed = AuthUserEvent.safeParse(body);
  if (!parsed.success) throw new AppError('invalid_payload', { detail: describe(parsed.error) });
  const event = parsed.data;
  return { type: event.type, userId: event.type === 'DELETE' ? event.old_record.id : event.record.id };
}
