import type { FastifyReply, FastifyRequest } from 'fastify'
import type { MercuriusContext } from 'mercurius'
import { AppError } from '../errors.js'
import type { IssuedSession } from '../modules/sessions/session-service.js'
import type { Identity } from '../modules/sessions/session-service.js'

export type Delivery = 'BODY' | 'COOKIE'

// `__Host-` binds the cookie to this exact host, Secure and Path=/, so no subdomain can
// set or read it. The contract's plain `refresh_token` name is still read for clients
// that set it themselves.
export const REFRESH_COOKIE = '__Host-refresh_token'
export const LEGACY_REFRESH_COOKIE = 'refresh_token'

/** The caller of an @auth field (mercurius-auth has already checked there is one). */
export function requireIdentity(ctx: MercuriusContext): Identity {
  if (ctx.authError) throw ctx.authError
  if (!ctx.identity) throw new AppError('UNAUTHENTICATED', 'Sign in first.')
  return ctx.identity
}

/** The policy behind @auth: a valid access token of a live session. */
export async function authPolicy(_directive: unknown, _parent: unknown, _args: unknown, ctx: MercuriusContext): Promise<boolean | Error> {
  if (ctx.authError) return ctx.authError
  if (!ctx.identity) return new AppError('UNAUTHENTICATED', 'Sign in first.')
  return true
}

export function readRefreshCookie(request: FastifyRequest): string | undefined {
  return request.cookies[REFRESH_COOKIE] ?? request.cookies[LEGACY_REFRESH_COOKIE]
}

export function clearRefreshCookie(reply: FastifyReply): void {
  reply.clearCookie(REFRESH_COOKIE, { path: '/', secure: true, httpOnly: true, sameSite: 'strict' })
}

/** AuthPayload for the client, with the refresh token in the body or in the cookie only. */
export function deliver(reply: FastifyReply, issued: IssuedSession, delivery: Delivery) {
  if (delivery === 'COOKIE') {
    reply.setCookie(REFRESH_COOKIE, issued.refreshToken, {
      httpOnly: true,
      secure: true,
      sameSite: 'strict',
      path: '/',
      expires: issued.refreshTokenExpiresAt,
    })
  }
  return {
    accessToken: issued.accessToken,
    accessTokenExpiresAt: issued.accessTokenExpiresAt,
    refreshToken: delivery === 'COOKIE' ? null : issued.refreshToken,
    refreshTokenExpiresAt: issued.refreshTokenExpiresAt,
    user: issued.user,
  }
}
