import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { Config } from '../../config.js'
import { AppError } from '../../errors.js'
import type { Prisma, PrismaClient, User } from '../../generated/prisma/client.js'
import type { Clock } from '../../lib/clock.js'
import { constantTimeEqual } from '../../lib/crypto.js'
import type { AccessClaims, AccessTokens, RefreshToken, RefreshTokens } from './tokens.js'

export interface ClientMeta {
  ip: string
  userAgent?: string | undefined
  /** for audit events, so one request's events can be found together */
  requestId?: string | undefined
}

export interface IssuedSession {
  accessToken: string
  accessTokenExpiresAt: Date
  refreshToken: string
  refreshTokenExpiresAt: Date
  user: User
  sessionId: string
}

export interface Identity {
  userId: string
  sessionId: string
  /** loaded with the session check, so `me` costs no second query */
  user: User
}

type Tx = Prisma.TransactionClient | PrismaClient

export interface SessionService {
  /** Creates a session inside the caller's transaction; `issue` it once that commits. */
  create(tx: Tx, user: User, meta: ClientMeta): Promise<{ user: User; refresh: RefreshToken; expiresAt: Date }>
  issue(created: { user: User; refresh: RefreshToken; expiresAt: Date }): IssuedSession
  /** Rotation with reuse detection and a grace window for concurrent retries. */
  refresh(token: string, meta: ClientMeta): Promise<IssuedSession>
  /** The caller of an access token, or UNAUTHENTICATED (bad, expired, or of an ended session). */
  authenticate(accessToken: string): Promise<Identity>
  /** Ends sessions; their refresh tokens and access tokens are refused from the commit on. */
  revoke(tx: Tx, where: { sessionId: string } | { userId: string; exceptSessionId?: string }, reason: string): Promise<string[]>
}

// A chain longer than this is not followed: at one rotation a minute that is a week.
const MAX_DERIVATION = 10_000

export function createSessionService(deps: {
  db: PrismaClient
  clock: Clock
  access: AccessTokens
  refreshTokens: RefreshTokens
  log: FastifyBaseLogger
  config: Pick<Config, 'REFRESH_TOKEN_TTL_SECONDS' | 'REFRESH_REUSE_GRACE_SECONDS'>
}): SessionService {
  const { db, clock, access, refreshTokens, config, log } = deps
  const refreshTtlMs = config.REFRESH_TOKEN_TTL_SECONDS * 1000
  const graceMs = config.REFRESH_REUSE_GRACE_SECONDS * 1000
  const unauthenticated = (message = 'The refresh token is invalid, expired or already used; sign in again.') =>
    new AppError('UNAUTHENTICATED', message)

  const issue: SessionService['issue'] = ({ user, refresh, expiresAt }) => {
    const a = access.sign(user.id, refresh.sessionId)
    return {
      accessToken: a.token,
      accessTokenExpiresAt: a.expiresAt,
      refreshToken: refresh.token,
      refreshTokenExpiresAt: expiresAt,
      user,
      sessionId: refresh.sessionId,
    }
  }

  const revoke: SessionService['revoke'] = async (tx, where, reason) => {
    const now = new Date(clock.now())
    const filter: Prisma.SessionWhereInput =
      'sessionId' in where
        ? { id: where.sessionId, revokedAt: null }
        : { userId: where.userId, revokedAt: null, ...(where.exceptSessionId ? { NOT: { id: where.exceptSessionId } } : {}) }
    const sessions = await tx.session.findMany({ where: filter, select: { id: true } })
    const ids = sessions.map((s) => s.id)
    if (ids.length > 0) {
      await tx.session.updateMany({ where: { id: { in: ids }, revokedAt: null }, data: { revokedAt: now, revokedReason: reason } })
    }
    return ids
  }

  return {
    async create(tx, user, meta) {
      const sessionId = randomUUID()
      const refresh = refreshTokens.first(sessionId)
      const now = clock.now()
      const expiresAt = new Date(now + refreshTtlMs)
      await tx.session.create({
        data: {
          id: sessionId,
          userId: user.id,
          refreshTokenHash: refreshTokens.hash(refresh.token),
          userAgent: meta.userAgent?.slice(0, 512) ?? null,
          ip: meta.ip,
          createdAt: new Date(now),
          lastUsedAt: new Date(now),
          expiresAt,
        },
      })
      return { user, refresh, expiresAt }
    },

    issue,

    async refresh(token, meta) {
      const presented = refreshTokens.parse(token)
      if (!presented) throw unauthenticated()
      const session = await db.session.findUnique({ where: { id: presented.sessionId }, include: { user: true } })
      const now = clock.now()
      if (!session || session.revokedAt || session.expiresAt.getTime() <= now || session.user.status !== 'ACTIVE') {
        throw unauthenticated()
      }
      const distance = session.generation - presented.generation

      if (distance === 0) {
        if (!constantTimeEqual(refreshTokens.hash(presented.token), session.refreshTokenHash)) throw unauthenticated()
        const successor = refreshTokens.next(presented)
        const expiresAt = new Date(now + refreshTtlMs)
        // Compare-and-swap on the current hash: of concurrent rotations of one token,
        // exactly one updates the row; the others take the grace path below.
        const won = await db.session.updateMany({
          where: { id: session.id, refreshTokenHash: session.refreshTokenHash, revokedAt: null },
          data: {
            refreshTokenHash: refreshTokens.hash(successor.token),
            generation: { increment: 1 },
            rotatedAt: new Date(now),
            lastUsedAt: new Date(now),
            expiresAt,
            ip: meta.ip,
            userAgent: meta.userAgent?.slice(0, 512) ?? session.userAgent,
          },
        })
        if (won.count === 1) return issue({ user: session.user, refresh: successor, expiresAt })
        const after = await db.session.findUnique({ where: { id: session.id } })
        if (after && !after.revokedAt && after.generation === presented.generation + 1 && after.refreshTokenHash === refreshTokens.hash(successor.token)) {
          return issue({ user: session.user, refresh: successor, expiresAt: after.expiresAt })
        }
        throw unauthenticated()
      }

      if (distance < 1 || distance > MAX_DERIVATION) throw unauthenticated()
      // Derive forward: only a genuine earlier token of this session reaches the stored hash.
      let t = presented
      for (let i = 0; i < distance; i++) t = refreshTokens.next(t)
      if (!constantTimeEqual(refreshTokens.hash(t.token), session.refreshTokenHash)) throw unauthenticated()

      if (distance === 1 && session.rotatedAt && now - session.rotatedAt.getTime() <= graceMs) {
        // A concurrent or retried refresh of the token just rotated: the same successor.
        return issue({ user: session.user, refresh: t, expiresAt: session.expiresAt })
      }
      // A rotated token came back: someone holds a copy. End the whole session.
      await revoke(db, { sessionId: session.id }, 'refresh_token_reuse')
      log.warn(
        { event: 'session.reuse_detected', userId: session.userId, sessionId: session.id, ip: meta.ip, reqId: meta.requestId, generationsBack: distance },
        'refresh token reuse detected; session revoked',
      )
      throw unauthenticated()
    },

    async authenticate(accessToken) {
      const claims: AccessClaims = access.verify(accessToken)
      // The session row is the one record of whether a session has ended, so a token of an
      // ended session is refused at once on every instance, and no cache can forget it.
      // One primary-key lookup, which also loads the user.
      const session = await db.session.findUnique({
        where: { id: claims.sid },
        select: { userId: true, revokedAt: true, user: true },
      })
      if (!session || session.revokedAt || session.userId !== claims.sub || session.user.status !== 'ACTIVE') {
        throw new AppError('UNAUTHENTICATED', 'This session has ended; sign in again.')
      }
      return { userId: claims.sub, sessionId: claims.sid, user: session.user }
    },

    revoke,
  }
}
