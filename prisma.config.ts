import 'dotenv/config'
import { defineConfig } from 'prisma/config'

// For operators and developers using the Prisma CLI (`prisma migrate deploy`,
// `prisma migrate status`, `prisma studio`). The service itself migrates through
// src/infra/db/migrate.ts and never reads this file.
//
// `process.env` rather than `env()` from prisma/config: `env()` throws when the
// variable is unset, and `prisma generate` (the postinstall) loads this file too,
// on machines that have no database at all.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? '' },
})
