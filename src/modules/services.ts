import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../config.js'
import type { PrismaClient } from '../generated/prisma/client.js'
import type { Store } from '../infra/store/index.js'
import type { SmsSender } from '../infra/sms/types.js'
import type { Clock } from '../lib/clock.js'
import { deriveKey } from '../lib/crypto.js'
import { createCaptchaService, type CaptchaService } from './captcha/captcha-service.js'
import { createSmsCodeService, type SmsCodeService } from './sms-codes/sms-code-service.js'
import { createAccountService, type AccountService } from './accounts/account-service.js'
import { createHashPool } from './accounts/hash-pool.js'
import { createPasswordHasher } from './accounts/passwords.js'
import { createSessionService, type SessionService } from './sessions/session-service.js'
import { createAccessTokens, createRefreshTokens } from './sessions/tokens.js'
import { createClientLimits, type ClientLimits } from './limits/client-limits.js'
import { createUserRepository } from './users/user-repository.js'
import { createUserService, type UserService } from './users/user-service.js'

export interface Services {
  captcha: CaptchaService
  smsCodes: SmsCodeService
  users: UserService
  sessions: SessionService
  accounts: AccountService
  limits: ClientLimits
  /** Stops what the services run in the background (the hashing threads). */
  close(): Promise<void>
}

/** Wires every service to its dependencies, explicitly, in one place. */
export function createServices(deps: {
  config: Config
  db: PrismaClient
  store: Store
  sms: SmsSender
  clock: Clock
  secret: string
  log: FastifyBaseLogger
}): Services {
  const { config, db, store, sms, clock, secret, log } = deps
  const userRepository = createUserRepository(db)
  const captcha = createCaptchaService({ store, clock, config })
  const smsCodes = createSmsCodeService({
    store,
    clock,
    captcha,
    sender: sms,
    users: userRepository,
    codeKey: deriveKey(secret, 'sms-code-hash'),
    log,
    config,
  })
  const users = createUserService({ users: userRepository, config })
  const sessions = createSessionService({
    db,
    clock,
    access: createAccessTokens({ key: deriveKey(secret, 'jwt-access-hs256'), clock, config }),
    refreshTokens: createRefreshTokens(deriveKey(secret, 'refresh-token-chain')),
    log,
    config,
  })
  const hashPool = createHashPool({ threads: config.BCRYPT_THREADS || undefined, nice: config.BCRYPT_NICE })
  const accounts = createAccountService({
    db,
    store,
    clock,
    captcha,
    smsCodes,
    sessions,
    passwords: createPasswordHasher(config.BCRYPT_COST, hashPool),
    log,
    config,
  })
  const limits = createClientLimits({ store, clock, log, config })
  return { captcha, smsCodes, users, sessions, accounts, limits, close: () => hashPool.close() }
}
