// npm run db:migrate: applies prisma/migrations to DATABASE_URL (environment or
// .env), recording them as `prisma migrate deploy` does. The server does the same
// at start-up except when NODE_ENV=production, where this is the deploy step.
import 'dotenv/config'
import { applyMigrations } from '../src/infra/db/migrate.js'
import { describeUrl } from '../src/infra/db/url.js'

const url = process.env.DATABASE_URL?.trim()
if (!url) {
  console.error(
    'db:migrate: DATABASE_URL is not set (environment or .env).\n' +
      'Set it to the PostgreSQL database to migrate, e.g. postgresql://user:password@host:5432/passport.\n' +
      '(Without DATABASE_URL the server uses its embedded database and migrates that by itself.)',
  )
  process.exit(1)
}

const log = {
  info: (message: string) => console.log(message),
  warn: (message: string) => console.warn(`warning: ${message}`),
  error: (message: string) => console.error(`error: ${message}`),
}

try {
  await applyMigrations(url, log)
} catch (error) {
  console.error(`db:migrate: migrating ${describeUrl(url)} failed:\n${(error as Error).message}`)
  process.exit(1)
}
