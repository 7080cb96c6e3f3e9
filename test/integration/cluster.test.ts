import t from 'tap'
import { randomUUID } from 'node:crypto'
import { createRedisStore } from '../../src/infra/store/redis.js'
import { backends, buildTestApp, e164, freshMobile, SEND_SMS } from '../helpers/app.js'
import { LOGIN, requestCode, signUp, PASSWORD, REFRESH, codeOf } from '../helpers/accounts.js'
import { startRedisCluster } from '../helpers/redis-cluster.js'

// Redis Cluster refuses any script whose keys live in different slots. Every call the
// service makes must therefore keep its keys under one hash tag; this runs the real
// flows against a real three-node cluster to prove it.

if (backends.includes('real')) {
  t.test('on a Redis Cluster', async (t) => {
    const cluster = await startRedisCluster()
    t.teardown(() => cluster.close())

    t.test('the store primitives', async (t) => {
      const store = await createRedisStore({ url: cluster.url, cluster: true, keyPrefix: `c:${randomUUID()}:` })
      t.teardown(() => store.close())
      const tag = `{${randomUUID()}}`
      await store.set(`v:${tag}`, 'x', 10_000)
      t.equal(await store.take(`v:${tag}`), 'x')
      const windows = [
        { key: `w:${tag}:a`, limit: 1, windowMs: 60_000 },
        { key: `w:${tag}:b`, limit: 5, windowMs: 60_000 },
      ]
      t.same(await store.reserve('r1', windows, Date.now()), { ok: true })
      t.equal((await store.reserve('r2', windows, Date.now())).ok, false)
      await store.putRecord(`rec:${tag}`, { h: 'x', n: 'y' }, Date.now() + 1000, 10_000)
      t.same(await store.attempt(`rec:${tag}`, 5, Date.now()), { h: 'x', n: 'y' })
      t.equal(await store.deleteIf(`rec:${tag}`, 'n', 'y'), true)
      t.same(await store.gate('g1', { key: `gate:${tag}`, windowMs: 60_000, captchaAfter: 3, lockAfter: 10, lockMs: 1000 }, false, Date.now()), { ok: true, count: 1 })
      t.equal(await store.ping(), true)
    })

    t.test('the whole journey through the app, with client limits on', async (t) => {
      const h = await buildTestApp('real', { REDIS_URL: cluster.url, REDIS_CLUSTER: 'true', CLIENT_RATE_LIMITS: 'on' })
      t.teardown(() => h.close())
      const reg = await signUp(h)
      const local = freshMobile()
      t.notOk((await h.gql(SEND_SMS, { input: { mobile: local, purpose: 'LOGIN', ...(await h.captcha()) } })).body.errors)
      const again = await h.gql(SEND_SMS, { input: { mobile: local, purpose: 'LOGIN', ...(await h.captcha()) } })
      t.equal(codeOf(again), 'RATE_LIMITED', 'the cooldown holds on the cluster')
      const code = await h.lastCode(e164(local))
      t.notOk((await h.gql(LOGIN, { input: { method: 'SMS_CODE', mobile: local, smsCode: code } })).body.errors)
      for (let i = 0; i < 3; i++) await h.gql(LOGIN, { input: { method: 'PASSWORD', mobile: reg.local, password: 'wrong-guess-1' } })
      t.equal(codeOf(await h.gql(LOGIN, { input: { method: 'PASSWORD', mobile: reg.local, password: PASSWORD } })), 'CAPTCHA_REQUIRED')
      const rotated = await h.gql(REFRESH, { token: reg.refreshToken })
      t.ok(rotated.body.data?.refreshToken?.refreshToken)
      t.ok(await requestCode(h, freshMobile(), 'REGISTER'))
      t.equal((await h.app.inject({ method: 'GET', url: '/readyz' })).statusCode, 200)
    })
  })
}
