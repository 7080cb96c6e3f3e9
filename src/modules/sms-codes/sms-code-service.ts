import { randomInt, randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../../config.js'
import { AppError, rateLimited } from '../../errors.js'
import type { Clock } from '../../lib/clock.js'
import { constantTimeEqual, hmacHex } from '../../lib/crypto.js'
import type { Store, Window } from '../../infra/store/index.js'
import { SmsDeliveryError, type SmsPurpose, type SmsSender } from '../../infra/sms/types.js'
import type { CaptchaService } from '../captcha/captcha-service.js'
import { clientKey } from '../limits/client-key.js'
import { maskMobile, parseMobile } from '../mobile/mobile.js'

export interface SendCodeInput {
  mobile: string
  purpose: SmsPurpose
  captchaId: string
  captchaText: string
  /** the client address, for the per-address limit */
  ip: string
  requestId?: string
}

export interface SmsCodeReceipt {
  mobile: string
  expiresAt: Date
  resendAfter: Date
}

/** A code that matched; `consume` removes it, true for exactly one caller. */
export interface VerifiedCode {
  consume(): Promise<boolean>
}

export interface SmsCodeService {
  send(input: SendCodeInput): Promise<SmsCodeReceipt>
  /**
   * Counts an attempt, then compares in constant time. Throws SMS_CODE_INVALID for a wrong,
   * expired, used or over-tried code. The code stays usable until `consume()` is called,
   * so an operation that fails after checking leaves it for the next try.
   */
  verify(e164: string, purpose: SmsPurpose, code: string): Promise<VerifiedCode>
}

export interface RegisteredLookup {
  isRegistered(e164: string): Promise<boolean>
}

interface LimitGroup {
  scope: 'ip' | 'global' | 'prefix' | 'number'
  windows: Window[]
}

type Deps = {
  store: Store
  clock: Clock
  captcha: CaptchaService
  sender: SmsSender
  users: RegisteredLookup
  codeKey: Buffer
  log: FastifyBaseLogger
  config: Pick<
    Config,
    | 'DEFAULT_REGION'
    | 'SMS_ALLOWED_REGIONS'
    | 'SMS_CODE_TTL_SECONDS'
    | 'SMS_CODE_MAX_ATTEMPTS'
    | 'SMS_RESEND_SECONDS'
    | 'SMS_HOURLY_LIMIT'
    | 'SMS_DAILY_LIMIT'
    | 'SMS_IP_HOURLY_LIMIT'
    | 'SMS_TEST_CODES'
    | 'SMS_GLOBAL_PER_MINUTE_LIMIT'
    | 'SMS_GLOBAL_DAILY_LIMIT'
    | 'SMS_PREFIX_HOURLY_LIMIT'
    | 'SMS_PREFIX_BLOCK_DIGITS'
  >
}

const MINUTE = 60_000
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR
// Every key of one number carries the number as its hash tag: one Redis Cluster slot.
const codeKey = (e164: string, purpose: SmsPurpose) => `sms:{${e164}}:code:${purpose}`

export function createSmsCodeService(deps: Deps): SmsCodeService {
  const { store, clock, captcha, sender, users, config, log } = deps
  const ttlMs = config.SMS_CODE_TTL_SECONDS * 1000
  const resendMs = config.SMS_RESEND_SECONDS * 1000
  // Codes are stored as keyed hashes: six digits are too few for a plain hash to hide them.
  const hashCode = (e164: string, purpose: SmsPurpose, code: string) =>
    hmacHex(deps.codeKey, `${e164}\n${purpose}\n${code}`)

  // Each group is one hash slot, reserved atomically; groups are reserved in this order
  // and a refusal hands back what the earlier groups took.
  const limitGroups = (e164: string, ip: string, test: boolean): LimitGroup[] => {
    const groups: LimitGroup[] = [
      { scope: 'ip', windows: [{ key: `sms:ip:{${clientKey(ip)}}:hour`, limit: config.SMS_IP_HOURLY_LIMIT, windowMs: HOUR }] },
    ]
    // Test numbers deliver nothing, so they spend none of the budgets that guard cost.
    if (test) return groups
    // A circuit breaker for the whole deployment: SMS pumping through many numbers and
    // addresses still meets a ceiling on what the provider bill can reach.
    groups.push({
      scope: 'global',
      windows: [
        { key: 'sms:{global}:minute', limit: config.SMS_GLOBAL_PER_MINUTE_LIMIT, windowMs: MINUTE },
        { key: 'sms:{global}:day', limit: config.SMS_GLOBAL_DAILY_LIMIT, windowMs: DAY },
      ],
    })
    // Toll fraud walks through a range of premium numbers: cap each block of numbers.
    const block = e164.slice(0, e164.length - config.SMS_PREFIX_BLOCK_DIGITS)
    groups.push({ scope: 'prefix', windows: [{ key: `sms:{prefix:${block}}:hour`, limit: config.SMS_PREFIX_HOURLY_LIMIT, windowMs: HOUR }] })
    groups.push({
      scope: 'number',
      windows: [
        { key: `sms:{${e164}}:cooldown`, limit: 1, windowMs: resendMs },
        { key: `sms:{${e164}}:hour`, limit: config.SMS_HOURLY_LIMIT, windowMs: HOUR },
        { key: `sms:{${e164}}:day`, limit: config.SMS_DAILY_LIMIT, windowMs: DAY },
      ],
    })
    return groups
  }

  const refusal = (scope: LimitGroup['scope'], key: string, retryAfterMs: number) => {
    switch (scope) {
      case 'ip':
        return rateLimited('Too many codes requested from this address; try again later.', retryAfterMs)
      case 'global':
        return rateLimited('Codes cannot be sent right now; try again later.', retryAfterMs)
      case 'prefix':
        return rateLimited('Too many codes requested for numbers like this one; try again later.', retryAfterMs)
      case 'number':
        return rateLimited(
          key.endsWith(':cooldown')
            ? 'A code was sent to this number moments ago; wait before asking for another.'
            : 'Too many codes were sent to this number; try again later.',
          retryAfterMs,
        )
    }
  }

  // One alert per breaker window and process, not one per refused request.
  const alertedAt = new Map<string, number>()
  const alert = (key: string, windowMs: number, now: number, fields: Record<string, unknown>) => {
    if ((alertedAt.get(key) ?? -Infinity) > now - windowMs) return
    alertedAt.set(key, now)
    log.error({ event: 'sms.breaker_tripped', ...fields }, 'SMS circuit breaker tripped: sending is paused')
  }

  return {
    async send(input) {
      const mobile = parseMobile(input.mobile, config.DEFAULT_REGION)
      if (!mobile.region || !config.SMS_ALLOWED_REGIONS.includes(mobile.region)) {
        throw new AppError('INVALID_MOBILE', 'Codes cannot be sent to numbers of that region.')
      }
      const e164 = mobile.e164
      // The captcha gates everything that follows, including the answers that tell
      // whether a number is registered.
      await captcha.verify(input.captchaId, input.captchaText)

      if (input.purpose === 'REGISTER' && (await users.isRegistered(e164))) {
        throw new AppError('MOBILE_TAKEN', 'That mobile number is already registered.')
      }
      if (input.purpose === 'RESET_PASSWORD' && !(await users.isRegistered(e164))) {
        throw new AppError('MOBILE_NOT_REGISTERED', 'No account uses that mobile number.')
      }

      const now = clock.now()
      const testCode = config.SMS_TEST_CODES.get(e164)
      const reservation = randomUUID()
      const groups = limitGroups(e164, input.ip, testCode !== undefined)
      const taken: LimitGroup[] = []
      const releaseAll = () => Promise.all(taken.map((g) => store.release(reservation, g.windows.map((w) => w.key))))
      for (const group of groups) {
        const result = await store.reserve(reservation, group.windows, now)
        if (!result.ok) {
          await releaseAll()
          const window = group.windows.find((w) => w.key === result.key)
          const fields = { scope: group.scope, key: result.key, limit: window?.limit, mobile: maskMobile(e164), ip: input.ip, reqId: input.requestId }
          if (group.scope === 'global') alert(result.key, window?.windowMs ?? MINUTE, now, fields)
          else log.warn({ event: 'limit.tripped', ...fields }, 'sms send refused by a limit')
          throw refusal(group.scope, result.key, result.retryAfterMs)
        }
        taken.push(group)
      }

      const code = testCode ?? String(randomInt(0, 1_000_000)).padStart(6, '0')
      const nonce = randomUUID()
      const key = codeKey(e164, input.purpose)
      const expiresAt = now + ttlMs
      try {
        // Replaces any earlier code for this number and purpose, with a fresh attempt count.
        await store.putRecord(key, { h: hashCode(e164, input.purpose, code), n: nonce }, expiresAt, ttlMs)
      } catch (err) {
        await releaseAll().catch(() => {})
        throw err
      }

      if (!testCode) {
        try {
          await sender.send({
            mobile: e164,
            purpose: input.purpose,
            code,
            ttlSeconds: config.SMS_CODE_TTL_SECONDS,
            text: `Your verification code is ${code}. It expires in ${Math.ceil(config.SMS_CODE_TTL_SECONDS / 60)} minutes. Do not share it.`,
          })
        } catch (err) {
          // No usable code may outlive a failed delivery. The attempt still counts against
          // the sending limits: after a timeout the provider may have delivered it anyway,
          // and a slow provider must not turn into unlimited messages to one number.
          await store.deleteIf(key, 'n', nonce).catch((cleanupErr) =>
            log.error({ err: cleanupErr }, 'cleanup after failed sms delivery failed'),
          )
          log.warn(
            { event: 'sms.failed', mobile: maskMobile(e164), purpose: input.purpose, provider: sender.name, reqId: input.requestId, err },
            'sms delivery failed',
          )
          throw new AppError('SMS_DELIVERY_FAILED', 'The code could not be sent; try again shortly.', {
            cause: err instanceof SmsDeliveryError ? err : new SmsDeliveryError(String(err)),
          })
        }
      }
      log.info(
        { event: 'sms.sent', mobile: maskMobile(e164), purpose: input.purpose, ip: input.ip, reqId: input.requestId, test: Boolean(testCode) },
        'sms code sent',
      )
      return { mobile: e164, expiresAt: new Date(expiresAt), resendAfter: new Date(now + resendMs) }
    },

    async verify(e164, purpose, code) {
      const invalid = () => new AppError('SMS_CODE_INVALID', 'The code is wrong or expired; request a new one.')
      if (typeof code !== 'string' || !/^\d{6}$/.test(code)) throw invalid()
      const key = codeKey(e164, purpose)
      // attempt() counts before it hands back the hash: no comparison goes uncounted.
      const record = await store.attempt(key, config.SMS_CODE_MAX_ATTEMPTS, clock.now())
      if (!record || !record.h || !record.n) throw invalid()
      if (!constantTimeEqual(hashCode(e164, purpose, code), record.h)) throw invalid()
      const nonce = record.n
      return { consume: () => store.deleteIf(key, 'n', nonce) }
    },
  }
}
