// The bench database and what the workloads need in it. Accounts are written through our
// own Prisma client and services: passwords hashed by our hasher at the configured cost,
// sessions and tokens made by our session service, exactly as login would make them.
import { spawnSync } from 'node:child_process'
import pg from 'pg'
import pino from 'pino'
import type { Config } from '../src/config.js'
import { createDatabase, type Database } from '../src/infra/db/index.js'
import { createSmsSender } from '../src/infra/sms/index.js'
import { createStore } from '../src/infra/store/index.js'
import type { Store } from '../src/infra/store/index.js'
import { systemClock } from '../src/lib/clock.js'
import { createPasswordHasher } from '../src/modules/accounts/passwords.js'
import { createServices, type Services } from '../src/modules/services.js'
import { createHashPool } from '../src/modules/accounts/hash-pool.js'
import { root } from './processes.js'

export const BENCH_PASSWORD = 'bench-Tr0ub4dor-and-3'

/** Drops and recreates the bench database, then migrates it with `npm run db:migrate`. */
export async function resetDatabase(adminUrl: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl })
  await admin.connect()
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
    await admin.query(`CREATE DATABASE "${name}"`)
  } finally {
    await admin.end()
  }
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  const migrate = spawnSync('npm', ['run', '--silent', 'db:migrate'], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: url.toString() },
    encoding: 'utf8',
  })
  if (migrate.status !== 0) throw new Error(`npm run db:migrate failed:\n${migrate.stdout}${migrate.stderr}`)
  return url.toString()
}

// Chinese mobile numbers in ranges of their own per purpose.
const number = (block: number, i: number) => `+86139${String(block * 10_000 + i).padStart(8, '0')}`

export interface Seeder {
  /** W1: half registered, half not */
  mobiles: string[]
  /** W3: one account per connection, each with BENCH_PASSWORD */
  logins: { mobile: string; password: string }[]
  /** fresh sessions, one per account of the session pool: access and refresh tokens */
  sessions(count: number): Promise<{ accessToken: string; refreshToken: string }[]>
  close(): Promise<void>
}

export async function seed(config: Config, counts: { sessionUsers: number; loginUsers: number }): Promise<Seeder> {
  const log = pino({ level: 'warn' })
  const database: Database = await createDatabase(config, log)
  const store: Store = await createStore(config)
  const db = database.prisma
  const services: Services = createServices({
    config,
    db,
    store,
    sms: createSmsSender(config, log),
    clock: systemClock,
    secret: config.JWT_SECRET!,
    log,
  })

  const now = new Date()
  const sessionUsers = Array.from({ length: counts.sessionUsers }, (_, i) => number(1, i))
  const loginUsers = Array.from({ length: counts.loginUsers }, (_, i) => number(2, i))
  // One bcrypt hash at the configured cost serves every login account: same password.
  const pool = createHashPool({ threads: 1, nice: 0 })
  const passwordHash = await createPasswordHasher(config.BCRYPT_COST, pool).hash(BENCH_PASSWORD)
  await pool.close()
  await db.user.createMany({
    data: [
      ...sessionUsers.map((mobile) => ({ mobile, nickname: 'bench', createdAt: now, lastLoginAt: now })),
      ...loginUsers.map((mobile) => ({ mobile, nickname: 'bench', passwordHash, createdAt: now, passwordChangedAt: now })),
    ],
  })
  const users = await db.user.findMany({ where: { mobile: { in: sessionUsers } }, orderBy: { mobile: 'asc' } })
  const unregistered = Array.from({ length: counts.sessionUsers }, (_, i) => number(9, i))

  return {
    mobiles: sessionUsers.flatMap((m, i) => [m, unregistered[i]!]),
    logins: loginUsers.map((mobile) => ({ mobile, password: BENCH_PASSWORD })),
    async sessions(count) {
      const out = []
      for (let i = 0; i < count; i++) {
        const user = users[i % users.length]!
        const created = await services.sessions.create(db, user, { ip: '127.0.0.1', userAgent: 'passport-bench' })
        const issued = services.sessions.issue(created)
        out.push({ accessToken: issued.accessToken, refreshToken: issued.refreshToken })
      }
      return out
    },
    async close() {
      await services.close()
      await store.close()
      await database.close()
    },
  }
}

/** Removes every key the run wrote under its prefix (SCAN, never KEYS). */
export async function dropKeys(store: Store, prefix: string): Promise<number> {
  const redis = store.redis
  if (!redis || !('scanStream' in redis)) return 0
  let removed = 0
  // The store's own client adds no prefix of its own to raw commands.
  for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 1000 }) as AsyncIterable<string[]>) {
    if (keys.length > 0) removed += await redis.del(...keys)
  }
  return removed
}
