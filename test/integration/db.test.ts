import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { PrismaPg } from '@prisma/adapter-pg'
import Fastify from 'fastify'
import pg from 'pg'
import { loadConfig } from '../../src/config.js'
import { PrismaClient } from '../../src/generated/prisma/client.js'
import { dbPlugin } from '../../src/infra/db/index.js'
import { startEmbeddedPostgres } from '../../src/infra/db/embedded.js'
import { applyMigrations, type DbLog } from '../../src/infra/db/migrate.js'
import {
  LOCKFILE,
  LOCKFILE_CONTENT,
  SNAPSHOT_FILE,
  defaultMigrationsDir,
  listMigrationNames,
} from '../../src/infra/db/migrations-dir.js'
import { diffDatamodels } from '../../src/infra/db/schema-engine.js'
import { createTestDatabase, withClient } from '../helpers/database.js'

const root = fileURLToPath(new URL('../../', import.meta.url))
const migrationsDir = defaultMigrationsDir()
const PRISMA_MIGRATE_LOCK = 72707369

function recordingLog(): DbLog & { lines: string[] } {
  const lines: string[] = []
  return {
    lines,
    info: (m) => lines.push(`info ${m}`),
    warn: (m) => lines.push(`warn ${m}`),
    error: (m) => lines.push(`error ${m}`),
  }
}


interface MigrationRow {
  id: string
  checksum: string
  finished_at: Date | null
  migration_name: string
  logs: string | null
  rolled_back_at: Date | null
  applied_steps_count: number
}

const migrationRows = (url: string) =>
  withClient(url, async (c) => (await c.query<MigrationRow>('SELECT * FROM _prisma_migrations ORDER BY started_at')).rows)

async function tempDir(t: Test, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

const names = await listMigrationNames(migrationsDir)

t.test('prisma/schema.prisma has no change that lacks a migration', async (t) => {
  const latest = names.at(-1)
  t.ok(latest, 'there is a migration')
  const snapshot = await readFile(join(migrationsDir, latest!, SNAPSHOT_FILE), 'utf8')
  const schema = await readFile(join(root, 'prisma', 'schema.prisma'), 'utf8')
  t.equal(await diffDatamodels(snapshot, schema), null, 'run `npm run db:migration:new -- <name>` after changing the schema')
})

t.test('real PostgreSQL: migrations are recorded as `prisma migrate deploy` records them', async (t) => {
  const db = await createTestDatabase({ migrate: false })
  t.teardown(db.drop)
  const withPassword = new URL(db.url)
  withPassword.password = 'not-for-logs' // trust auth ignores it; the log must too
  const log = recordingLog()

  const first = await applyMigrations(withPassword.toString(), log)
  t.same(first.applied, names, 'every migration, in directory order')

  const rows = await migrationRows(db.url)
  t.same(
    rows.map((r) => r.migration_name),
    names,
  )
  for (const row of rows) {
    const sql = await readFile(join(migrationsDir, row.migration_name, 'migration.sql'))
    t.equal(row.checksum, createHash('sha256').update(sql).digest('hex'), `${row.migration_name}: checksum`)
    t.ok(row.finished_at instanceof Date, `${row.migration_name}: finished`)
    t.equal(row.rolled_back_at, null)
    t.equal(row.logs, null)
    t.equal(row.applied_steps_count, 1)
    t.match(row.id, /^[0-9a-f-]{36}$/)
  }

  const second = await applyMigrations(db.url, log)
  t.same(second.applied, [], 'a second run applies nothing')
  t.equal((await migrationRows(db.url)).length, names.length)

  const columns = await withClient(db.url, async (c) =>
    (
      await c.query<{ table_name: string; column_name: string; data_type: string; datetime_precision: number }>(
        `SELECT table_name, column_name, data_type, datetime_precision FROM information_schema.columns
         WHERE table_schema = 'public' AND table_name IN ('users', 'sessions') AND data_type LIKE 'timestamp%'`,
      )
    ).rows,
  )
  t.ok(columns.length >= 10)
  t.ok(
    columns.every((c) => c.data_type === 'timestamp with time zone' && c.datetime_precision === 3),
    'every DateTime is timestamptz(3)',
  )
  t.notOk(log.lines.some((l) => l.includes('not-for-logs')), 'no password in the log')
  t.ok(log.lines.some((l) => l.includes('up to date')))
})

t.test('real PostgreSQL: a migration script runs whole and all-or-nothing', async (t) => {
  const dir = await tempDir(t, 'pg-migrations-')
  await writeFile(join(dir, LOCKFILE), LOCKFILE_CONTENT)
  const write = async (name: string, sql: string) => {
    await mkdir(join(dir, name))
    await writeFile(join(dir, name, 'migration.sql'), sql)
  }
  // Semicolons inside a function body, a literal and a comment: split on `;`, as
  // adapter-pg 7.10's executeScript does, this script breaks.
  await write(
    '20000101000000_whole',
    `CREATE TABLE notes (body TEXT NOT NULL DEFAULT 'a; b');
-- a comment; with a semicolon
CREATE FUNCTION shout(t TEXT) RETURNS TEXT LANGUAGE plpgsql AS $$
BEGIN
  RETURN upper(t);
END;
$$;
`,
  )
  const db = await createTestDatabase({ migrate: false })
  t.teardown(db.drop)
  t.same((await applyMigrations(db.url, undefined, { migrationsDir: dir })).applied, ['20000101000000_whole'])
  t.equal(
    await withClient(db.url, async (c) => (await c.query<{ v: string }>(`SELECT shout('x; y') AS v`)).rows[0]!.v),
    'X; Y',
  )

  await write('20000102000000_broken', 'CREATE TABLE half_done (id INT);\nSELECT no_such_function();\n')
  await t.rejects(applyMigrations(db.url, undefined, { migrationsDir: dir }), /no_such_function/)
  const halfDone = await withClient(db.url, async (c) => (await c.query(`SELECT to_regclass('half_done') AS t`)).rows[0].t)
  t.equal(halfDone, null, 'the failed script left nothing behind')
  const failed = (await migrationRows(db.url)).find((r) => r.migration_name === '20000102000000_broken')
  t.equal(failed?.finished_at, null, 'recorded as failed, for `prisma migrate resolve`')
})

t.test('real PostgreSQL: two processes migrating one fresh database at once', async (t) => {
  const db = await createTestDatabase({ migrate: false })
  t.teardown(db.drop)

  // Hold Prisma Migrate's lock so that both runs are provably waiting on it, then let go.
  const holder = new pg.Client({ connectionString: db.url })
  await holder.connect()
  await holder.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATE_LOCK])
  t.teardown(() => holder.end().catch(() => {}))

  const inProcess = applyMigrations(db.url)
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/db-migrate.ts'], {
    cwd: root,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, DATABASE_URL: db.url },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk) => (output += chunk))
  child.stderr.on('data', (chunk) => (output += chunk))
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))

  const waiting = async () =>
    Number(
      (
        await holder.query(
          `SELECT count(*) AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database
           WHERE l.locktype = 'advisory' AND l.objid = $1 AND NOT l.granted AND d.datname = $2`,
          [PRISMA_MIGRATE_LOCK, db.name],
        )
      ).rows[0].n,
    )
  const deadline = Date.now() + 8000
  while ((await waiting()) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
  t.equal(await waiting(), 2, 'both runs wait on pg_advisory_lock(72707369)')
  await holder.end()

  const [result, code] = await Promise.all([inProcess, exited])
  t.equal(code, 0, `the other process succeeded: ${output.trim()}`)
  const childApplied = /applied \d+ migration/.test(output)
  t.ok((result.applied.length === names.length) !== childApplied, 'exactly one of them applied the migrations')
  t.same(
    (await migrationRows(db.url)).map((r) => r.migration_name),
    names,
    'each migration recorded once',
  )
})

t.test('embedded: PGlite under DATA_DIR migrates and keeps its data across restarts', async (t) => {
  const dataDir = join(await tempDir(t, 'pg-embedded-'), 'data', 'pglite')

  let started = performance.now()
  const first = await startEmbeddedPostgres({ dataDir })
  const firstStartMs = performance.now() - started
  t.teardown(() => first.close())
  t.match(first.url, /^postgresql:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/)
  started = performance.now()
  t.same((await applyMigrations(first.url)).applied, names)
  const migrateMs = performance.now() - started
  const rows = await migrationRows(first.url)
  const sql = await readFile(join(migrationsDir, names[0]!, 'migration.sql'))
  t.equal(rows[0]?.checksum, createHash('sha256').update(sql).digest('hex'))

  const mobile = '+8613800138000'
  let prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: first.url }) })
  const created = await prisma.user.create({ data: { mobile, nickname: 'first' } })
  t.equal(created.status, 'ACTIVE')
  t.match(created.id, /^[0-9a-f-]{36}$/)
  await prisma.$disconnect()

  await t.rejects(startEmbeddedPostgres({ dataDir }), /in use by process/, 'one server per data directory')
  await first.close()
  t.notOk(existsSync(`${dataDir}.lock`), 'the lock is released on close')

  started = performance.now()
  const second = await startEmbeddedPostgres({ dataDir })
  const restartMs = performance.now() - started
  t.teardown(() => second.close())
  t.same((await applyMigrations(second.url)).applied, [], 'nothing to apply after a restart')
  prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: second.url }) })
  t.teardown(() => prisma.$disconnect())
  const found = await prisma.user.findUnique({ where: { mobile } })
  t.equal(found?.id, created.id, 'the user survived close and restart')
  t.comment(
    `embedded: first start ${Math.round(firstStartMs)} ms, migrate ${Math.round(migrateMs)} ms, restart ${Math.round(restartMs)} ms`,
  )
})

t.test('db plugin: embedded by default, decorates db and dbHealthy, closes everything', async (t) => {
  const dataDir = join(await tempDir(t, 'pg-plugin-'), 'data')
  const app = Fastify({ logger: false })
  await app.register(dbPlugin, { config: loadConfig({ NODE_ENV: 'test', DATA_DIR: dataDir }) })
  await app.ready()
  t.ok(app.hasDecorator('db') && app.hasDecorator('dbHealthy'))
  t.equal(await app.db.user.count(), 0)
  t.equal(await app.dbHealthy(), true)
  t.ok(existsSync(join(dataDir, 'pglite', 'PG_VERSION')), 'PGlite keeps its files in <DATA_DIR>/pglite')
  await app.close()
  t.notOk(existsSync(join(dataDir, 'pglite.lock')), 'the embedded database was closed with the app')
})

t.test('dbHealthy answers false, promptly, once the database is gone', async (t) => {
  t.test('embedded server stopped', async (t) => {
    const embedded = await startEmbeddedPostgres({ dataDir: join(await tempDir(t, 'pg-gone-'), 'pglite') })
    t.teardown(() => embedded.close())
    const app = Fastify({ logger: false })
    await app.register(dbPlugin, { config: loadConfig({ NODE_ENV: 'test', DATABASE_URL: embedded.url }) })
    await app.ready()
    t.teardown(() => app.close())
    t.equal(await app.dbHealthy(), true)
    await embedded.close()
    const started = performance.now()
    t.equal(await app.dbHealthy(), false)
    t.ok(performance.now() - started < 1500, 'within about a second')
  })

  t.test('real database dropped', async (t) => {
    const db = await createTestDatabase()
    t.teardown(db.drop)
    const app = Fastify({ logger: false })
    await app.register(dbPlugin, { config: loadConfig({ NODE_ENV: 'test', DATABASE_URL: db.url }) })
    await app.ready()
    t.teardown(() => app.close())
    t.equal(await app.dbHealthy(), true)
    await db.drop()
    const started = performance.now()
    t.equal(await app.dbHealthy(), false)
    t.ok(performance.now() - started < 1500, 'within about a second')
  })
})
