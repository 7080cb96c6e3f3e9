import type { IResolvers, MercuriusContext } from 'mercurius'
import { AppError } from '../errors.js'
import type { SmsPurpose } from '../infra/sms/types.js'
import type { LoginInput, RegisterInput } from '../modules/accounts/account-service.js'
import { clearRefreshCookie, deliver, readRefreshCookie, requireIdentity, type Delivery } from './auth.js'
import { DateTime } from './scalars.js'

// Resolvers stay thin: read the arguments and the caller, call one service, return.

const meta = (ctx: MercuriusContext) => ({ ip: ctx.ip, userAgent: ctx.userAgent, requestId: ctx.requestId })
type WithDelivery<T> = T & { refreshTokenDelivery?: Delivery | null }

export const resolvers: IResolvers = {
  DateTime,
  Query: {
    checkMobile: (_root, args: { mobile: string }, ctx) => ctx.app.services.users.checkMobile(args.mobile),
    me: (_root, _args, ctx) => {
      if (ctx.authError) throw ctx.authError
      return ctx.identity ? ctx.app.services.accounts.me(ctx.identity) : null
    },
  },
  Mutation: {
    requestImageCaptcha: (_root, _args, ctx) => ctx.app.services.captcha.create(),
    sendSmsCode: (
      _root,
      { input }: { input: { mobile: string; purpose: SmsPurpose; captchaId: string; captchaText: string } },
      ctx,
    ) => ctx.app.services.smsCodes.send({ ...input, ip: ctx.ip, requestId: ctx.requestId }),

    register: async (_root, { input }: { input: WithDelivery<RegisterInput> }, ctx) =>
      deliver(ctx.reply, await ctx.app.services.accounts.register(input, meta(ctx)), input.refreshTokenDelivery ?? 'BODY'),
    login: async (_root, { input }: { input: WithDelivery<LoginInput> }, ctx) =>
      deliver(ctx.reply, await ctx.app.services.accounts.login(input, meta(ctx)), input.refreshTokenDelivery ?? 'BODY'),
    resetPassword: async (
      _root,
      { input }: { input: WithDelivery<{ mobile: string; smsCode: string; newPassword: string }> },
      ctx,
    ) => deliver(ctx.reply, await ctx.app.services.accounts.resetPassword(input, meta(ctx)), input.refreshTokenDelivery ?? 'BODY'),

    refreshToken: async (_root, args: { refreshToken?: string | null; delivery?: Delivery | null }, ctx) => {
      const fromCookie = args.refreshToken == null ? readRefreshCookie(ctx.reply.request) : undefined
      const token = args.refreshToken ?? fromCookie
      if (!token) throw new AppError('UNAUTHENTICATED', 'No refresh token: pass one or send the refresh cookie.')
      const issued = await ctx.app.services.sessions.refresh(token, meta(ctx))
      return deliver(ctx.reply, issued, args.delivery ?? (fromCookie ? 'COOKIE' : 'BODY'))
    },

    logout: async (_root, args: { allDevices?: boolean | null }, ctx) => {
      await ctx.app.services.accounts.logout(requireIdentity(ctx), args.allDevices ?? false, meta(ctx))
      clearRefreshCookie(ctx.reply)
      return true
    },
    changePassword: async (
      _root,
      { input }: { input: { currentPassword?: string | null; newPassword: string } },
      ctx,
    ) => {
      await ctx.app.services.accounts.changePassword(requireIdentity(ctx), input, meta(ctx))
      return true
    },
  },
}
