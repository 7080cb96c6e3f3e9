import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { backends, buildTestApp, CHECK_MOBILE, e164, FIXED_CAPTCHA, freshMobile, SEND_SMS, type TestApp } from '../helpers/app.js'
import { bearer, codeOf, LOGIN, ME, PASSWORD, requestCode, signUp, type Payload } from '../helpers/accounts.js'
import { createTestDatabase } from '../helpers/database.js'
import { startPrivateRedis } from '../helpers/redis-server.js'
import { startTcpProxy } from '../helpers/tcp-proxy.js'

// Redis or PostgreSQL going away: every request still answers, quickly, with
// INTERNAL_SERVER_ERROR (readiness with 503); nothing that needs the missing store is
// let through; and the service recovers by itself once it is back, without a restart.
// Outages are real: a redis-server of this test's own is killed, paused and restarted,
// and PostgreSQL sits behind a TCP proxy that the test cuts or turns into a black hole.

// Generous for a loaded two-core machine: the timeouts behind them are 1 s (Redis
// commands, readiness probes) and 2 s (PostgreSQL connects and queries).
const REQUEST_BOUND_MS = 3500
const READY_BOUND_MS = 2000
const RECOVERY_BOUND_MS = 8000

const CAPTCHA = 'mutation { requestImageCaptcha { id } }'
// What a driver's error would show a client: it belongs in the log only.
const LEAK = /ECONN|ETIMEDOUT|timed? ?out|redis|prisma|stream|offline ?queue|socket|\.[jt]s:\d+/i

interface Answer {
  ms: number
  status: number
  body: { data?: any; errors?: { message: string; extensions: Record<string, any> }[] }
}

async function timedGql(h: TestApp, query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<Answer> {
  const started = performance.now()
  const res = await h.gql(query, variables, headers)
  return { ms: Math.round(performance.now() - started), ...res }
}

async function timedGet(h: TestApp, url: string) {
  const started = performance.now()
  const res = await h.app.inject({ method: 'GET', url })
  return { ms: Math.round(performance.now() - started), status: res.statusCode, body: res.json() }
}

/** Settles `run` and says how long it took; `error` is what it rejected with, if it did. */
async function timedCall<T>(run: () => Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const started = performance.now()
  try {
    const value = await run()
    return { ms: Math.round(performance.now() - started), value }
  } catch (error) {
    return { ms: Math.round(performance.now() - started), error }
  }
}

/** Polls until `check` holds; the time it took, or undefined when it never did within `withinMs`. */
async function within(withinMs: number, check: () => Promise<boolean>): Promise<number | undefined> {
  const started = performance.now()
  while (performance.now() - started < withinMs) {
    if (await check()) return Math.round(performance.now() - started)
    await new Promise((r) => setTimeout(r, 100))
  }
  return undefined
}

/** An answer that is INTERNAL_SERVER_ERROR (no data for the field), within the bound. */
function failsFast(t: Test, label: string, a: Answer, field: string) {
  t.ok(a.ms < REQUEST_BOUND_MS, `${label}: answered in ${a.ms} ms`)
  t.equal(codeOf(a), 'INTERNAL_SERVER_ERROR', `${label}: INTERNAL_SERVER_ERROR`)
  t.notOk(a.body.data?.[field], `${label}: nothing granted`)
  t.notMatch(JSON.stringify(a.body), LEAK, `${label}: no internals leak`)
}

async function notReady(t: Test, h: TestApp, down: 'database' | 'store') {
  const ready = await timedGet(h, '/readyz')
  t.ok(ready.ms < READY_BOUND_MS, `/readyz answered in ${ready.ms} ms`)
  t.equal(ready.status, 503)
  t.same(ready.body, { status: 'unavailable', database: down !== 'database', store: down !== 'store' })
  const health = await timedGet(h, '/healthz')
  t.equal(health.status, 200, '/healthz: the process itself is fine')
}

async function recovers(t: Test, h: TestApp) {
  const ms = await within(RECOVERY_BOUND_MS, async () => (await h.app.inject({ method: 'GET', url: '/readyz' })).statusCode === 200)
  t.ok(ms !== undefined, `/readyz is 200 again after ${ms} ms, with the same app`)
  const captcha = await h.gql(CAPTCHA)
  t.ok(captcha.body.data?.requestImageCaptcha?.id, 'requestImageCaptcha works again')
}

const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0

if (!backends.includes('real')) {
  t.comment('fault tests need the machine PostgreSQL (TEST_BACKENDS includes real)')
} else {
  t.test('Redis going away', { skip: hasRedisServer ? false : 'redis-server is not installed' }, async (t) => {
    const redis = await startPrivateRedis()
    t.teardown(() => redis.close())
    const h = await buildTestApp('real', { REDIS_URL: redis.url })
    t.teardown(() => h.close())

    // Made while Redis is up, tried while it is not.
    const user = await signUp(h)
    const loginLocal = freshMobile()
    const loginCode = await requestCode(h, loginLocal, 'LOGIN')
    const early = await h.captcha()
    t.equal((await h.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200)

    t.test('stopped: every request that needs it fails fast and closed', async (t) => {
      await redis.stop()
      const sentBefore = (await h.outbox()).length

      failsFast(t, 'requestImageCaptcha', await timedGql(h, CAPTCHA), 'requestImageCaptcha')
      failsFast(
        t,
        'sendSmsCode with a captcha solved before the outage',
        await timedGql(h, SEND_SMS, { input: { mobile: freshMobile(), purpose: 'LOGIN', ...early } }),
        'sendSmsCode',
      )
      t.equal((await h.outbox()).length, sentBefore, 'no SMS was sent')
      failsFast(
        t,
        'password login with the right password (the failure count cannot be read)',
        await timedGql(h, LOGIN, { input: { method: 'PASSWORD', mobile: user.local, password: PASSWORD } }),
        'login',
      )
      failsFast(
        t,
        'SMS login with the right code',
        await timedGql(h, LOGIN, { input: { method: 'SMS_CODE', mobile: loginLocal, smsCode: loginCode } }),
        'login',
      )
      // Sessions are checked in the database, so a signed-in caller stays signed in.
      const meAnswer = await timedGql(h, ME, {}, bearer(user.accessToken))
      t.ok(meAnswer.ms < REQUEST_BOUND_MS, `me: answered in ${meAnswer.ms} ms`)
      t.equal(meAnswer.body.data?.me?.mobile, user.mobile, 'me needs only the database')

      const verify = await timedCall(() => h.app.services.smsCodes.verify(e164(loginLocal), 'LOGIN', loginCode))
      t.ok(verify.error, 'smsCodes.verify of the right code rejects')
      t.ok(verify.ms < REQUEST_BOUND_MS, `smsCodes.verify settled in ${verify.ms} ms`)
      const captchaVerify = await timedCall(() => h.app.services.captcha.verify(early.captchaId, FIXED_CAPTCHA))
      t.ok(captchaVerify.error, 'captcha.verify of the right answer rejects')

      // checkMobile needs only the database: it either answers rightly or fails the same way.
      const check = await timedGql(h, CHECK_MOBILE, { mobile: user.local })
      t.ok(check.ms < REQUEST_BOUND_MS, `checkMobile: answered in ${check.ms} ms`)
      if (check.body.data?.checkMobile) t.same(check.body.data.checkMobile, { mobile: user.mobile, registered: true })
      else t.equal(codeOf(check), 'INTERNAL_SERVER_ERROR')

      await notReady(t, h, 'store')
      t.comment(`Redis stopped: requests failed in ${[verify.ms, meAnswer.ms, check.ms].join(', ')} ms`)
    })

    t.test('started again (empty): the same app recovers by itself', async (t) => {
      await redis.start()
      await recovers(t, h)
      const local = freshMobile()
      const code = await requestCode(h, local, 'LOGIN')
      const login = await h.gql<{ login: Payload }>(LOGIN, { input: { method: 'SMS_CODE', mobile: local, smsCode: code } })
      t.ok(login.body.data?.login.accessToken, 'a whole SMS sign-in works again')
      const pw = await h.gql<{ login: Payload }>(LOGIN, { input: { method: 'PASSWORD', mobile: user.local, password: PASSWORD } })
      t.ok(pw.body.data?.login.accessToken, 'a password sign-in works again')
    })

    t.test('paused (accepts connections, never answers): bounded by the command timeout', async (t) => {
      const pending = await h.captcha()
      const local = freshMobile()
      const code = await requestCode(h, local, 'LOGIN')
      redis.pause()
      // Even if an assertion throws, the server must not stay stopped for the next test.
      t.teardown(() => redis.resume())

      const [captcha, send, login, verify, ready] = await Promise.all([
        timedGql(h, CAPTCHA),
        timedGql(h, SEND_SMS, { input: { mobile: freshMobile(), purpose: 'LOGIN', ...pending } }),
        timedGql(h, LOGIN, { input: { method: 'SMS_CODE', mobile: local, smsCode: code } }),
        timedCall(() => h.app.services.smsCodes.verify(e164(local), 'LOGIN', code)),
        timedGet(h, '/readyz'),
      ])
      failsFast(t, 'requestImageCaptcha', captcha, 'requestImageCaptcha')
      failsFast(t, 'sendSmsCode with a solved captcha', send, 'sendSmsCode')
      failsFast(t, 'SMS login with the right code', login, 'login')
      t.ok(verify.error, 'smsCodes.verify of the right code rejects')
      t.ok(verify.ms < REQUEST_BOUND_MS, `smsCodes.verify settled in ${verify.ms} ms`)
      t.ok(ready.ms < READY_BOUND_MS, `/readyz answered in ${ready.ms} ms`)
      t.same([ready.status, ready.body.store], [503, false], '/readyz: 503, store false')

      // Later requests are bounded too, once the silent connection has been given up on.
      await new Promise((r) => setTimeout(r, 1500))
      failsFast(t, 'requestImageCaptcha, later', await timedGql(h, CAPTCHA), 'requestImageCaptcha')
      await notReady(t, h, 'store')
      t.comment(`Redis paused: requests failed in ${[captcha.ms, send.ms, login.ms, verify.ms].join(', ')} ms; readyz ${ready.ms} ms`)

      redis.resume()
      await recovers(t, h)
    })
  })

  t.test('PostgreSQL going away', async (t) => {
    const db = await createTestDatabase()
    const target = new URL(db.url)
    const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) })
    const proxied = new URL(db.url)
    proxied.host = `${proxy.host}:${proxy.port}`
    let h: TestApp | undefined
    t.teardown(async () => {
      await proxy.restore()
      await h?.close()
      await proxy.close()
      await db.drop()
    })
    h = await buildTestApp('real', {}, { shared: { databaseUrl: proxied.toString() } })
    const app = h
    const user = await signUp(app)
    t.same((await app.gql(CHECK_MOBILE, { mobile: user.local })).body.data?.checkMobile, { mobile: user.mobile, registered: true })

    t.test('cut (connections reset, port refused): fails fast, recovers by itself', async (t) => {
      await proxy.cut()
      const check = await timedGql(app, CHECK_MOBILE, { mobile: user.local })
      failsFast(t, 'checkMobile', check, 'checkMobile')
      const login = await timedGql(app, LOGIN, { input: { method: 'PASSWORD', mobile: user.local, password: PASSWORD } })
      failsFast(t, 'password login', login, 'login')
      const who = await timedGql(app, ME, {}, bearer(user.accessToken))
      failsFast(t, 'me with a token (the session cannot be checked)', who, 'me')
      await notReady(t, app, 'database')
      t.comment(`PostgreSQL cut: requests failed in ${check.ms}, ${login.ms} ms`)

      await proxy.restore()
      await recovers(t, app)
      t.same((await app.gql(CHECK_MOBILE, { mobile: user.local })).body.data?.checkMobile, { mobile: user.mobile, registered: true })
    })

    t.test('black hole (connections open, nothing answers): bounded by the query timeout', async (t) => {
      // A pooled connection exists, so the first query goes down it and meets the silence.
      await app.gql(CHECK_MOBILE, { mobile: user.local })
      proxy.blackhole()
      t.teardown(() => proxy.restore())
      const [first, second, ready] = await Promise.all([
        timedGql(app, CHECK_MOBILE, { mobile: user.local }),
        timedGql(app, CHECK_MOBILE, { mobile: freshMobile() }),
        timedGet(app, '/readyz'),
      ])
      failsFast(t, 'checkMobile on a pooled connection', first, 'checkMobile')
      failsFast(t, 'checkMobile', second, 'checkMobile')
      t.ok(ready.ms < READY_BOUND_MS, `/readyz answered in ${ready.ms} ms`)
      t.same([ready.status, ready.body.database], [503, false], '/readyz: 503, database false')
      const fresh = await timedGql(app, CHECK_MOBILE, { mobile: user.local })
      failsFast(t, 'checkMobile on a new connection', fresh, 'checkMobile')
      t.comment(`PostgreSQL black hole: requests failed in ${first.ms}, ${second.ms}, ${fresh.ms} ms; readyz ${ready.ms} ms`)

      await proxy.restore()
      await recovers(t, app)
      t.same((await app.gql(CHECK_MOBILE, { mobile: user.local })).body.data?.checkMobile, { mobile: user.mobile, registered: true })
    })
  })
}
