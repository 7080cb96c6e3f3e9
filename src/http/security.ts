import cors from '@fastify/cors'
import helmet from '@fastify/helmet'
import rateLimit from '@fastify/rate-limit'
import fp from 'fastify-plugin'
import type { Config } from '../config.js'
import { rateLimited } from '../errors.js'
import { clientKey } from '../modules/limits/client-key.js'

/**
 * What the HTTP layer does before GraphQL sees a request: security headers, the CORS
 * allow-list, refusing GET, and a request budget per client address.
 */
export const httpSecurityPlugin = fp<{ config: Config }>(
  async (app, { config }) => {
    const production = config.NODE_ENV === 'production'

    await app.register(helmet, {
      // An API answers JSON; only GraphiQL (development) needs scripts and styles.
      contentSecurityPolicy: production
        ? { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } }
        : false,
      // Set by whoever terminates TLS, who knows whether the domain is ready for preload.
      strictTransportSecurity: false,
    })

    // Browsers may call only from the origins listed; other clients send no Origin.
    await app.register(cors, {
      origin: config.CORS_ORIGINS.length > 0 ? config.CORS_ORIGINS : false,
      credentials: true,
      methods: ['POST'],
      maxAge: 600,
    })

    // Over GET a query would land in logs and caches, and a mutation could be forged by
    // a link or an <img>: only POST is served.
    app.addHook('onRequest', async (request, reply) => {
      if (request.method === 'GET' && request.url.split('?')[0] === '/graphql') {
        reply.header('allow', 'POST')
        reply.code(405)
        return reply.send({ data: null, errors: [{ message: 'Send GraphQL requests as POST with a JSON body.', extensions: { code: 'BAD_USER_INPUT' } }] })
      }
    })

    if (config.CLIENT_RATE_LIMITS === 'on') {
      await app.register(rateLimit, {
        global: true,
        max: config.CLIENT_REQUESTS_PER_MINUTE,
        timeWindow: 60_000,
        // Shared by every instance when Redis is there; in the process otherwise.
        ...(app.store.redis ? { redis: app.store.redis, nameSpace: `${config.REDIS_KEY_PREFIX}http-rl:` } : {}),
        keyGenerator: (request) => clientKey(request.ip),
        allowList: (request) => request.url.split('?')[0] !== '/graphql',
        // Never skipped on a store error: a limit that cannot be read does not let anyone through.
        skipOnError: false,
        errorResponseBuilder: (_request, context) =>
          rateLimited('Too many requests from this address; slow down.', context.ttl, context.statusCode),
        onExceeded: (request) =>
          request.log.warn({ event: 'limit.tripped', scope: 'client-requests', ip: request.ip, reqId: request.id }, 'client request budget spent'),
      })
    }
  },
  { name: 'http-security', dependencies: ['store'] },
)
