import { PrismaPg } from '@prisma/adapter-pg'
import {
  ColumnTypeEnum,
  type SqlDriverAdapter,
  type SqlMigrationAwareDriverAdapterFactory,
  type SqlQuery,
  type SqlResultSet,
} from '@prisma/driver-adapter-utils'
import pg from 'pg'

// Driver adapters for the WebAssembly schema engine, which reaches the database
// only through one of these.

export interface MigrationConnection {
  factory: SqlMigrationAwareDriverAdapterFactory
  /** Ends the connection; this is what releases the engine's advisory lock. */
  close(): Promise<void>
}

/**
 * The database as the native schema engine sees it: a single session for the
 * engine's lifetime. Two adjustments to @prisma/adapter-pg make that so:
 *
 * - One pooled connection that never idles out. The engine takes Prisma
 *   Migrate's session lock (`pg_advisory_lock(72707369)`) and never unlocks; on a
 *   larger pool the lock would sit on whichever connection ran it, and an idle
 *   timeout could drop it in the middle of a migration.
 * - A migration script is sent whole, over the simple query protocol, as the
 *   native engine does. adapter-pg 7.10 splits scripts on every `;` (which breaks
 *   function bodies, string literals and comments) and runs the pieces one by
 *   one; sent whole, PostgreSQL also runs the script as one implicit transaction.
 */
export function migrationConnection(
  connectionString: string,
  onError: (error: Error) => void,
): MigrationConnection {
  const pool = new pg.Pool({
    connectionString,
    max: 1,
    idleTimeoutMillis: 0,
    connectionTimeoutMillis: 10_000,
    application_name: 'passport-gateway-migrate',
  })
  const inner = new PrismaPg(pool, { onPoolError: onError, onConnectionError: onError })
  const factory: SqlMigrationAwareDriverAdapterFactory = {
    provider: inner.provider,
    adapterName: inner.adapterName,
    connect: async () => wholeScripts(await inner.connect()),
    connectToShadowDb: () => Promise.reject(new Error('a shadow database is not supported here')),
  }
  const clients = new Set<pg.PoolClient>()
  pool.on('connect', (client) => clients.add(client))
  pool.on('remove', (client) => clients.delete(client))
  let closed: Promise<void> | undefined
  return { factory, close: () => (closed ??= endPool(pool, clients)) }
}

/**
 * pool.end() waits for queries in flight, and after the engine gives up on the
 * advisory lock its `pg_advisory_lock` call is still waiting in the server. Past
 * a short grace period the session is ended from our side, which cancels it.
 */
async function endPool(pool: pg.Pool, clients: Set<pg.PoolClient>): Promise<void> {
  const ended = pool.end()
  let timer: NodeJS.Timeout | undefined
  const graceOver = new Promise<'grace over'>((resolve) => {
    timer = setTimeout(() => resolve('grace over'), 500)
  })
  try {
    if ((await Promise.race([ended, graceOver])) === 'grace over') {
      for (const client of clients) {
        // Swallow the error the aborted query now raises; it has already been reported.
        client.on('error', () => {})
        await (client as unknown as pg.Client).end().catch(() => {})
      }
      await ended
    }
  } finally {
    clearTimeout(timer)
  }
}

function wholeScripts(adapter: SqlDriverAdapter): SqlDriverAdapter {
  const wrapped: SqlDriverAdapter = {
    provider: adapter.provider,
    adapterName: adapter.adapterName,
    queryRaw: (query) => adapter.queryRaw(query),
    executeRaw: (query) => adapter.executeRaw(query),
    startTransaction: (isolationLevel) => adapter.startTransaction(isolationLevel),
    dispose: () => adapter.dispose(),
    // No parameters, so node-postgres uses the simple protocol, which accepts
    // many statements in one message; errors are mapped by the adapter as usual.
    executeScript: async (script) => {
      await adapter.executeRaw({ sql: script, args: [], argTypes: [] })
    },
  }
  if (adapter.getConnectionInfo) wrapped.getConnectionInfo = () => adapter.getConnectionInfo!()
  return wrapped
}

/**
 * No database at all, for diffing two datamodels. The engine still opens a
 * "connection" and asks the server's version once; it is told PostgreSQL 15, the
 * oldest server this project runs on, and refused anything else, so a diff that
 * would need a database fails loudly instead of touching one.
 */
export function offlineAdapterFactory(): SqlMigrationAwareDriverAdapterFactory {
  const refuse = (what: string) =>
    Promise.reject(new Error(`${what} needs a database; this engine diffs datamodels only`))
  const adapter: SqlDriverAdapter = {
    provider: 'postgres',
    adapterName: '@prisma/adapter-pg',
    queryRaw: async (query: SqlQuery): Promise<SqlResultSet> => {
      if (/^\s*SELECT EXISTS\(SELECT 1 FROM pg_namespace/i.test(query.sql)) {
        return {
          columnNames: ['exists', 'version', 'numeric_version'],
          columnTypes: [ColumnTypeEnum.Boolean, ColumnTypeEnum.Text, ColumnTypeEnum.Int32],
          rows: [[true, 'PostgreSQL 15.0 (offline)', 150000]],
        }
      }
      return refuse(`the query ${JSON.stringify(query.sql.slice(0, 60))}`)
    },
    executeRaw: () => refuse('executeRaw'),
    executeScript: () => refuse('executeScript'),
    startTransaction: () => refuse('a transaction'),
    getConnectionInfo: () => ({ supportsRelationJoins: true }),
    dispose: async () => {},
  }
  return {
    provider: 'postgres',
    adapterName: '@prisma/adapter-pg',
    connect: async () => adapter,
    connectToShadowDb: () => refuse('a shadow database'),
  }
}
