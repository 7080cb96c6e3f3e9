import type { Cluster, Redis } from 'ioredis'

/**
 * The key-value store behind captcha answers, SMS codes, limits and revocations.
 *
 * Two implementations keep the same atomic semantics: Redis (shared by any number of
 * server processes, Redis Cluster included) and an in-process map (one process only).
 *
 * Time: Redis TTLs only collect garbage. Every rule that depends on time (expiry of a
 * code, a sliding window) is decided against the `now` the caller passes, which comes
 * from the service's injected clock, so tests move time instead of sleeping.
 *
 * Redis Cluster: all keys passed to one call must hash to one slot; callers put the same
 * hash tag in them, e.g. `sms:{+8613800138000}:cooldown` and `sms:{+8613800138000}:hour`.
 */
export interface Store {
  readonly kind: 'redis' | 'memory'
  /** The Redis connection, for plugins that keep their own counters there (rate limiting). */
  readonly redis?: Redis | Cluster

  /** Sets `key` to `value`, replacing any value, expiring after `ttlMs`. */
  set(key: string, value: string, ttlMs: number): Promise<void>
  /** Atomic get-and-delete: of any number of concurrent callers, one receives the value. */
  take(key: string): Promise<string | null>

  /**
   * Reserves one slot in every window at once, or none. A window holds at most `limit`
   * reservations made in the last `windowMs` before `now` (a sliding log).
   * When any window is full, nothing is recorded and `retryAfterMs` says when the
   * fullest one frees a slot.
   */
  reserve(id: string, windows: readonly Window[], now: number): Promise<Reservation>
  /** Takes back a reservation (for an operation that failed after reserving). */
  release(id: string, keys: readonly string[]): Promise<void>
  /** Forgets every reservation in these windows (e.g. a successful login clears failures). */
  clear(keys: readonly string[]): Promise<void>

  /**
   * One attempt against a failure log (e.g. password logins of a number), admitted or not
   * in one atomic step, so the admission is counted before any comparison happens:
   * - while the log holds `lockAfter` or more entries and the newest is younger than
   *   `lockMs`: `locked`;
   * - while it holds `captchaAfter` or more and `captchaSolved` is false: `captcha`;
   * - otherwise the attempt is recorded as a failure-to-be. A success then `clear`s the log.
   * Under concurrency at most `lockAfter` attempts are admitted before the lock, and one
   * per `lockMs` after it.
   */
  gate(id: string, gate: Gate, captchaSolved: boolean, now: number): Promise<GateResult>

  /**
   * Replaces the record at `key` with `fields`, an attempt counter at 0 and the logical
   * expiry `expiresAt` (ms since epoch, compared with the `now` given to `attempt`).
   */
  putRecord(key: string, fields: Record<string, string>, expiresAt: number, ttlMs: number): Promise<void>
  /**
   * Counts one attempt and only then returns the record's fields, so a comparison can
   * never happen uncounted. Returns null (and deletes the record) once attempts exceed
   * `maxAttempts`, and null when the record is missing or expired at `now`.
   */
  attempt(key: string, maxAttempts: number, now: number): Promise<Record<string, string> | null>
  /** Atomically deletes the record if its `field` still equals `value`; true if deleted. */
  deleteIf(key: string, field: string, value: string): Promise<boolean>

  /** True when the store answers within a short bound; never throws. */
  ping(): Promise<boolean>
  close(): Promise<void>
}

export interface Window {
  key: string
  limit: number
  windowMs: number
}

export interface Gate {
  key: string
  windowMs: number
  captchaAfter: number
  lockAfter: number
  lockMs: number
}

export type GateResult =
  | { ok: true; count: number }
  | { ok: false; reason: 'captcha' }
  | { ok: false; reason: 'locked'; retryAfterMs: number }

export type Reservation = { ok: true } | { ok: false; retryAfterMs: number; key: string }
