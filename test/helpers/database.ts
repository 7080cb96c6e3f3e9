import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { applyMigrations } from '../../src/infra/db/migrate.js'

/** A superuser connection to the machine's PostgreSQL; databases are made and dropped through it. */
export const testDatabaseAdminUrl =
  process.env.TEST_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'

export interface TestDatabase {
  url: string
  name: string
  /** Drops the database, ending any session still on it. Idempotent. */
  drop(): Promise<void>
}

/** One connection to `url` for the length of `run`. */
export async function withClient<T>(url: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await run(client)
  } finally {
    await client.end()
  }
}

const admin = <T>(run: (client: pg.Client) => Promise<T>) => withClient(testDatabaseAdminUrl, run)

/**
 * A database of its own for one test, migrated like production unless
 * `migrate: false`. Test files run in parallel processes, so the name carries the
 * pid and random bytes; the `passport_test_` prefix makes leftovers of a killed
 * run easy to find and drop.
 */
export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = `passport_test_${process.pid}_${randomBytes(6).toString('hex')}`
  await admin((client) => client.query(`CREATE DATABASE "${name}"`))
  const url = new URL(testDatabaseAdminUrl)
  url.pathname = `/${name}`

  let dropped: Promise<void> | undefined
  const drop = () =>
    (dropped ??= admin(async (client) => {
      await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
    }))

  if (options.migrate ?? true) {
    try {
      await applyMigrations(url.toString())
    } catch (error) {
      await drop()
      throw error
    }
  }
  return { url: url.toString(), name, drop }
}
