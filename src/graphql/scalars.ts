import { GraphQLError, GraphQLScalarType, Kind } from 'graphql'

const parse = (value: unknown): Date => {
  if (typeof value !== 'string') throw new GraphQLError('DateTime must be an ISO-8601 string')
  const d = new Date(value)
  if (Number.isNaN(d.getTime())) throw new GraphQLError('DateTime must be an ISO-8601 string')
  return d
}

export const DateTime = new GraphQLScalarType({
  name: 'DateTime',
  serialize: (value) => (value instanceof Date ? value : new Date(value as string)).toISOString(),
  parseValue: parse,
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) throw new GraphQLError('DateTime must be an ISO-8601 string')
    return parse(ast.value)
  },
})
