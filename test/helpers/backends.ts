import { randomUUID } from 'node:crypto'
import { createMemoryStore } from '../../src/infra/store/memory.js'
import { createRedisStore } from '../../src/infra/store/redis.js'
import type { Store } from '../../src/infra/store/types.js'

/** The machine's Redis; every test gets its own key prefix, so runs never see each other. */
export const testRedisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

export interface StoreBackend {
  name: 'redis' | 'memory'
  create(): Promise<Store>
}

export function storeBackends(): StoreBackend[] {
  const wanted = (process.env.TEST_BACKENDS ?? 'real,embedded').split(',').map((s) => s.trim())
  const all: StoreBackend[] = [
    {
      name: 'redis',
      create: () => createRedisStore({ url: testRedisUrl, keyPrefix: `test:${randomUUID()}:` }),
    },
    { name: 'memory', create: async () => createMemoryStore() },
  ]
  // 'real' means the machine's Redis; 'embedded' the in-process store.
  return all.filter((b) => wanted.includes(b.name === 'redis' ? 'real' : 'embedded'))
}
