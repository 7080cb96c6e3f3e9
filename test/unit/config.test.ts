import t from 'tap'
import { ConfigError, loadConfig } from '../../src/config.js'

t.test('defaults are the contract defaults', async (t) => {
  const c = loadConfig({})
  t.match(c, {
    NODE_ENV: 'development',
    HOST: '127.0.0.1',
    PORT: 3000,
    DATA_DIR: './data',
    DEFAULT_REGION: 'CN',
    CAPTCHA_TTL_SECONDS: 300,
    SMS_CODE_TTL_SECONDS: 300,
    SMS_CODE_MAX_ATTEMPTS: 5,
    SMS_RESEND_SECONDS: 60,
    SMS_HOURLY_LIMIT: 5,
    SMS_DAILY_LIMIT: 10,
    SMS_IP_HOURLY_LIMIT: 20,
    SMS_ALLOWED_REGIONS: ['CN'],
    SMS_PROVIDER: 'log',
    SMS_TIMEOUT_MS: 5000,
    BCRYPT_COST: 12,
    LOGIN_CAPTCHA_AFTER_FAILURES: 3,
    LOGIN_LOCK_AFTER_FAILURES: 10,
    LOGIN_LOCK_SECONDS: 900,
    ACCESS_TOKEN_TTL_SECONDS: 900,
    REFRESH_TOKEN_TTL_SECONDS: 2592000,
    REFRESH_REUSE_GRACE_SECONDS: 10,
    CLIENT_RATE_LIMITS: 'on',
    ALIYUN_SMS_ENDPOINT: 'dysmsapi.aliyuncs.com',
  })
  t.equal(c.DATABASE_URL, undefined)
  t.equal(c.REDIS_URL, undefined)
  t.equal(c.SMS_TEST_CODES.size, 0)
})

t.test('empty values mean unset', async (t) => {
  t.equal(loadConfig({ DATABASE_URL: '', PORT: '' }).PORT, 3000)
})

t.test('a bad value names the variable and does not echo secrets', async (t) => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ PORT: 'eighty' }, /PORT/],
    [{ PORT: '70000' }, /PORT/],
    [{ SMS_HOURLY_LIMIT: '0' }, /SMS_HOURLY_LIMIT/],
    [{ DATABASE_URL: 'mysql://x' }, /DATABASE_URL/],
    [{ REDIS_URL: 'not a url' }, /REDIS_URL/],
    [{ SMS_PROVIDER: 'carrier-pigeon' }, /SMS_PROVIDER/],
    [{ SMS_ALLOWED_REGIONS: 'China' }, /SMS_ALLOWED_REGIONS/],
    [{ DEFAULT_REGION: 'CHN' }, /DEFAULT_REGION/],
    [{ SMS_TEST_CODES: '+8613800000000=12' }, /SMS_TEST_CODES/],
    [{ SMS_PROVIDER: 'file' }, /SMS_OUTBOX_FILE/],
    [{ SMS_PROVIDER: 'webhook' }, /SMS_WEBHOOK_URL/],
    [{ SMS_PROVIDER: 'aliyun' }, /ALIYUN_ACCESS_KEY_ID/],
    [{ TRUST_PROXY: 'maybe' }, /TRUST_PROXY/],
    [{ BCRYPT_COST: '3' }, /BCRYPT_COST/],
  ]
  for (const [env, pattern] of cases) {
    t.throws(() => loadConfig(env), pattern, JSON.stringify(env))
  }
  const err = t.throws(() => loadConfig({ JWT_SECRET: 'short-secret-value' })) as Error
  t.type(err, ConfigError)
  t.match(err.message, /JWT_SECRET/)
  t.notMatch(err.message, /short-secret-value/, 'the value itself is not echoed')
})

t.test('production requires storage and a secret, and refuses test knobs', async (t) => {
  const base = {
    NODE_ENV: 'production',
    DATABASE_URL: 'postgresql://u@127.0.0.1/db',
    REDIS_URL: 'redis://127.0.0.1:6379',
    JWT_SECRET: 'x'.repeat(32),
    SMS_PROVIDER: 'webhook',
    SMS_WEBHOOK_URL: 'https://sms.example/send',
    SMS_WEBHOOK_SECRET: 's',
  }
  t.equal(loadConfig(base).NODE_ENV, 'production')
  for (const missing of ['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET']) {
    t.throws(() => loadConfig({ ...base, [missing]: '' }), new RegExp(missing))
  }
  for (const [name, value] of [
    ['CAPTCHA_FIXED_TEXT', 'abcd'],
    ['SMS_TEST_CODES', '+8613800000000=123456'],
    ['SMS_PROVIDER', 'log'],
    ['SMS_PROVIDER', 'file'],
    ['CLIENT_RATE_LIMITS', 'off'],
  ] as const) {
    t.throws(() => loadConfig({ ...base, SMS_OUTBOX_FILE: '/tmp/o', [name]: value }), new RegExp(name), `${name}=${value}`)
  }
})

t.test('lists are read', async (t) => {
  const c = loadConfig({ SMS_ALLOWED_REGIONS: 'cn, hk ,US', SMS_TEST_CODES: '+8613800000000=123456, +8613800000001=654321' })
  t.same(c.SMS_ALLOWED_REGIONS, ['CN', 'HK', 'US'])
  t.equal(c.SMS_TEST_CODES.get('+8613800000001'), '654321')
})
