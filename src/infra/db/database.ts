import { join } from 'node:path'
import { PrismaPg } from '@prisma/adapter-pg'
import type { Config } from '../../config.js'
import { PrismaClient } from '../../generated/prisma/client.js'
import { startEmbeddedPostgres, type EmbeddedDatabase } from './embedded.js'
import { applyMigrations, type DbLog } from './migrate.js'
import { describeUrl } from './url.js'

export interface Database {
  prisma: PrismaClient
  /** The connection URL in use (it may hold a password: do not log it; see describeUrl). */
  url: string
  /** True when this process runs the database itself (no DATABASE_URL). */
  embedded: boolean
  /** `SELECT 1` within about a second; never throws. */
  healthy(): Promise<boolean>
  /** Disconnects Prisma, then stops the embedded database if there is one. Idempotent. */
  close(): Promise<void>
}

const HEALTH_TIMEOUT_MS = 1000
// Every query of this service is a key lookup or a small write; one that has not
// answered in two seconds means the database is in trouble, and the request is better
// failed (INTERNAL_SERVER_ERROR) than held. A server-side statement_timeout is the
// operator's to set (ALTER ROLE … SET statement_timeout): as a startup parameter it would
// be refused by poolers such as PgBouncer.
const CONNECT_TIMEOUT_MS = 2000
const QUERY_TIMEOUT_MS = 2000

/**
 * Connects to DATABASE_URL, or starts the embedded database under
 * `<DATA_DIR>/pglite` when it is unset; migrates unless NODE_ENV=production (the
 * embedded database is always migrated: nobody else can reach it to do so); and
 * checks with one query that the database answers, so a wrong URL stops start-up.
 */
export async function createDatabase(config: Config, log: DbLog): Promise<Database> {
  let embedded: EmbeddedDatabase | undefined
  let prisma: PrismaClient | undefined
  try {
    if (config.DATABASE_URL === undefined) {
      embedded = await startEmbeddedPostgres({ dataDir: join(config.DATA_DIR, 'pglite'), log })
    }
    const url = embedded?.url ?? config.DATABASE_URL!

    if (embedded || config.NODE_ENV !== 'production') {
      await applyMigrations(url, log)
    } else {
      log.info('NODE_ENV=production: migrations are a deploy step (`npm run db:migrate` or `prisma migrate deploy`)')
    }

    const client = new PrismaClient({
      adapter: new PrismaPg(
        {
          connectionString: url,
          application_name: 'passport-gateway',
          // Bounds opening a connection and, under load, waiting for a free one in the pool.
          // A server that accepts but never answers fails the query (query_timeout) instead
          // of holding the request and its connection; a connection whose query failed is
          // discarded by the pool. Not so for the embedded database: it runs one query at a
          // time for every connection, so a burst queues there by design, and it cannot go
          // away without this process.
          ...(embedded
            ? { connectionTimeoutMillis: 5000 }
            : { connectionTimeoutMillis: CONNECT_TIMEOUT_MS, query_timeout: QUERY_TIMEOUT_MS, keepAlive: true }),
        },
        {
          // An idle connection the server dropped; the pool replaces it on demand.
          onPoolError: (error) => log.warn(`database pool: ${error.message}`),
          onConnectionError: (error) => log.warn(`database connection: ${error.message}`),
        },
      ),
    })
    prisma = client
    try {
      await client.$queryRaw`SELECT 1`
    } catch (error) {
      throw new Error(`cannot query the database at ${describeUrl(url)}: ${(error as Error).message}`, { cause: error })
    }
    if (!embedded) log.info(`database at ${describeUrl(url)} is reachable`)

    const running = embedded
    let closing: Promise<void> | undefined
    return {
      prisma: client,
      url,
      embedded: running !== undefined,
      healthy: () => probe(client),
      close: () =>
        (closing ??= (async () => {
          try {
            await client.$disconnect()
          } finally {
            await running?.close()
          }
        })()),
    }
  } catch (error) {
    await prisma?.$disconnect().catch(() => {})
    await embedded?.close().catch(() => {})
    throw error
  }
}

async function probe(prisma: PrismaClient): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timedOut = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), HEALTH_TIMEOUT_MS)
  })
  try {
    // A late rejection after the timeout is absorbed by the `then` handlers.
    const answered = prisma.$queryRaw`SELECT 1`.then(
      () => true,
      () => false,
    )
    return await Promise.race([answered, timedOut])
  } catch {
    return false
  } finally {
    clearTimeout(timer)
  }
}
