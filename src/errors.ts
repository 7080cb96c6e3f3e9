// The one registry of error codes a client can see (the contract's list) and the one
// error class that carries them. Anything else thrown is reported as
// INTERNAL_SERVER_ERROR with a generic message; its cause only reaches the log.

export const ErrorCodes = [
  'BAD_USER_INPUT',
  'INVALID_MOBILE',
  'WEAK_PASSWORD',
  'CAPTCHA_INVALID',
  'CAPTCHA_REQUIRED',
  'SMS_CODE_INVALID',
  'SMS_DELIVERY_FAILED',
  'MOBILE_TAKEN',
  'MOBILE_NOT_REGISTERED',
  'INVALID_CREDENTIALS',
  'RATE_LIMITED',
  'UNAUTHENTICATED',
  'INTERNAL_SERVER_ERROR',
] as const

export type ErrorCode = (typeof ErrorCodes)[number]

export class AppError extends Error {
  override name = 'AppError'
  readonly code: ErrorCode
  /** Extra public fields for `extensions`, e.g. `retryAfter`. */
  readonly extensions: Record<string, unknown>
  /** The HTTP status when the error stops the request before GraphQL runs (e.g. 429). */
  readonly statusCode: number | undefined

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; extensions?: Record<string, unknown>; statusCode?: number } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.code = code
    this.extensions = options.extensions ?? {}
    this.statusCode = options.statusCode
  }
}

/** `RATE_LIMITED` with `retryAfter` in whole seconds, never below 1. */
export function rateLimited(message: string, retryAfterMs: number, statusCode?: number): AppError {
  return new AppError('RATE_LIMITED', message, {
    extensions: { retryAfter: Math.max(1, Math.ceil(retryAfterMs / 1000)) },
    ...(statusCode ? { statusCode } : {}),
  })
}

export const isAppError = (err: unknown): err is AppError => err instanceof AppError
