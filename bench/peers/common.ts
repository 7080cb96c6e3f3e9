// What every peer shares with the real server, so that only the GraphQL framework
// differs: the same configuration, Fastify options (logger, body limit, request ids),
// cookie, store, database, services and HTTP security layer (helmet, CORS, the
// per-client request budget in Redis), and the same resolvers with the same per-field
// client budgets and @auth policy. src/app.ts registers our GraphQL layer inside its
// root plugin, so the part before it is repeated here, line for line.
import cookie from '@fastify/cookie'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { GraphQLError, Kind, parse } from 'graphql'
import type { IResolvers, MercuriusContext } from 'mercurius'
import { fastifyOptions } from '../../src/app.js'
import { loadConfig, type Config } from '../../src/config.js'
import { AppError } from '../../src/errors.js'
import { authPolicy } from '../../src/graphql/auth.js'
import { buildContext, type RequestContext } from '../../src/graphql/context.js'
import { createErrorFormatter } from '../../src/graphql/errors.js'
import { normaliseBody, schemaSource, withBudgets } from '../../src/graphql/index.js'
import { resolvers } from '../../src/graphql/resolvers.js'
import { dbPlugin } from '../../src/infra/db/index.js'
import { resolveServerSecret } from '../../src/infra/secrets.js'
import { createSmsSender } from '../../src/infra/sms/index.js'
import { storePlugin } from '../../src/infra/store/index.js'
import { httpSecurityPlugin } from '../../src/http/security.js'
import { systemClock } from '../../src/lib/clock.js'
import { createServices } from '../../src/modules/services.js'

export { schemaSource }

/** What our resolvers read from their context: ours is mercurius's plus RequestContext. */
export type PeerContext = RequestContext & { app: FastifyInstance; reply: FastifyReply }

/** The root plugin of src/app.ts without its GraphQL layer. */
export async function buildPeerBase(): Promise<{ app: FastifyInstance; config: Config }> {
  const config = loadConfig()
  const app = Fastify(fastifyOptions(config))
  app.decorate('config', config)
  app.addHook('onSend', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })
  await app.register(cookie)
  await app.register(storePlugin, { config })
  await app.register(dbPlugin, { config })
  const sms = createSmsSender(config, app.log)
  const secret = resolveServerSecret(config)
  await app.register(
    fp(
      async (scope) => {
        scope.decorate('services', createServices({ config, db: app.db, store: app.store, sms, clock: systemClock, secret, log: app.log }))
      },
      { name: 'modules', dependencies: ['store', 'db'] },
    ),
  )
  await app.register(httpSecurityPlugin, { config })
  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_request, reply) => {
    const [database, store] = await Promise.all([app.dbHealthy(), app.store.ping()])
    return reply.code(database && store ? 200 : 503).send({ database, store })
  })
  return { app, config }
}

/** Our context, built by our own buildContext (authentication once per request). */
export async function peerContext(request: FastifyRequest, reply: FastifyReply): Promise<PeerContext> {
  return { ...(await buildContext(request, reply)), app: request.server, reply }
}

type Resolver = (root: unknown, args: unknown, ctx: PeerContext, info: unknown) => unknown

/** Fields marked @auth in schema.graphql, read from the document itself. */
function authFields(source: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>()
  for (const def of parse(source).definitions) {
    if (def.kind !== Kind.OBJECT_TYPE_DEFINITION) continue
    for (const field of def.fields ?? []) {
      if (field.directives?.some((d) => d.name.value === 'auth')) {
        const set = out.get(def.name.value) ?? new Set<string>()
        set.add(field.name.value)
        out.set(def.name.value, set)
      }
    }
  }
  return out
}

/**
 * Our resolvers as src/graphql/index.ts serves them: `withBudgets` from there, and @auth
 * fields apply our authPolicy first (what mercurius-auth does for us).
 */
export function peerResolvers(): IResolvers {
  const guarded = authFields(schemaSource)
  const budgeted = withBudgets(resolvers)
  const out: IResolvers = { ...budgeted }
  for (const type of ['Query', 'Mutation'] as const) {
    const fields = { ...(budgeted[type] as Record<string, Resolver>) }
    for (const [name, resolve] of Object.entries(fields)) {
      if (!guarded.get(type)?.has(name)) continue
      fields[name] = async (root, args, ctx, info) => {
        const verdict = await authPolicy(null, root, args, ctx as unknown as MercuriusContext)
        if (verdict instanceof Error) throw verdict
        return resolve(root, args, ctx, info)
      }
    }
    out[type] = fields as never
  }
  return out
}

/** Our error formatter applied to one error, for frameworks that format errors one by one. */
export function createPublicError(app: FastifyInstance) {
  const format = createErrorFormatter({ production: app.config.NODE_ENV === 'production' })
  return (error: GraphQLError) => {
    const { response } = format({ data: null, errors: [error] }, { app })
    const first = response.errors[0]!
    return new GraphQLError(first.message, { extensions: first.extensions, ...(error.path ? { path: error.path } : {}) })
  }
}

/** The same body check src/graphql/index.ts applies to every POST. */
export function addBodyCheck(app: FastifyInstance, path: string, maxTokens: number): void {
  app.addHook('preValidation', async (request) => {
    if (request.method === 'POST' && request.routeOptions.url === path) normaliseBody(request.body, maxTokens)
  })
}

/** Listens where the bench told it to; SIGTERM closes like src/server.ts does. */
export async function listen(app: FastifyInstance, config: Config): Promise<void> {
  const close = async () => {
    await app.close()
    process.exit(0)
  }
  process.once('SIGTERM', close)
  process.once('SIGINT', close)
  await app.listen({ host: config.HOST, port: config.PORT })
}

export { AppError }
