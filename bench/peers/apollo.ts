// Peer: Apollo Server 5 on Fastify (@as-integrations/fastify), what a user would pick
// instead of mercurius. Same schema, resolvers, context, limits and services as ours.
import { ApolloServer } from '@apollo/server'
import { fastifyApolloDrainPlugin, fastifyApolloHandler } from '@as-integrations/fastify'
import { validationRules } from '../../src/graphql/limits.js'
import { addBodyCheck, buildPeerBase, createPublicError, listen, peerContext, peerResolvers, schemaSource, type PeerContext } from './common.js'

const { app, config } = await buildPeerBase()
const publicError = createPublicError(app)

const apollo = new ApolloServer<PeerContext>({
  typeDefs: schemaSource,
  resolvers: peerResolvers() as never,
  validationRules: validationRules(config),
  parseOptions: { maxTokens: config.GRAPHQL_MAX_TOKENS },
  introspection: config.NODE_ENV !== 'production',
  csrfPrevention: true,
  includeStacktraceInErrorResponses: false,
  formatError: (_formatted, error) => {
    const e = publicError(error as never)
    return { message: e.message, extensions: e.extensions, ...(e.path ? { path: e.path } : {}) }
  },
  plugins: [fastifyApolloDrainPlugin(app)],
})
await apollo.start()

addBodyCheck(app, '/graphql', config.GRAPHQL_MAX_TOKENS)
app.post('/graphql', fastifyApolloHandler(apollo, { context: peerContext }))

await listen(app, config)
