/** Every error the core raises has a string code; adapters map codes to user-safe messages. */
export type ErrorCode =
  | 'ILLEGAL_TRANSITION'
  | 'NOT_FOUND'
  | 'VERSION_CONFLICT'
  | 'ACTIVE_REQUEST_EXISTS'
  | 'NOT_AN_APPROVER'
  | 'NO_APPROVERS_CONFIGURED'
  | 'SELF_APPROVAL'
  | 'ALREADY_DECIDED'
  | 'REQUEST_EXPIRED'
  | 'PLAN_SUPERSEDED'
  | 'REASON_REQUIRED'
  | 'NOT_PENDING'
  | 'NOT_ALLOWED'
  | 'MISSING_PERMISSIONS'
  | 'VALIDATION'
  | 'LEASE_HELD'
  | 'CONFIG'
  | 'AZURE'
  | 'INTERNAL';

/** A domain error with a code, a user-safe message and the original cause. */
export class BotError extends Error {
  readonly code: ErrorCode;
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'BotError';
    this.code = code;
    this.details = options?.details;
  }
}

/** True when `err` is a BotError with the given code (or any code when omitted). */
export function isBotError(err: unknown, code?: ErrorCode): err is BotError {
  return err instanceof BotError && (code === undefined || err.code === code);
}
