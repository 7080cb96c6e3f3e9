import type { FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import type { Config } from '../../config.js'
import type { PrismaClient } from '../../generated/prisma/client.js'
import { createDatabase } from './database.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Prisma Client over PostgreSQL (DATABASE_URL, or the embedded PGlite). */
    db: PrismaClient
    /** `SELECT 1` answered within about a second; never throws. For readiness checks. */
    dbHealthy(): Promise<boolean>
  }
}

export interface DbPluginOptions {
  config: Config
}

const plugin: FastifyPluginAsync<DbPluginOptions> = async (fastify, { config }) => {
  const database = await createDatabase(config, fastify.log)
  fastify.decorate('db', database.prisma)
  fastify.decorate('dbHealthy', () => database.healthy())
  fastify.addHook('onClose', async () => {
    await database.close()
  })
}

/** Registers `fastify.db` and `fastify.dbHealthy`; closes both in onClose. */
export const dbPlugin = fp(plugin, { name: 'db', fastify: '5.x' })
export default dbPlugin

export { createDatabase, type Database } from './database.js'
export { applyMigrations, type DbLog } from './migrate.js'
export { startEmbeddedPostgres, type EmbeddedDatabase } from './embedded.js'
export { describeUrl } from './url.js'
