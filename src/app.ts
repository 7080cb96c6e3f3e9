import { randomUUID } from 'node:crypto'
import cookie from '@fastify/cookie'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import fp from 'fastify-plugin'
import type { DestinationStream } from 'pino'
import type { Config } from './config.js'
import { dbPlugin } from './infra/db/index.js'
import { resolveServerSecret } from './infra/secrets.js'
import { createSmsSender } from './infra/sms/index.js'
import type { SmsSender } from './infra/sms/types.js'
import { storePlugin, type Store } from './infra/store/index.js'
import { graphqlPlugin } from './graphql/index.js'
import { httpSecurityPlugin } from './http/security.js'
import { systemClock, type Clock } from './lib/clock.js'
import { createServices, type Services } from './modules/services.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    services: Services
  }
}

/** What a test (or the benchmark) may put in place of the real thing. */
export interface AppOverrides {
  clock?: Clock
  /** a store the caller owns and closes */
  store?: Store
  sms?: SmsSender
  /** where log lines go instead of stdout */
  logStream?: DestinationStream
}

// Secrets never reach the log, whatever a serializer or a later log line includes.
export const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-signature"]',
  'res.headers["set-cookie"]',
  '*.password',
  '*.newPassword',
  '*.currentPassword',
  '*.smsCode',
  '*.captchaText',
  '*.refreshToken',
  '*.accessToken',
  'variables',
]

export function fastifyOptions(config: Config, overrides: AppOverrides = {}): FastifyServerOptions {
  const logger = {
    level: config.LOG_LEVEL,
    redact: { paths: redactPaths, censor: '[redacted]' },
    ...(overrides.logStream ? { stream: overrides.logStream } : {}),
  }
  return {
    logger,
    trustProxy: config.TRUST_PROXY,
    // Requests larger than this are not operations of this API; 413 beats parsing them.
    bodyLimit: config.BODY_LIMIT_BYTES,
    // A request id from the client is believed only behind a trusted proxy.
    requestIdHeader: config.TRUST_PROXY ? 'x-request-id' : false,
    genReqId: () => randomUUID(),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  }
}

/** The root plugin: infrastructure, then the modules, then the GraphQL layer. */
export const app = fp<{ config: Config } & AppOverrides>(
  async (app, opts) => {
    const { config } = opts
    const clock = opts.clock ?? systemClock
    app.decorate('config', config)

    // Outside /graphql (whose errors the GraphQL formatter answers): a server error's own
    // message never reaches the client.
    app.setErrorHandler(async (err: { statusCode?: number; message: string }, request, reply) => {
      const status = typeof err.statusCode === 'number' && err.statusCode >= 400 ? err.statusCode : 500
      if (status >= 500) {
        request.log.error({ err }, 'request failed')
        return reply.code(status).send({ error: 'Internal server error' })
      }
      return reply.code(status).send({ error: err.message })
    })

    app.addHook('onSend', async (request, reply) => {
      reply.header('x-request-id', request.id)
    })

    await app.register(cookie)
    await app.register(storePlugin, { config, ...(opts.store ? { store: opts.store } : {}) })
    await app.register(dbPlugin, { config })

    const sms = opts.sms ?? createSmsSender(config, app.log)
    if (sms.close) app.addHook('onClose', async () => sms.close?.())
    const secret = resolveServerSecret(config)

    await app.register(
      fp(
        async (scope) => {
          const services = createServices({ config, db: app.db, store: app.store, sms, clock, secret, log: app.log })
          scope.decorate('services', services)
          scope.addHook('onClose', () => services.close())
        },
        { name: 'modules', dependencies: ['store', 'db'] },
      ),
    )
    await app.register(httpSecurityPlugin, { config })
    await app.register(graphqlPlugin, { config })

    app.get('/healthz', async () => ({ status: 'ok' }))
    app.get('/readyz', async (_request, reply) => {
      const [database, store] = await Promise.all([app.dbHealthy(), app.store.ping()])
      const ready = database && store
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'unavailable', database, store })
    })
  },
  { name: 'app' },
)

/** The same app the server runs; tests call `inject` on it or listen on port 0. */
export async function buildApp(config: Config, overrides: AppOverrides = {}): Promise<FastifyInstance> {
  const instance = Fastify(fastifyOptions(config, overrides))
  await instance.register(app, { config, ...overrides })
  await instance.ready()
  return instance
}
