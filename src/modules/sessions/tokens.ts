import { createHmac, randomBytes, randomUUID } from 'node:crypto'
import { createSigner, createVerifier } from 'fast-jwt'
import type { Config } from '../../config.js'
import { AppError } from '../../errors.js'
import type { Clock } from '../../lib/clock.js'
import { sha256Hex } from '../../lib/crypto.js'

// ---- Access tokens: short-lived JWTs ----------------------------------------------------

export interface AccessClaims {
  sub: string
  sid: string
  jti: string
  iat: number
  exp: number
}

export interface AccessTokens {
  sign(userId: string, sessionId: string): { token: string; expiresAt: Date }
  /** Checks signature, algorithm, type, issuer, audience, every required claim and expiry. */
  verify(token: string): AccessClaims
}

// RFC 9068's type for JWT access tokens: nothing else this service signs carries it.
const TYP = 'at+jwt'
const REQUIRED = ['iss', 'aud', 'sub', 'sid', 'jti', 'iat', 'exp']

export function createAccessTokens(deps: {
  key: Buffer
  clock: Clock
  config: Pick<Config, 'ACCESS_TOKEN_TTL_SECONDS' | 'JWT_ISSUER' | 'JWT_AUDIENCE'>
}): AccessTokens {
  const { key, clock, config } = deps
  const signer = createSigner({ key, algorithm: 'HS256', header: { alg: 'HS256', typ: TYP } })
  // The algorithm is pinned: a token claiming `none`, RS256 or anything else fails,
  // whatever key it was made with. Expiry is checked below against the injected clock.
  const verifier = createVerifier({
    key,
    algorithms: ['HS256'],
    checkTyp: TYP,
    allowedIss: config.JWT_ISSUER,
    allowedAud: config.JWT_AUDIENCE,
    requiredClaims: REQUIRED,
    ignoreExpiration: true,
    ignoreNotBefore: true,
    cache: 10_000,
  })
  const unauthenticated = () => new AppError('UNAUTHENTICATED', 'The access token is invalid or expired; sign in again.')

  return {
    sign(userId, sessionId) {
      const iat = Math.floor(clock.now() / 1000)
      const exp = iat + config.ACCESS_TOKEN_TTL_SECONDS
      const token = signer({
        iss: config.JWT_ISSUER,
        aud: config.JWT_AUDIENCE,
        sub: userId,
        sid: sessionId,
        jti: randomUUID(),
        iat,
        exp,
      })
      return { token, expiresAt: new Date(exp * 1000) }
    },
    verify(token) {
      let claims: Record<string, unknown>
      try {
        claims = verifier(token)
      } catch (err) {
        throw new AppError('UNAUTHENTICATED', 'The access token is invalid or expired; sign in again.', { cause: err })
      }
      const now = clock.now() / 1000
      const { sub, sid, jti, iat, exp } = claims
      if (typeof sub !== 'string' || typeof sid !== 'string' || typeof jti !== 'string') throw unauthenticated()
      if (typeof iat !== 'number' || typeof exp !== 'number' || exp <= now || iat > now + 60) throw unauthenticated()
      return { sub, sid, jti, iat, exp }
    },
  }
}

// ---- Refresh tokens: opaque, rotated, stored only as hashes -----------------------------

/**
 * `<session id>.<generation>.<secret>`. The first secret of a session is 256 random bits;
 * each successor is HMAC(key, predecessor). So:
 * - a retry of the token just rotated can be answered with the very same successor
 *   (derive it again) without storing any token;
 * - a token from further back is recognised as a real ancestor by deriving forward to
 *   the stored hash, so reuse ends the session, while a forged token (a guessed session
 *   id with made-up bytes) does not let anyone end somebody else's session.
 */
export interface RefreshToken {
  sessionId: string
  generation: number
  token: string
}

const TOKEN_PATTERN = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.(\d{1,9})\.([A-Za-z0-9_-]{43})$/

export interface RefreshTokens {
  first(sessionId: string): RefreshToken
  next(token: RefreshToken): RefreshToken
  parse(token: string): RefreshToken | null
  hash(token: string): string
}

export function createRefreshTokens(key: Buffer): RefreshTokens {
  const format = (sessionId: string, generation: number, secret: string): RefreshToken => ({
    sessionId,
    generation,
    token: `${sessionId}.${generation}.${secret}`,
  })
  return {
    first: (sessionId) => format(sessionId, 0, randomBytes(32).toString('base64url')),
    next: (t) =>
      format(t.sessionId, t.generation + 1, createHmac('sha256', key).update(t.token).digest('base64url')),
    parse(token) {
      const m = typeof token === 'string' && token.length < 200 ? TOKEN_PATTERN.exec(token) : null
      return m ? { sessionId: m[1]!, generation: Number(m[2]), token } : null
    },
    hash: (token) => sha256Hex(token),
  }
}
