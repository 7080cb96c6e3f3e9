import { randomInt, randomUUID } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import { buildApp, type AppOverrides } from '../../src/app.js'
import { loadConfig, type Config } from '../../src/config.js'
import { createTestDatabase } from './database.js'
import { testRedisUrl } from './backends.js'
import { createFakeClock, type FakeClock } from './clock.js'

export type Backend = 'real' | 'embedded'

/**
 * Which backends the integration suites run on: both by default (real PostgreSQL +
 * Redis, then the embedded defaults); TEST_BACKENDS=real or =embedded narrows it.
 */
export const backends: Backend[] = (process.env.TEST_BACKENDS ?? 'real,embedded')
  .split(',')
  .map((s) => s.trim())
  .filter((s): s is Backend => s === 'real' || s === 'embedded')

export const FIXED_CAPTCHA = 'AbCd'

export interface TestApp {
  app: FastifyInstance
  config: Config
  clock: FakeClock
  backend: Backend
  /** every log line the app wrote, raw */
  logs: string[]
  gql<T = any>(
    query: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: { data?: T; errors?: { message: string; path?: (string | number)[]; extensions: Record<string, any> }[] } }>
  /** the last code the file outbox received for a number */
  lastCode(e164: string, purpose?: string): Promise<string | undefined>
  outbox(): Promise<{ mobile: string; purpose: string; code: string; sentAt: string }[]>
  /** a solved captcha */
  captcha(): Promise<{ captchaId: string; captchaText: string }>
  close(): Promise<void>
}

/** A mobile number no other test uses: 139 + 8 random digits, in local form. */
export const freshMobile = () => `139${String(randomInt(0, 100_000_000)).padStart(8, '0')}`
export const e164 = (local: string) => `+86${local}`

interface Shared {
  databaseUrl?: string
  dataDir?: string
  drop?: () => Promise<void>
}

/**
 * Builds the real app the server runs, on `backend`, with the test knobs every suite uses
 * (file outbox, fixed captcha, no client rate limits) and `env` on top.
 * A real database is made per call unless `shared` passes one in.
 */
export async function buildTestApp(
  backend: Backend,
  env: Record<string, string> = {},
  overrides: AppOverrides & { shared?: Shared } = {},
): Promise<TestApp> {
  const dir = await mkdtemp(join(tmpdir(), 'pg-test-'))
  const outboxFile = join(dir, 'outbox.jsonl')
  let dropDb: (() => Promise<void>) | undefined
  let databaseUrl = overrides.shared?.databaseUrl
  if (backend === 'real' && !databaseUrl) {
    const db = await createTestDatabase()
    databaseUrl = db.url
    dropDb = db.drop
  }
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'info',
    DATA_DIR: overrides.shared?.dataDir ?? join(dir, 'data'),
    SMS_PROVIDER: 'file',
    SMS_OUTBOX_FILE: outboxFile,
    CAPTCHA_FIXED_TEXT: FIXED_CAPTCHA,
    CLIENT_RATE_LIMITS: 'off',
    BCRYPT_COST: '4',
    ...(backend === 'real'
      ? { DATABASE_URL: databaseUrl, REDIS_URL: testRedisUrl, REDIS_KEY_PREFIX: `test:${randomUUID()}:` }
      : {}),
    ...env,
  })
  const logs: string[] = []
  const logStream = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk))
      cb()
    },
  })
  const clock = createFakeClock()
  const { shared: _shared, ...appOverrides } = overrides
  const app = await buildApp(config, { clock, logStream, ...appOverrides })

  const outbox = async () => {
    try {
      const text = await readFile(outboxFile, 'utf8')
      return text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
    } catch {
      return []
    }
  }

  const gql: TestApp['gql'] = async (query, variables, headers) => {
    const res = await app.inject({ method: 'POST', url: '/graphql', payload: { query, variables }, headers })
    return { status: res.statusCode, body: res.json() }
  }

  return {
    app,
    config,
    clock,
    backend,
    logs,
    gql,
    outbox,
    async lastCode(mobile, purpose) {
      const rows = (await outbox()).filter((r) => r.mobile === mobile && (!purpose || r.purpose === purpose))
      return rows.at(-1)?.code
    },
    async captcha() {
      const res = await gql<{ requestImageCaptcha: { id: string } }>('mutation { requestImageCaptcha { id } }')
      return { captchaId: res.body.data!.requestImageCaptcha.id, captchaText: FIXED_CAPTCHA }
    },
    async close() {
      await app.close()
      await dropDb?.()
      await rm(dir, { recursive: true, force: true })
    },
  }
}

export const SEND_SMS = `mutation Send($input: SendSmsCodeInput!) {
  sendSmsCode(input: $input) { mobile expiresAt resendAfter }
}`

export const CHECK_MOBILE = `query Check($mobile: String!) { checkMobile(mobile: $mobile) { mobile registered } }`
