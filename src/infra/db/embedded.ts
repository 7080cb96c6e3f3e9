import { mkdir, open, readFile, rm } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { PGLiteSocketServer } from '@electric-sql/pglite-socket'
import type { DbLog } from './migrate.js'

// Without DATABASE_URL the service runs on PGlite (PostgreSQL compiled to
// WebAssembly, in this process) served over the PostgreSQL wire protocol on a
// loopback port. Everything else talks to it through that URL exactly as it talks
// to a real server: same adapter, same migrations, same SQL.

export interface EmbeddedDatabase {
  /** postgresql://postgres@127.0.0.1:<port>/postgres */
  url: string
  dataDir: string
  /** Stops serving, shuts PGlite down cleanly and releases the data directory. */
  close(): Promise<void>
}

export interface EmbeddedOptions {
  /** Where PGlite keeps its files, e.g. `<DATA_DIR>/pglite`; created if missing. */
  dataDir: string
  log?: DbLog
  /**
   * Client connections served at once. PGlite runs one query at a time and the
   * socket server multiplexes connections onto it; the default of 1 would turn a
   * pool's second connection away. Enough for Prisma's pool plus migrations.
   */
  maxConnections?: number
}

export async function startEmbeddedPostgres(options: EmbeddedOptions): Promise<EmbeddedDatabase> {
  const dataDir = resolve(options.dataDir)
  await mkdir(dataDir, { recursive: true })
  const releaseLock = await lockDataDir(dataDir)

  let db: PGlite | undefined
  let server: PGLiteSocketServer | undefined
  try {
    const started = performance.now()
    db = await PGlite.create(dataDir)
    server = new PGLiteSocketServer({
      db,
      host: '127.0.0.1',
      port: 0, // the OS picks a free port; nothing outside this process needs it
      maxConnections: options.maxConnections ?? 32,
    })
    await server.start()
    // `host:port`, with the port the OS assigned.
    const port = Number(server.getServerConn().split(':').pop())
    if (!Number.isInteger(port) || port <= 0) throw new Error(`unexpected PGlite address ${server.getServerConn()}`)
    const url = `postgresql://postgres@127.0.0.1:${port}/postgres`
    options.log?.info(
      `embedded PostgreSQL (PGlite) on 127.0.0.1:${port}, data in ${dataDir}, ready in ${Math.round(performance.now() - started)} ms`,
    )

    const running = { db, server }
    let closing: Promise<void> | undefined
    return {
      url,
      dataDir,
      close: () =>
        (closing ??= (async () => {
          try {
            await running.server.stop()
            // stop() detaches connections without waiting for their rollbacks.
            await new Promise((resolve) => setImmediate(resolve))
          } finally {
            try {
              if (!running.db.closed) await running.db.close()
            } finally {
              await releaseLock()
            }
          }
        })()),
    }
  } catch (error) {
    await server?.stop().catch(() => {})
    if (db && !db.closed) await db.close().catch(() => {})
    await releaseLock()
    throw error
  }
}

/**
 * PGlite has no postmaster to refuse a second server on the same files, and two
 * processes writing one data directory corrupt it. A lock file beside it, holding
 * the owner's pid, stands in; one left by a process that died is taken over.
 */
async function lockDataDir(dataDir: string): Promise<() => Promise<void>> {
  const lockPath = join(dirname(dataDir), `${dataDir.split(/[\\/]/).pop()}.lock`)
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(lockPath, 'wx')
      await handle.writeFile(`${process.pid}\n`)
      await handle.close()
      let released = false
      return async () => {
        if (released) return
        released = true
        await rm(lockPath, { force: true })
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
      const owner = Number.parseInt(await readFile(lockPath, 'utf8').catch(() => ''), 10)
      if (Number.isInteger(owner) && owner > 0 && isAlive(owner)) {
        throw new Error(
          `the embedded database in ${dataDir} is in use by process ${owner}` +
            (owner === process.pid ? ' (this one)' : '') +
            `; stop it, or remove ${lockPath} if that process is not this service`,
        )
      }
      await rm(lockPath, { force: true })
    }
  }
  throw new Error(`could not lock ${dataDir}`)
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM'
  }
}
