import type { FastifyBaseLogger } from 'fastify'
import { randomUUID } from 'node:crypto'
import type { BudgetedField, Config } from '../../config.js'
import { rateLimited } from '../../errors.js'
import type { Store } from '../../infra/store/index.js'
import type { Clock } from '../../lib/clock.js'
import { clientKey } from './client-key.js'

export interface ClientLimits {
  /**
   * Spends one execution of `field` from the caller's per-minute budget, or answers
   * RATE_LIMITED. Called once per executed field, so aliases and batching spend too.
   */
  spend(field: BudgetedField, ip: string, requestId: string): Promise<void>
}

const MINUTE = 60_000

export function createClientLimits(deps: {
  store: Store
  clock: Clock
  log: FastifyBaseLogger
  config: Pick<Config, 'CLIENT_RATE_LIMITS' | 'CLIENT_OPERATION_BUDGETS'>
}): ClientLimits {
  const { store, clock, log, config } = deps
  if (config.CLIENT_RATE_LIMITS === 'off') return { spend: async () => {} }
  return {
    async spend(field, ip, requestId) {
      const client = clientKey(ip)
      const limit = config.CLIENT_OPERATION_BUDGETS.get(field)!
      const result = await store.reserve(randomUUID(), [{ key: `budget:{${client}}:${field}`, limit, windowMs: MINUTE }], clock.now())
      if (!result.ok) {
        log.warn({ event: 'limit.tripped', scope: 'client-operation', field, client, reqId: requestId, limit }, 'client operation budget spent')
        throw rateLimited(`Too many ${field} calls from this address; slow down.`, result.retryAfterMs)
      }
    },
  }
}
