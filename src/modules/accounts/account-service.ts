import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../../config.js'
import { AppError, rateLimited } from '../../errors.js'
import { Prisma, type PrismaClient, type User } from '../../generated/prisma/client.js'
import type { Gate, Store } from '../../infra/store/index.js'
import type { Clock } from '../../lib/clock.js'
import type { CaptchaService } from '../captcha/captcha-service.js'
import { maskMobile, parseMobile } from '../mobile/mobile.js'
import type { ClientMeta, Identity, IssuedSession, SessionService } from '../sessions/session-service.js'
import type { SmsCodeService, VerifiedCode } from '../sms-codes/sms-code-service.js'
import { checkPasswordPolicy, type PasswordHasher } from './passwords.js'

export interface RegisterInput {
  mobile: string
  smsCode: string
  password: string
  nickname?: string | null | undefined
}

export interface LoginInput {
  method: 'PASSWORD' | 'SMS_CODE'
  mobile: string
  password?: string | null | undefined
  smsCode?: string | null | undefined
  captchaId?: string | null | undefined
  captchaText?: string | null | undefined
}

export interface AccountService {
  register(input: RegisterInput, meta: ClientMeta): Promise<IssuedSession>
  login(input: LoginInput, meta: ClientMeta): Promise<IssuedSession>
  resetPassword(input: { mobile: string; smsCode: string; newPassword: string }, meta: ClientMeta): Promise<IssuedSession>
  changePassword(
    identity: { userId: string; sessionId: string },
    input: { currentPassword?: string | null | undefined; newPassword: string },
    meta: ClientMeta,
  ): Promise<void>
  logout(identity: { userId: string; sessionId: string }, allDevices: boolean, meta: ClientMeta): Promise<void>
  me(identity: Identity): Promise<User>
}

const NICKNAME_MAX = 32
// Longer than any password the policy accepts; refused before any hashing work.
const PASSWORD_INPUT_MAX = 1024

export function createAccountService(deps: {
  db: PrismaClient
  store: Store
  clock: Clock
  captcha: CaptchaService
  smsCodes: SmsCodeService
  sessions: SessionService
  passwords: PasswordHasher
  log: FastifyBaseLogger
  config: Pick<
    Config,
    | 'DEFAULT_REGION'
    | 'LOGIN_CAPTCHA_AFTER_FAILURES'
    | 'LOGIN_LOCK_AFTER_FAILURES'
    | 'LOGIN_LOCK_SECONDS'
    | 'LOGIN_FAILURE_WINDOW_SECONDS'
  >
}): AccountService {
  const { db, store, clock, captcha, smsCodes, sessions, passwords, log, config } = deps

  const invalidCredentials = () => new AppError('INVALID_CREDENTIALS', 'Wrong mobile number or password.')
  const badInput = (message: string) => new AppError('BAD_USER_INPUT', message)

  const failureGate = (e164: string): Gate => ({
    key: `login:{${e164}}:failures`,
    windowMs: config.LOGIN_FAILURE_WINDOW_SECONDS * 1000,
    captchaAfter: config.LOGIN_CAPTCHA_AFTER_FAILURES,
    lockAfter: config.LOGIN_LOCK_AFTER_FAILURES,
    lockMs: config.LOGIN_LOCK_SECONDS * 1000,
  })

  /**
   * Admits one password check for a number, counted as a failure until it succeeds.
   * Counting comes first, so no number of concurrent or aliased calls gets more checks
   * than the lock allows.
   */
  const admitPasswordCheck = async (e164: string, captchaSolved: boolean, meta: ClientMeta) => {
    const result = await store.gate(randomUUID(), failureGate(e164), captchaSolved, clock.now())
    if (result.ok) return result.count
    if (result.reason === 'captcha') {
      throw new AppError('CAPTCHA_REQUIRED', 'Too many failed attempts for this number; solve an image captcha first.')
    }
    log.warn({ event: 'login.locked', mobile: maskMobile(e164), ip: meta.ip, reqId: meta.requestId }, 'password check refused: number locked')
    throw rateLimited('Too many failed attempts; this number is locked for a while.', result.retryAfterMs)
  }

  const recordFailure = (e164: string, count: number, meta: ClientMeta, userId?: string) => {
    log.info({ event: 'login.failed', mobile: maskMobile(e164), userId, ip: meta.ip, reqId: meta.requestId, failures: count }, 'password check failed')
    if (count === config.LOGIN_LOCK_AFTER_FAILURES) {
      log.warn({ event: 'login.lock', mobile: maskMobile(e164), ip: meta.ip, reqId: meta.requestId }, 'number locked after repeated failures')
    }
  }

  const clearFailures = (e164: string) => store.clear([failureGate(e164).key])

  const validPasswordInput = (value: unknown): value is string =>
    typeof value === 'string' && value.length > 0 && value.length <= PASSWORD_INPUT_MAX

  /** Run last inside a transaction: when the code was used meanwhile, nothing commits. */
  const consumeOrAbort = async (verified: VerifiedCode) => {
    if (!(await verified.consume())) {
      throw new AppError('SMS_CODE_INVALID', 'The code was already used; request a new one.')
    }
  }

  const isUniqueViolation = (err: unknown) =>
    err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002'

  return {
    async register(input, meta) {
      const { e164 } = parseMobile(input.mobile, config.DEFAULT_REGION)
      if (typeof input.password !== 'string') throw badInput('A password is required.')
      checkPasswordPolicy(input.password, e164)
      const nickname = normaliseNickname(input.nickname) ?? defaultNickname(e164)
      const verified = await smsCodes.verify(e164, 'REGISTER', input.smsCode)
      const passwordHash = await passwords.hash(input.password)
      let created
      try {
        created = await db.$transaction(async (tx) => {
          const now = new Date(clock.now())
          const user = await tx.user.create({
            data: { mobile: e164, passwordHash, nickname, createdAt: now, lastLoginAt: now, passwordChangedAt: now },
          })
          const session = await sessions.create(tx, user, meta)
          // Consumed last: a registration that fails before here leaves the code usable.
          await consumeOrAbort(verified)
          return session
        })
      } catch (err) {
        // The unique index is the gate: of concurrent registrations one account is created.
        if (isUniqueViolation(err)) throw new AppError('MOBILE_TAKEN', 'That mobile number is already registered.')
        throw err
      }
      log.info({ event: 'account.registered', userId: created.user.id, mobile: maskMobile(e164), ip: meta.ip, reqId: meta.requestId }, 'account registered')
      return sessions.issue(created)
    },

    async login(input, meta) {
      const { e164 } = parseMobile(input.mobile, config.DEFAULT_REGION)

      if (input.method === 'SMS_CODE') {
        if (typeof input.smsCode !== 'string') throw badInput('smsCode is required for method SMS_CODE.')
        const verified = await smsCodes.verify(e164, 'LOGIN', input.smsCode)
        const created = await db.$transaction(async (tx) => {
          const now = new Date(clock.now())
          // Signing in with a code creates a code-only account (no password yet); the
          // upsert is one INSERT … ON CONFLICT, so concurrent first sign-ins make one account.
          const user = await tx.user.upsert({
            where: { mobile: e164 },
            create: { mobile: e164, nickname: defaultNickname(e164), createdAt: now, lastLoginAt: now },
            update: { lastLoginAt: now },
          })
          if (user.status !== 'ACTIVE') throw invalidCredentials()
          const session = await sessions.create(tx, user, meta)
          await consumeOrAbort(verified)
          return session
        })
        await clearFailures(e164)
        log.info({ event: 'login.ok', method: 'SMS_CODE', userId: created.user.id, ip: meta.ip, reqId: meta.requestId }, 'signed in')
        return sessions.issue(created)
      }

      if (typeof input.password !== 'string' || input.password === '') {
        throw badInput('password is required for method PASSWORD.')
      }
      if (!validPasswordInput(input.password)) throw invalidCredentials()
      let captchaSolved = false
      if (input.captchaId != null || input.captchaText != null) {
        await captcha.verify(input.captchaId ?? '', input.captchaText ?? '')
        captchaSolved = true
      }
      const count = await admitPasswordCheck(e164, captchaSolved, meta)
      const user = await db.user.findUnique({ where: { mobile: e164 } })
      // An unknown number costs the same bcrypt compare as a wrong password.
      const ok = user?.passwordHash ? await passwords.verify(input.password, user.passwordHash) : await passwords.verifyDummy(input.password)
      if (!ok || !user || user.status !== 'ACTIVE') {
        recordFailure(e164, count, meta, user?.id)
        throw invalidCredentials()
      }
      await clearFailures(e164)
      const rehash = passwords.needsRehash(user.passwordHash!) ? await passwords.hash(input.password) : undefined
      const created = await db.$transaction(async (tx) => {
        // Only if the password is still the one just checked: a reset or change that
        // committed meanwhile (and ended every session it could see) wins, and this
        // sign-in must not leave a session behind it. The row lock orders the two.
        const changed = await tx.user.updateMany({
          where: { id: user.id, passwordHash: user.passwordHash, status: 'ACTIVE' },
          // A hash made at an older cost is replaced while the password is at hand.
          data: { lastLoginAt: new Date(clock.now()), ...(rehash ? { passwordHash: rehash } : {}) },
        })
        if (changed.count !== 1) throw invalidCredentials()
        return sessions.create(tx, await tx.user.findUniqueOrThrow({ where: { id: user.id } }), meta)
      })
      log.info({ event: 'login.ok', method: 'PASSWORD', userId: user.id, ip: meta.ip, reqId: meta.requestId }, 'signed in')
      return sessions.issue(created)
    },

    async resetPassword(input, meta) {
      const { e164 } = parseMobile(input.mobile, config.DEFAULT_REGION)
      if (typeof input.newPassword !== 'string') throw badInput('newPassword is required.')
      checkPasswordPolicy(input.newPassword, e164)
      const verified = await smsCodes.verify(e164, 'RESET_PASSWORD', input.smsCode)
      const user = await db.user.findUnique({ where: { mobile: e164 } })
      if (!user || user.status !== 'ACTIVE') throw new AppError('MOBILE_NOT_REGISTERED', 'No account uses that mobile number.')
      const passwordHash = await passwords.hash(input.newPassword)
      let ended: string[] = []
      const created = await db.$transaction(async (tx) => {
        const now = new Date(clock.now())
        // The password first: its row lock makes a concurrent password sign-in either
        // commit before this (and its session is ended below) or fail its check.
        const updated = await tx.user.update({
          where: { id: user.id },
          data: { passwordHash, passwordChangedAt: now, lastLoginAt: now },
        })
        ended = await sessions.revoke(tx, { userId: user.id }, 'password_reset')
        const session = await sessions.create(tx, updated, meta)
        await consumeOrAbort(verified)
        return session
      })
      await clearFailures(e164)
      log.info({ event: 'password.reset', userId: user.id, ip: meta.ip, reqId: meta.requestId, sessionsEnded: ended.length }, 'password reset')
      return sessions.issue(created)
    },

    async changePassword(identity, input, meta) {
      const user = await db.user.findUnique({ where: { id: identity.userId } })
      if (!user || user.status !== 'ACTIVE') throw new AppError('UNAUTHENTICATED', 'Sign in again.')
      if (typeof input.newPassword !== 'string') throw badInput('newPassword is required.')
      if (user.passwordHash) {
        if (!validPasswordInput(input.currentPassword)) throw invalidCredentials()
        // Counted like a login failure: a stolen access token must not become a password oracle.
        const count = await admitPasswordCheck(user.mobile, true, meta)
        if (!(await passwords.verify(input.currentPassword, user.passwordHash))) {
          recordFailure(user.mobile, count, meta, user.id)
          throw invalidCredentials()
        }
        await clearFailures(user.mobile)
      } else if (input.currentPassword != null && input.currentPassword !== '') {
        throw invalidCredentials()
      }
      checkPasswordPolicy(input.newPassword, user.mobile)
      const passwordHash = await passwords.hash(input.newPassword)
      const ended = await db.$transaction(async (tx) => {
        await tx.user.update({ where: { id: user.id }, data: { passwordHash, passwordChangedAt: new Date(clock.now()) } })
        return sessions.revoke(tx, { userId: user.id, exceptSessionId: identity.sessionId }, 'password_changed')
      })
      log.info({ event: 'password.changed', userId: user.id, ip: meta.ip, reqId: meta.requestId, sessionsEnded: ended.length }, 'password changed')
    },

    async logout(identity, allDevices, meta) {
      const ended = await sessions.revoke(
        db,
        allDevices ? { userId: identity.userId } : { sessionId: identity.sessionId },
        allDevices ? 'logout_all' : 'logout',
      )
      log.info({ event: 'logout', userId: identity.userId, ip: meta.ip, reqId: meta.requestId, allDevices, sessionsEnded: ended.length }, 'signed out')
    },

    async me(identity) {
      // authenticate() loaded the user with the session and found both live.
      return identity.user
    },
  }
}

function normaliseNickname(value: string | null | undefined): string | undefined {
  if (value == null) return undefined
  if (typeof value !== 'string') throw new AppError('BAD_USER_INPUT', 'nickname must be a string.')
  const trimmed = value.normalize('NFC').trim()
  if (trimmed === '') return undefined
  // eslint-disable-next-line no-control-regex
  if ([...trimmed].length > NICKNAME_MAX || /[\u0000-\u001f\u007f]/.test(trimmed)) {
    throw new AppError('BAD_USER_INPUT', `nickname must be 1 to ${NICKNAME_MAX} printable characters.`)
  }
  return trimmed
}

/** A masked form of the number: 138****8000. */
function defaultNickname(e164: string): string {
  const masked = maskMobile(e164)
  return masked.startsWith('+86') ? masked.slice(3) : masked
}
