// npm run db:migration:new -- <name>
//
// Writes prisma/migrations/<UTC yyyymmddhhmmss>_<name>/migration.sql: the SQL that
// takes the schema of the newest migration (its schema.prisma.snapshot) to today's
// prisma/schema.prisma, worked out by Prisma's schema engine with no database.
// A copy of today's schema is kept beside it as the next migration's starting point.
// Review the SQL before committing; add data moves by hand where a change needs one.
//
// npm run db:migration:new -- <name> --empty
//
// An empty migration.sql to write by hand (a backfill, a view) when the schema
// itself has not changed.
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  LOCKFILE,
  LOCKFILE_CONTENT,
  MIGRATION_FILE,
  SNAPSHOT_FILE,
  listMigrationNames,
} from '../src/infra/db/migrations-dir.js'
import { diffDatamodels } from '../src/infra/db/schema-engine.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const schemaPath = join(root, 'prisma', 'schema.prisma')
const migrationsDir = join(root, 'prisma', 'migrations')

function fail(message: string): never {
  console.error(`db:migration:new: ${message}`)
  process.exit(1)
}

/** `20261122093000`, Prisma's directory prefix, kept strictly after `after`. */
function timestamp(after: string | undefined): string {
  const now = new Date().toISOString().replace(/\D/g, '').slice(0, 14)
  const last = after?.slice(0, 14)
  if (last && /^\d{14}$/.test(last) && now <= last) {
    // Same second as (or a clock behind) the newest migration: order must still hold.
    return String(BigInt(last) + 1n)
  }
  return now
}

const args = process.argv.slice(2)
const empty = args.includes('--empty')
const rawName = args.filter((arg) => arg !== '--empty').join('_')
const name = rawName
  .trim()
  .toLowerCase()
  .replace(/[^a-z0-9]+/g, '_')
  .replace(/^_+|_+$/g, '')
if (!name) fail('give the migration a name: npm run db:migration:new -- add_user_bio')
if (name.length > 180) fail('the name is too long (Prisma allows 200 characters for the whole directory name)')

const schema = await readFile(schemaPath, 'utf8')
const existing = await listMigrationNames(migrationsDir)
const previous = existing.at(-1)

let from: string | null = null
if (previous) {
  const snapshotPath = join(migrationsDir, previous, SNAPSHOT_FILE)
  if (!existsSync(snapshotPath)) {
    fail(
      `${relative(root, snapshotPath)} is missing, so the schema that migration left behind is unknown.\n` +
        `Restore it (the prisma/schema.prisma of the commit that added ${previous}) and run this again.`,
    )
  }
  from = await readFile(snapshotPath, 'utf8')
}

let sql: string | null
try {
  sql = await diffDatamodels(from, schema)
} catch (error) {
  fail(`prisma/schema.prisma could not be compared:\n${(error as Error).message}`)
}
if (empty) {
  if (sql !== null) {
    // Its snapshot would claim a schema its SQL does not produce, and the next
    // migration would silently leave those changes out.
    fail('prisma/schema.prisma has changes; write the migration for them first, then the empty one')
  }
  sql = '-- This is an empty migration.\n'
} else if (sql === null) {
  fail(`prisma/schema.prisma has no changes since ${previous ?? 'an empty database'}; nothing to write (--empty for a hand-written one)`)
}
// Diffing from nothing, the engine first creates the `public` schema. Every
// PostgreSQL database already has it, and PostgreSQL checks CREATE on the database
// before IF NOT EXISTS, so the statement would fail for a least-privilege owner on
// managed hosts (prisma/migrate#501) while adding nothing anywhere else.
sql = sql.replace(/^-- CreateSchema\nCREATE SCHEMA IF NOT EXISTS "public";\n\n/, '')

const dirName = `${timestamp(previous)}_${name}`
const dir = join(migrationsDir, dirName)
await mkdir(dir, { recursive: true })
if (!existsSync(join(migrationsDir, LOCKFILE))) await writeFile(join(migrationsDir, LOCKFILE), LOCKFILE_CONTENT)
await writeFile(join(dir, MIGRATION_FILE), sql)
await writeFile(join(dir, SNAPSHOT_FILE), schema)

console.log(`wrote ${relative(root, join(dir, MIGRATION_FILE))}`)
console.log(
  empty
    ? 'write its SQL, then `npm run db:migrate` to apply it'
    : 'review it, then `npm run db:migrate` to apply it and `npm run db:generate` to refresh the client',
)
