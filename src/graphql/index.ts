import { readFileSync } from 'node:fs'
import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import { parse, print, type DocumentNode } from 'graphql'
import mercurius, { type IResolvers, type MercuriusContext } from 'mercurius'
import mercuriusAuthModule, { type MercuriusAuthOptions } from 'mercurius-auth'
import { budgetedFields, type BudgetedField, type Config } from '../config.js'
import { authPolicy } from './auth.js'
import { buildContext } from './context.js'
import { createErrorFormatter } from './errors.js'
import { validationRules } from './limits.js'
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
 * mercurius also takes a query as a JSON syntax tree, as an object or as a JSON string.
 * Such a tree is printed and parsed again here, so that a malformed tree is a 400
 * instead of a crash inside validation, and every limit sees a well-formed document.
 */
export function normaliseBody(body: unknown, maxTokens: number): void {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new BadRequest('The body must be one JSON object: {"query", "variables", "operationName"}.')
  }
  const b = body as { query?: unknown; extensions?: { persistedQuery?: unknown } }
  let tree: unknown
  if (typeof b.query === 'string') {
    // A GraphQL document never starts with `{"`; a JSON syntax tree does.
    if (!/^\s*\{\s*"/.test(b.query)) return
    try {
      tree = JSON.parse(b.query)
    } catch {
      throw new BadRequest('query is neither a GraphQL document nor a valid syntax tree.')
    }
  } else if (b.query && typeof b.query === 'object') {
    tree = b.query
  } else if (b.query === undefined && b.extensions?.persistedQuery) {
    return
  } else {
    throw new BadRequest('query must be a GraphQL document string.')
  }
  try {
    b.query = print(parse(print(tree as DocumentNode), { maxTokens }))
  } catch {
    throw new BadRequest('query is neither a GraphQL document nor a valid syntax tree.')
  }
}

/** Every budgeted root field spends from the caller's budget each time it executes. */
export function withBudgets(map: IResolvers): IResolvers {
  const out: IResolvers = { ...map }
  for (const type of ['Query', 'Mutation'] as const) {
    const fields = { ...(map[type] as Record<string, (...args: any[]) => unknown>) }
    for (const [name, resolve] of Object.entries(fields)) {
      if (!budgetedFields.includes(name as BudgetedField)) continue
      fields[name] = async (root: unknown, args: unknown, ctx: MercuriusContext, info: unknown) => {
        await ctx.app.services.limits.spend(name as BudgetedField, ctx.ip, ctx.requestId)
        return resolve(root, args, ctx, info)
      }
    }
    out[type] = fields as never
  }
  return out
}

export const graphqlPlugin = fp<{ config: Config }>(
  async (app, { config }) => {
    const production = config.NODE_ENV === 'production'
    await app.register(mercurius, {
      schema: schemaSource,
      resolvers: withBudgets(resolvers),
      context: buildContext,
      path: '/graphql',
      graphiql: !production,
      // Each executed field counts against limits; a batch would be many requests in one.
      allowBatchedQueries: false,
      validationRules: validationRules(config),
      graphql: { parseOptions: { maxTokens: config.GRAPHQL_MAX_TOKENS } },
      // Only JSON (or application/graphql) bodies, which browsers cannot send cross-site
      // without a preflight that CORS then refuses.
      csrfPrevention: true,
      // Apollo Client's persisted-query link: the hash alone after the first request.
      persistedQueryProvider: mercurius.persistedQueryDefaults.automatic(1000),
      errorFormatter: createErrorFormatter({ production }),
    })
    app.addHook('preValidation', async (request) => {
      if (request.method === 'POST' && request.routeOptions.url === '/graphql') normaliseBody(request.body, config.GRAPHQL_MAX_TOKENS)
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
