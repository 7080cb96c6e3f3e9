import { readFileSync } from 'node:fs'
import fp from 'fastify-plugin'
import { parse, print, type DocumentNode } from 'graphql'
import mercurius from 'mercurius'
import type { FastifyPluginAsync } from 'fastify'
import mercuriusAuthModule, { type MercuriusAuthOptions } from 'mercurius-auth'
import type { Config } from '../config.js'
import { authPolicy } from './auth.js'
import { buildContext } from './context.js'
import { createErrorFormatter } from './errors.js'
import { resolvers } from './resolvers.js'

// The package's typings declare an ES default export; at run time the CommonJS module is the plugin.
const mercuriusAuth = mercuriusAuthModule as unknown as FastifyPluginAsync<MercuriusAuthOptions>

// Read once at start-up: the root schema.graphql is the API and its documentation.
export const schemaSource = readFileSync(new URL('../../schema.graphql', import.meta.url), 'utf8')

class BadRequest extends Error {
  override name = 'BadRequest'
  readonly statusCode = 400
}

/**
 * mercurius also takes a query as a JSON syntax tree. Such a tree is printed and parsed
 * again here, so that a malformed tree is a 400 instead of a crash inside validation,
 * and every validation rule sees a well-formed document, whatever form it came in.
 */
function normaliseBody(body: unknown): void {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new BadRequest('The body must be one JSON object: {"query", "variables", "operationName"}.')
  }
  const b = body as { query?: unknown; extensions?: { persistedQuery?: unknown } }
  if (typeof b.query === 'string') return
  if (b.query && typeof b.query === 'object') {
    try {
      b.query = print(parse(print(b.query as DocumentNode)))
    } catch {
      throw new BadRequest('query is neither a GraphQL document string nor a valid syntax tree.')
    }
    return
  }
  if (b.query === undefined && b.extensions?.persistedQuery) return
  throw new BadRequest('query must be a GraphQL document string.')
}

export const graphqlPlugin = fp<{ config: Config }>(
  async (app, { config }) => {
    const production = config.NODE_ENV === 'production'
    await app.register(mercurius, {
      schema: schemaSource,
      resolvers,
      context: buildContext,
      path: '/graphql',
      graphiql: !production,
      // Each executed field counts against limits; a batch would be many requests in one.
      allowBatchedQueries: false,
      errorFormatter: createErrorFormatter({ production }),
    })
    app.addHook('preValidation', async (request) => {
      if (request.method === 'POST' && request.routeOptions.url === '/graphql') normaliseBody(request.body)
    })
    // Which fields need a signed-in caller is stated in the schema (@auth), not in resolvers.
    await app.register(mercuriusAuth, {
      authDirective: 'auth',
      authContext: () => ({}),
      applyPolicy: authPolicy,
    })
  },
  { name: 'graphql', dependencies: ['modules'] },
)
