import t from 'tap'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { backends } from '../helpers/app.js'
import { testRedisUrl } from '../helpers/backends.js'
import { createTestDatabase } from '../helpers/database.js'
import { startServer } from '../helpers/server.js'

// Two real server processes on one PostgreSQL and one Redis, attacked together: every
// limit and single-use rule must hold across them, not only inside one process.

type Reply = { data?: any; errors?: { message: string; extensions: { code: string } }[] }

if (backends.includes('real')) {
  t.test('two server processes attacked together', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'pg-multi-'))
    const db = await createTestDatabase()
    const outbox = join(dir, 'outbox.jsonl')
    const env = {
      DATABASE_URL: db.url,
      REDIS_URL: testRedisUrl,
      REDIS_KEY_PREFIX: `multi:${process.pid}:${Date.now()}:`,
      JWT_SECRET: 'multi-process-test-secret-0123456789abcdef',
      DATA_DIR: join(dir, 'data'),
      SMS_PROVIDER: 'file',
      SMS_OUTBOX_FILE: outbox,
      CAPTCHA_FIXED_TEXT: 'mp42',
      BCRYPT_COST: '4',
      LOG_LEVEL: 'info',
      CLIENT_RATE_LIMITS: 'on',
      CLIENT_REQUESTS_PER_MINUTE: '100000',
      CLIENT_OPERATION_BUDGETS: 'checkMobile=6,requestImageCaptcha=100000,sendSmsCode=100000,login=100000,register=100000,refreshToken=100000',
      SMS_IP_HOURLY_LIMIT: '100000',
    }
    const [a, b] = await Promise.all([startServer(env), startServer(env)])
    t.teardown(async () => {
      await Promise.all([a.stop(), b.stop()])
      await db.drop()
      await rm(dir, { recursive: true, force: true })
    })
    const servers = [a, b]
    const gql = async (i: number, query: string, variables: Record<string, unknown> = {}, headers: Record<string, string> = {}) => {
      const res = await fetch(`${servers[i % 2]!.base}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify({ query, variables }),
      })
      return (await res.json()) as Reply
    }
    const captcha = async (i: number) =>
      ({ captchaId: (await gql(i, 'mutation { requestImageCaptcha { id } }')).data.requestImageCaptcha.id, captchaText: 'mp42' })
    const SEND = 'mutation($i: SendSmsCodeInput!) { sendSmsCode(input: $i) { mobile } }'
    const lastCode = async (mobile: string) =>
      (await readFile(outbox, 'utf8')).trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.mobile === mobile).at(-1)?.code
    const count = (event: string) => (a.output() + b.output()).split('\n').filter((l) => l.includes(`"event":"${event}"`)).length
    const local = () => `137${String(Math.floor(Math.random() * 1e8)).padStart(8, '0')}`

    t.test('20 concurrent sends for one number across both: exactly one accepted', async (t) => {
      const mobile = local()
      const captchas = await Promise.all(Array.from({ length: 20 }, (_, i) => captcha(i)))
      const results = await Promise.all(captchas.map((c, i) => gql(i + 1, SEND, { i: { mobile, purpose: 'REGISTER', ...c } })))
      t.equal(results.filter((r) => !r.errors).length, 1)
      t.ok(results.filter((r) => r.errors).every((r) => r.errors![0]!.extensions.code === 'RATE_LIMITED'))
    })

    t.test('one captcha used on both at once passes once', async (t) => {
      const c = await captcha(0)
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => gql(i, SEND, { i: { mobile: local(), purpose: 'LOGIN', ...c } })))
      t.equal(results.filter((r) => !r.errors).length, 1)
    })

    const mobile = local()
    let tokens: { accessToken: string; refreshToken: string }
    t.test('register on one, sign in on the other', async (t) => {
      await gql(0, SEND, { i: { mobile, purpose: 'REGISTER', ...(await captcha(0)) } })
      const code = await lastCode(`+86${mobile}`)
      const reg = await gql(1, 'mutation($i: RegisterInput!) { register(input: $i) { accessToken refreshToken } }', {
        i: { mobile, smsCode: code, password: 'Two-Processes-1' },
      })
      tokens = reg.data.register
      t.equal((await gql(0, '{ me { mobile } }', {}, { authorization: `Bearer ${tokens.accessToken}` })).data?.me.mobile, `+86${mobile}`)
    })

    t.test('20 concurrent refreshes of one token across both: one successor', async (t) => {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => gql(i, 'mutation($t: String) { refreshToken(refreshToken: $t) { accessToken refreshToken } }', { t: tokens.refreshToken })),
      )
      const successors = new Set(results.map((r) => r.data?.refreshToken.refreshToken))
      t.equal(successors.size, 1)
      t.notOk(successors.has(undefined))
      tokens = results[0]!.data.refreshToken
    })

    t.test('40 concurrent password guesses across both: at most 10 checks, then locked on both', async (t) => {
      const captchas = await Promise.all(Array.from({ length: 40 }, (_, i) => captcha(i)))
      const before = count('login.failed')
      await Promise.all(
        captchas.map((c, i) =>
          gql(i, 'mutation($i: LoginInput!) { login(input: $i) { accessToken } }', { i: { method: 'PASSWORD', mobile, password: `guess-${i}-abc`, ...c } }),
        ),
      )
      // log lines reach us through pipes; give them a moment to arrive
      for (let i = 0; i < 20 && count('login.failed') - before < 10; i++) await new Promise((r) => setTimeout(r, 50))
      const checks = count('login.failed') - before
      t.ok(checks <= 10 && checks >= 1, `${checks} password checks`)
      for (const i of [0, 1]) {
        const right = await gql(i, 'mutation($i: LoginInput!) { login(input: $i) { accessToken } }', {
          i: { method: 'PASSWORD', mobile, password: 'Two-Processes-1', ...(await captcha(i)) },
        })
        t.equal(right.errors?.[0]?.extensions.code, 'RATE_LIMITED', `locked on server ${i}`)
      }
    })

    t.test('logout on one ends the token on the other', async (t) => {
      t.same((await gql(1, 'mutation { logout }', {}, { authorization: `Bearer ${tokens.accessToken}` })).data, { logout: true })
      t.equal((await gql(0, '{ me { id } }', {}, { authorization: `Bearer ${tokens.accessToken}` })).errors?.[0]?.extensions.code, 'UNAUTHENTICATED')
    })

    t.test('a client budget is shared by both', async (t) => {
      const results = []
      for (let i = 0; i < 10; i++) results.push(await gql(i, '{ checkMobile(mobile: "13800138000") { mobile } }'))
      t.equal(results.filter((r) => !r.errors).length, 6, 'checkMobile=6 per minute in all, not per process')
    })
  })
}
