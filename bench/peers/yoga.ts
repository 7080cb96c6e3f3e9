// Peer: GraphQL Yoga 5 on Fastify, wired as Yoga's own Fastify integration guide does
// (a Fastify route hands the request to yoga.handleNodeRequestAndResponse). Same schema,
// resolvers, context, limits and services as ours.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ValidationRule } from 'graphql'
import { createSchema, createYoga, type Plugin } from 'graphql-yoga'
import { validationRules } from '../../src/graphql/limits.js'
import { addBodyCheck, buildPeerBase, createPublicError, listen, peerContext, peerResolvers, schemaSource, type PeerContext } from './common.js'

const { app, config } = await buildPeerBase()
const publicError = createPublicError(app)
const rules: ValidationRule[] = validationRules(config)
const maxTokens = config.GRAPHQL_MAX_TOKENS

// Our document limits and parse bound, as mercurius applies them to us.
const limits: Plugin = {
  onParse({ parseFn, setParseFn }) {
    setParseFn((source, options) => parseFn(source, { ...options, maxTokens }))
  },
  onValidate({ addValidationRule }) {
    for (const rule of rules) addValidationRule(rule)
  },
}

const yoga = createYoga<{ req: FastifyRequest; reply: FastifyReply }, PeerContext>({
  schema: createSchema({ typeDefs: schemaSource, resolvers: peerResolvers() as never }) as never,
  context: ({ req, reply }) => peerContext(req, reply),
  graphiql: false,
  landingPage: false,
  logging: {
    debug: (...args) => args.forEach((arg) => app.log.debug(arg)),
    info: (...args) => args.forEach((arg) => app.log.info(arg)),
    warn: (...args) => args.forEach((arg) => app.log.warn(arg)),
    error: (...args) => args.forEach((arg) => app.log.error(arg)),
  },
  maskedErrors: { maskError: (error) => publicError(error as never) },
  plugins: [limits],
})

addBodyCheck(app, yoga.graphqlEndpoint, maxTokens)
app.route({
  url: yoga.graphqlEndpoint,
  method: ['POST'],
  handler: (req, reply) => yoga.handleNodeRequestAndResponse(req, reply, { req, reply }),
})

await listen(app, config)
