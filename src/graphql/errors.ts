import type { FastifyBaseLogger } from 'fastify'
import { GraphQLError, type ExecutionResult } from 'graphql'
import { isAppError, type ErrorCode } from '../errors.js'

interface PublicError {
  message: string
  locations?: readonly { line: number; column: number }[]
  path?: readonly (string | number)[]
  extensions: { code: ErrorCode } & Record<string, unknown>
}

type Formatted = { statusCode: number; response: { data: ExecutionResult['data']; errors: PublicError[] } }

const httpStatus = (err: unknown): number | undefined => {
  const s = (err as { statusCode?: unknown } | undefined)?.statusCode
  return typeof s === 'number' ? s : undefined
}

/**
 * The one place errors become what a client sees. Every error gets `extensions.code`:
 * the AppError's own code; BAD_USER_INPUT for what the client sent wrong (syntax,
 * validation, variable types, malformed HTTP); INTERNAL_SERVER_ERROR for anything
 * else, whose cause goes to the log and never to the client.
 */
export function createErrorFormatter(options: { production: boolean }) {
  // graphql-js suggests field and type names; in production that is schema discovery.
  const clean = (message: string) => (options.production ? message.replace(/ ?Did you mean .+\?$/, '') : message)

  return function errorFormatter(
    execution: ExecutionResult & { errors: readonly GraphQLError[]; statusCode?: number },
    context: { reply?: { log: FastifyBaseLogger }; app: { log: FastifyBaseLogger } },
  ): Formatted {
    const log = context.reply?.log ?? context.app.log
    let statusCode = execution.data ? 200 : (execution.statusCode ?? 200)
    const errors: PublicError[] = []
    const where = (e: GraphQLError) => ({
      ...(e.locations ? { locations: e.locations } : {}),
      ...(e.path ? { path: e.path } : {}),
    })

    for (const error of execution.errors) {
      const original = error.originalError as (Error & { errors?: unknown }) | undefined
      if (original && Array.isArray(original.errors)) {
        // mercurius wraps every validation error of a document into one
        for (const inner of original.errors as GraphQLError[]) {
          errors.push({ message: clean(inner.message), ...where(inner), extensions: { code: 'BAD_USER_INPUT' } })
        }
        if (!execution.data) statusCode = httpStatus(original) ?? 400
      } else if (isAppError(original)) {
        errors.push({ message: original.message, ...where(error), extensions: { ...original.extensions, code: original.code } })
        if (!execution.data && original.statusCode) statusCode = original.statusCode
      } else if (!original || original instanceof GraphQLError) {
        // graphql-js's own: syntax, validation, coercion of variables
        errors.push({ message: clean(error.message), ...where(error), extensions: { code: 'BAD_USER_INPUT' } })
      } else {
        const status = httpStatus(original)
        if (status !== undefined && status >= 400 && status < 500) {
          // fastify and mercurius refusing the HTTP request: bad JSON, wrong type, too large
          errors.push({ message: clean(error.message), extensions: { code: 'BAD_USER_INPUT' } })
          if (!execution.data && execution.errors.length === 1) statusCode = status
        } else {
          log.error({ err: original, path: error.path }, 'unexpected error in graphql operation')
          errors.push({ message: 'Internal server error', ...where(error), extensions: { code: 'INTERNAL_SERVER_ERROR' } })
          if (!execution.data && execution.errors.length === 1 && status !== undefined && status >= 500) statusCode = 500
        }
      }
    }
    return { statusCode, response: { data: execution.data ?? null, errors } }
  }
}
