import type { FastifyBaseLogger } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../../config.js'
import { createMemoryStore } from './memory.js'
import { createRedisStore } from './redis.js'
import type { Store } from './types.js'

export type { Gate, GateResult, Reservation, Store, Window } from './types.js'

declare module 'fastify' {
  interface FastifyInstance {
    store: Store
  }
}

export async function createStore(config: Config, log?: FastifyBaseLogger): Promise<Store> {
  if (!config.REDIS_URL) return createMemoryStore()
  return createRedisStore({
    url: config.REDIS_URL,
    cluster: config.REDIS_CLUSTER,
    keyPrefix: config.REDIS_KEY_PREFIX,
    ...(log ? { log: { warn: (m: string) => log.warn(m), info: (m: string) => log.info(m) } } : {}),
  })
}

/** Redis when REDIS_URL is set, otherwise the in-process store (one instance only). */
export const storePlugin = fp<{ config: Config; store?: Store }>(
  async (app, { config, store }) => {
    const s = store ?? (await createStore(config, app.log))
    if (s.kind === 'memory' && config.NODE_ENV !== 'test') {
      app.log.warn('REDIS_URL is unset: limits and codes live in this process only; run one instance')
    }
    app.decorate('store', s)
    // A store handed in by the caller (tests share one) is the caller's to close.
    if (!store) app.addHook('onClose', async () => s.close())
  },
  { name: 'store' },
)
