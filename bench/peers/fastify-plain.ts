// The ceiling: a plain Fastify route that does the same I/O as each benchmarked GraphQL
// operation (HTTP security layer, per-client budget in Redis, our context and the same
// service call) and answers the same JSON, without any GraphQL: no parsing,
// validation or execution. It picks the operation by `operationName`.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { BudgetedField } from '../../src/config.js'
import { deliver } from '../../src/graphql/auth.js'
import type { LoginInput } from '../../src/modules/accounts/account-service.js'
import type { IssuedSession } from '../../src/modules/sessions/session-service.js'
import { AppError, buildPeerBase, listen, peerContext, type PeerContext } from './common.js'

const { app, config } = await buildPeerBase()

interface Body {
  query?: string
  operationName?: string
  variables?: Record<string, unknown>
}

const iso = (d: Date | null) => (d ? d.toISOString() : null)
const meta = (ctx: PeerContext) => ({ ip: ctx.ip, userAgent: ctx.userAgent, requestId: ctx.requestId })
const spend = (ctx: PeerContext, field: BudgetedField) => ctx.app.services.limits.spend(field, ctx.ip, ctx.requestId)
const auth = (reply: FastifyReply, issued: IssuedSession) => {
  const p = deliver(reply, issued, 'BODY')
  return { accessToken: p.accessToken, refreshToken: p.refreshToken, user: { id: p.user.id } }
}

const operations: Record<string, (ctx: PeerContext, vars: Record<string, unknown>) => Promise<Record<string, unknown>>> = {
  async CheckMobile(ctx, vars) {
    await spend(ctx, 'checkMobile')
    return { checkMobile: await ctx.app.services.users.checkMobile(vars.mobile as string) }
  },
  async Me(ctx) {
    if (ctx.authError) throw ctx.authError
    if (!ctx.identity) return { me: null }
    const u = await ctx.app.services.accounts.me(ctx.identity)
    return { me: { id: u.id, mobile: u.mobile, nickname: u.nickname, createdAt: iso(u.createdAt), lastLoginAt: iso(u.lastLoginAt) } }
  },
  async Login(ctx, vars) {
    await spend(ctx, 'login')
    return { login: auth(ctx.reply, await ctx.app.services.accounts.login(vars.input as LoginInput, meta(ctx))) }
  },
  async RequestImageCaptcha(ctx) {
    await spend(ctx, 'requestImageCaptcha')
    const c = await ctx.app.services.captcha.create()
    return { requestImageCaptcha: { id: c.id, svg: c.svg, expiresAt: iso(c.expiresAt) } }
  },
  async RefreshToken(ctx, vars) {
    await spend(ctx, 'refreshToken')
    const issued = await ctx.app.services.sessions.refresh(vars.token as string, meta(ctx))
    const p = deliver(ctx.reply, issued, 'BODY')
    return { refreshToken: { accessToken: p.accessToken, refreshToken: p.refreshToken } }
  },
}

app.post('/graphql', async (request: FastifyRequest<{ Body: Body }>, reply) => {
  const run = operations[request.body?.operationName ?? '']
  if (!run) return reply.code(400).send({ data: null, errors: [{ message: 'unknown operation', extensions: { code: 'BAD_USER_INPUT' } }] })
  const ctx = await peerContext(request, reply)
  try {
    return { data: await run(ctx, request.body.variables ?? {}) }
  } catch (err) {
    if (err instanceof AppError) return { data: null, errors: [{ message: err.message, extensions: { ...err.extensions, code: err.code } }] }
    request.log.error({ err }, 'unexpected error')
    return reply.code(500).send({ data: null, errors: [{ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }] })
  }
})

await listen(app, config)
