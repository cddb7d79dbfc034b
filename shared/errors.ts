/**
 * The error taxonomy: one class with a stable code and an HTTP status. Clients see the code and
 * a fixed message; the cause goes to the log only.
 * @module
 */

export const ERRORS = {
  invalid_json: [400, 'The request body is not valid JSON.'],
  invalid_payload: [400, 'The request body does not have the expected shape.'],
  unsupported_table: [400, 'Only auth.users events are accepted.'],
  missing_signature: [401, 'The webhook-id, webhook-timestamp and webhook-signature headers are required.'],
  invalid_signature: [401, 'The webhook signature does not match or is outside the time tolerance.'],
  missing_token: [401, 'An Authorization: Bearer <access token> header is required.'],
  invalid_token: [401, 'The access token is invalid, expired or not a user token.'],
  missing_credentials: [401, 'An admin credential is required (apikey or Authorization: Bearer).'],
  invalid_credentials: [401, 'The admin credential is not valid.'],
  forbidden: [403, 'This credential may not perform this operation.'],
  user_not_found: [404, 'No auth user has this id.'],
  not_found: [404, 'No such route.'],
  method_not_allowed: [405, 'This method is not allowed here.'],
  request_timeout: [408, 'The request body did not arrive in time.'],
  reconcile_in_progress: [409, 'A reconcile is already running; try again when it has finished.'],
  dry_run_in_progress: [409, 'A dry run is already running; try again when it has finished (Retry-After).'],
  profile_rejected: [409, 'The profile table refused this user row (one of its constraints); it is recorded and retried by reconcile.'],
  payload_too_large: [413, 'The request body is too large.'],
  unsupported_media_type: [415, 'The request body must be JSON (Content-Type: application/json).'],
  // The client went away mid-body: nobody reads the answer; logged at info, never as a 500.
  request_aborted: [400, 'The request body ended before it was complete.'],
  database_unavailable: [503, 'The database is unavailable; retry later.'],
  jwks_unavailable: [503, 'The signing keys could not be fetched; retry later.'],
  webhook_not_configured: [503, 'The webhook secret is not configured on the server; retry later.'],
  internal_error: [500, 'An internal error occurred.'],
} as const satisfies Record<string, readonly [number, string]>;

export type ErrorCode = keyof typeof ERRORS;

export class AppError extends Error {
  override name = 'AppError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly headers: Record<string, string>;
  /** Safe, client-facing detail (e.g. which field was wrong); never internals. */
  readonly detail?: string;

  constructor(code: ErrorCode, options: { detail?: string; cause?: unknown; headers?: Record<string, string> } = {}) {
    super(options.detail ? `${ERRORS[code][1]} ${options.detail}` : ERRORS[code][1], { cause: options.cause });
    this.code = code;
    this.status = ERRORS[code][0];
    this.headers = options.headers ?? {};
    this.detail = options.detail;
  }

  toJSON() {
    return { error: { code: this.code, message: this.message } };
  }
}

export const isAppError = (e: unknown): e is AppError => e instanceof AppError;
