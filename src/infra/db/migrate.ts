import { migrationConnection } from './adapters.js'
import { defaultMigrationsDir, readMigrationsList } from './migrations-dir.js'
import { NO_FILTER, openSchemaEngine } from './schema-engine.js'
import { describeUrl } from './url.js'

export interface DbLog {
  info(message: string): void
  warn(message: string): void
  error(message: string): void
}

export interface ApplyMigrationsOptions {
  /** Defaults to this project's prisma/migrations. */
  migrationsDir?: string
}

// Calls in this process are queued per database URL. Across processes PostgreSQL
// serialises them (below), but an embedded PGlite serves every connection from a
// single backend session, where advisory locks are re-entrant and so exclude
// nothing; this queue is what keeps two in-process runs apart there.
const queues = new Map<string, Promise<unknown>>()

/**
 * Applies the migrations not yet recorded in `_prisma_migrations`, exactly as
 * `prisma migrate deploy` does: same engine, same table, same checksums, so the
 * Prisma CLI can take over a database this has migrated, and the other way round.
 * Safe to run from several processes at once: the engine holds Prisma Migrate's
 * advisory lock (`pg_advisory_lock(72707369)`, the CLI's) for the whole run, so
 * runs queue behind each other and behind a concurrent `prisma migrate deploy`.
 */
export function applyMigrations(
  databaseUrl: string,
  log?: DbLog,
  options: ApplyMigrationsOptions = {},
): Promise<{ applied: string[] }> {
  const previous = queues.get(databaseUrl) ?? Promise.resolve()
  const run = previous.catch(() => {}).then(() => applyNow(databaseUrl, log, options))
  queues.set(databaseUrl, run)
  const forget = () => {
    if (queues.get(databaseUrl) === run) queues.delete(databaseUrl)
  }
  run.then(forget, forget)
  return run
}

async function applyNow(databaseUrl: string, log: DbLog | undefined, options: ApplyMigrationsOptions) {
  const migrationsDir = options.migrationsDir ?? defaultMigrationsDir()
  const migrationsList = await readMigrationsList(migrationsDir)
  if (migrationsList.migrationDirectories.length === 0) {
    throw new Error(`no migrations found in ${migrationsDir}`)
  }

  const started = performance.now()
  const connection = migrationConnection(databaseUrl, (error) =>
    log?.warn(`migration connection to ${describeUrl(databaseUrl)}: ${error.message}`),
  )
  try {
    const engine = await openSchemaEngine(connection.factory, ({ level, message }) => {
      if (level === 'ERROR') log?.error(`schema engine: ${message}`)
      else if (level === 'WARN') log?.warn(`schema engine: ${message}`)
    })
    try {
      // Blocks on the advisory lock while another process migrates; the engine
      // gives up after its own timeout (10 s) with Prisma's P1002 message.
      const { appliedMigrationNames } = await engine.applyMigrations({ migrationsList, filters: NO_FILTER })
      const ms = Math.round(performance.now() - started)
      if (appliedMigrationNames.length > 0) {
        log?.info(`applied ${appliedMigrationNames.length} migration(s) to ${describeUrl(databaseUrl)} in ${ms} ms: ${appliedMigrationNames.join(', ')}`)
      } else {
        log?.info(`database schema at ${describeUrl(databaseUrl)} is up to date (${ms} ms)`)
      }
      return { applied: appliedMigrationNames }
    } finally {
      engine.free()
    }
  } finally {
    // Closing the session releases the advisory lock for the next process.
    await connection.close()
  }
}
