import { z } from 'zod'

// One schema for the whole environment; `Config` is derived from it so code and
// validation cannot drift. Every name and default here is part of the contract
// (../shared/contract/README.md) or documented in .env.example.

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce.number().int().min(min).max(max)

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'])
  .transform((v) => v === 'true' || v === '1' || v === 'yes' || v === 'on')

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()))

const regionList = z
  .string()
  .transform((v) => v.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean))
  .pipe(z.array(z.string().regex(/^[A-Z]{2}$/, 'two-letter region codes separated by commas')).min(1))

// `+8613800000000=123456,…`: numbers that get a fixed code and are never delivered to.
const testCodes = z
  .string()
  .optional()
  .transform((v, ctx) => {
    const map = new Map<string, string>()
    if (!v || !v.trim()) return map
    for (const pair of v.split(',')) {
      const [mobile, code, ...rest] = pair.split('=').map((s) => s.trim())
      if (!mobile || !code || rest.length > 0 || !/^\+\d{6,15}$/.test(mobile) || !/^\d{6}$/.test(code)) {
        ctx.addIssue({ code: 'custom', message: `expected +<E.164 number>=<6 digits>, got "${pair.trim()}"` })
        return z.NEVER
      }
      map.set(mobile, code)
    }
    return map
  })

const url = (protocols: string[]) =>
  optionalString.refine(
    (v) => {
      if (v === undefined) return true
      try {
        return protocols.includes(new URL(v).protocol)
      } catch {
        return false
      }
    },
    { message: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
  )

// The fields a client address may execute a limited number of times per minute.
export const budgetedFields = [
  'checkMobile',
  'requestImageCaptcha',
  'sendSmsCode',
  'register',
  'login',
  'refreshToken',
  'resetPassword',
  'changePassword',
] as const
export type BudgetedField = (typeof budgetedFields)[number]
const defaultBudgets = 'checkMobile=30,requestImageCaptcha=30,sendSmsCode=10,register=10,login=20,refreshToken=60,resetPassword=10,changePassword=10'

// `field=count,…`; fields left out keep their default.
const budgets = z.string().default('').transform((v, ctx) => {
  const map = new Map<BudgetedField, number>()
  for (const pair of `${defaultBudgets},${v}`.split(',')) {
    if (!pair.trim()) continue
    const [name, count, ...rest] = pair.split('=').map((s) => s.trim())
    if (!budgetedFields.includes(name as BudgetedField) || rest.length > 0 || !/^\d+$/.test(count ?? '') || Number(count) < 1) {
      ctx.addIssue({ code: 'custom', message: `expected field=count with a field of ${budgetedFields.join(', ')}, got "${pair.trim()}"` })
      return z.NEVER
    }
    map.set(name as BudgetedField, Number(count))
  }
  return map
})

export const configSchema = z
  .object({
    NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
    HOST: z.string().min(1).default('127.0.0.1'),
    PORT: int(0, 65535).default(3000),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    TRUST_PROXY: bool.default(false),

    DATABASE_URL: url(['postgresql:', 'postgres:']),
    REDIS_URL: url(['redis:', 'rediss:']),
    REDIS_CLUSTER: bool.default(false),
    REDIS_KEY_PREFIX: z.string().max(64).default('pg:'),
    DATA_DIR: z.string().min(1).default('./data'),

    JWT_SECRET: optionalString.refine((v) => v === undefined || v.length >= 32, {
      message: 'must be at least 32 characters',
    }),

    DEFAULT_REGION: z
      .string()
      .transform((v) => v.trim().toUpperCase())
      .pipe(z.string().regex(/^[A-Z]{2}$/, 'a two-letter region code such as CN'))
      .default('CN'),

    CAPTCHA_TTL_SECONDS: int(1, 86_400).default(300),
    CAPTCHA_FIXED_TEXT: optionalString.refine((v) => v === undefined || /^[A-Za-z0-9]{1,12}$/.test(v), {
      message: '1 to 12 letters or digits',
    }),

    SMS_CODE_TTL_SECONDS: int(1, 86_400).default(300),
    SMS_CODE_MAX_ATTEMPTS: int(1, 100).default(5),
    SMS_RESEND_SECONDS: int(0, 86_400).default(60),
    SMS_HOURLY_LIMIT: int(1).default(5),
    SMS_DAILY_LIMIT: int(1).default(10),
    SMS_IP_HOURLY_LIMIT: int(1).default(20),
    SMS_ALLOWED_REGIONS: regionList.default(['CN']),
    SMS_PROVIDER: z.enum(['log', 'file', 'webhook', 'aliyun']).default('log'),
    SMS_TIMEOUT_MS: int(1, 120_000).default(5000),
    SMS_OUTBOX_FILE: optionalString,
    SMS_WEBHOOK_URL: url(['http:', 'https:']),
    SMS_WEBHOOK_SECRET: optionalString,
    SMS_TEST_CODES: testCodes,
    ALIYUN_ACCESS_KEY_ID: optionalString,
    ALIYUN_ACCESS_KEY_SECRET: optionalString,
    ALIYUN_SMS_SIGN_NAME: optionalString,
    ALIYUN_SMS_TEMPLATE_CODE: optionalString,
    ALIYUN_SMS_ENDPOINT: z.string().min(1).default('dysmsapi.aliyuncs.com'),

    CLIENT_RATE_LIMITS: z.enum(['on', 'off']).default('on'),
    // Requests per client address per minute on /graphql, whatever they contain.
    CLIENT_REQUESTS_PER_MINUTE: int(1).default(300),
    // Executions of each field per client address per minute, counted per executed field.
    CLIENT_OPERATION_BUDGETS: budgets,

    SMS_GLOBAL_PER_MINUTE_LIMIT: int(1).default(120),
    SMS_GLOBAL_DAILY_LIMIT: int(1).default(10_000),
    SMS_PREFIX_HOURLY_LIMIT: int(1).default(20),
    SMS_PREFIX_BLOCK_DIGITS: int(1, 8).default(4),

    GRAPHQL_MAX_ALIASES: int(0).default(10),
    GRAPHQL_MAX_ROOT_MUTATIONS: int(1).default(1),
    GRAPHQL_MAX_ROOT_FIELDS: int(1).default(10),
    GRAPHQL_MAX_DEPTH: int(1).default(8),
    GRAPHQL_MAX_DIRECTIVES: int(0).default(10),
    GRAPHQL_MAX_TOKENS: int(50).default(1000),
    BODY_LIMIT_BYTES: int(1024).default(64 * 1024),
    CORS_ORIGINS: z
      .string()
      .default('')
      .transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean))
      .pipe(z.array(z.string().regex(/^https?:\/\/[^/\s]+$/, 'origins like https://app.example.com, comma-separated'))),

    BCRYPT_COST: int(4, 15).default(12),
    // Hashes run on worker threads of their own, at most this many at once (0: one per core)…
    BCRYPT_THREADS: int(0, 64).default(0),
    // …at this nice value (0-19), so a login storm takes only the CPU other requests leave.
    BCRYPT_NICE: int(0, 19).default(10),
    LOGIN_CAPTCHA_AFTER_FAILURES: int(1).default(3),
    LOGIN_LOCK_AFTER_FAILURES: int(1).default(10),
    LOGIN_LOCK_SECONDS: int(1).default(900),
    LOGIN_FAILURE_WINDOW_SECONDS: int(60).default(86_400),

    ACCESS_TOKEN_TTL_SECONDS: int(10, 86_400).default(900),
    REFRESH_TOKEN_TTL_SECONDS: int(60).default(2_592_000),
    REFRESH_REUSE_GRACE_SECONDS: int(0, 300).default(10),
    JWT_ISSUER: z.string().min(1).default('passport-gateway'),
    JWT_AUDIENCE: z.string().min(1).default('passport-gateway'),
  })
  .superRefine((c, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message })
    if (c.NODE_ENV === 'production') {
      for (const name of ['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET'] as const) {
        if (!c[name]) issue(name, 'is required when NODE_ENV=production')
      }
      if (c.CAPTCHA_FIXED_TEXT) issue('CAPTCHA_FIXED_TEXT', 'is a test knob and refused when NODE_ENV=production')
      if (c.SMS_TEST_CODES.size > 0) issue('SMS_TEST_CODES', 'is a test knob and refused when NODE_ENV=production')
      if (c.SMS_PROVIDER === 'log' || c.SMS_PROVIDER === 'file') {
        issue('SMS_PROVIDER', `"${c.SMS_PROVIDER}" is a test knob and refused when NODE_ENV=production`)
      }
      if (c.CLIENT_RATE_LIMITS === 'off') issue('CLIENT_RATE_LIMITS', 'is a test knob and refused when NODE_ENV=production')
    }
    if (c.SMS_PROVIDER === 'file' && !c.SMS_OUTBOX_FILE) issue('SMS_OUTBOX_FILE', 'is required when SMS_PROVIDER=file')
    if (c.SMS_PROVIDER === 'webhook') {
      if (!c.SMS_WEBHOOK_URL) issue('SMS_WEBHOOK_URL', 'is required when SMS_PROVIDER=webhook')
      if (!c.SMS_WEBHOOK_SECRET) issue('SMS_WEBHOOK_SECRET', 'is required when SMS_PROVIDER=webhook')
    }
    if (c.SMS_PROVIDER === 'aliyun') {
      for (const name of [
        'ALIYUN_ACCESS_KEY_ID',
        'ALIYUN_ACCESS_KEY_SECRET',
        'ALIYUN_SMS_SIGN_NAME',
        'ALIYUN_SMS_TEMPLATE_CODE',
      ] as const) {
        if (!c[name]) issue(name, 'is required when SMS_PROVIDER=aliyun')
      }
    }
    if (c.LOGIN_LOCK_AFTER_FAILURES < c.LOGIN_CAPTCHA_AFTER_FAILURES) {
      issue('LOGIN_LOCK_AFTER_FAILURES', 'must not be below LOGIN_CAPTCHA_AFTER_FAILURES')
    }
    if (c.SMS_DAILY_LIMIT < c.SMS_HOURLY_LIMIT) issue('SMS_DAILY_LIMIT', 'must not be below SMS_HOURLY_LIMIT')
    if (c.REDIS_CLUSTER && !c.REDIS_URL) issue('REDIS_CLUSTER', 'needs REDIS_URL (one or more seed nodes)')
  })

export type Config = z.output<typeof configSchema>

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/**
 * Reads and validates the environment. A bad value stops start-up with a message
 * that names the variable; values themselves are not echoed, since some are secrets.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Empty strings mean "unset", so that `FOO=` in a .env file falls back to the default.
  const cleaned: Record<string, string> = {}
  for (const [key, value] of Object.entries(env)) {
    if (value !== undefined && value !== '') cleaned[key] = value
  }
  const result = configSchema.safeParse(cleaned)
  if (!result.success) {
    const lines = result.error.issues.map((i) => `  ${i.path.join('.') || '(environment)'}: ${i.message}`)
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`)
  }
  return result.data
}
