import type { FastifyReply, FastifyRequest } from 'fastify'
import { AppError, isAppError } from '../errors.js'
import type { Identity } from '../modules/sessions/session-service.js'

export interface RequestContext {
  /** the client address as Fastify sees it (X-Forwarded-For only with TRUST_PROXY) */
  ip: string
  userAgent: string | undefined
  requestId: string
  /** the caller, when the request carried a valid access token */
  identity: Identity | null
  /** why a presented access token was refused; `me` and @auth fields report it */
  authError: AppError | null
}

declare module 'mercurius' {
  interface MercuriusContext extends RequestContext {}
}

const BEARER = /^Bearer ([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/

/** Authentication happens here, once per request, not in each resolver. */
export async function buildContext(request: FastifyRequest, _reply: FastifyReply): Promise<RequestContext> {
  const base = {
    ip: request.ip,
    userAgent: request.headers['user-agent'],
    requestId: request.id,
    identity: null,
    authError: null,
  }
  const header = request.headers.authorization
  if (header === undefined || header === '') return base
  const match = BEARER.exec(header)
  if (!match) {
    return { ...base, authError: new AppError('UNAUTHENTICATED', "Send the access token as 'Authorization: Bearer <token>'.") }
  }
  try {
    return { ...base, identity: await request.server.services.sessions.authenticate(match[1]!) }
  } catch (err) {
    if (isAppError(err)) return { ...base, authError: err }
    // The session could not be checked (database away): the caller is not authenticated,
    // and the fields that need one say INTERNAL_SERVER_ERROR rather than guessing.
    request.log.error({ err }, 'authentication could not be checked')
    return { ...base, authError: new AppError('INTERNAL_SERVER_ERROR', 'Internal server error', { cause: err }) }
  }
}
