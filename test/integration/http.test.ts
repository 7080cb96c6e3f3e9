import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { backends, buildTestApp, e164, freshMobile, SEND_SMS } from '../helpers/app.js'
import { codeOf } from '../helpers/accounts.js'

for (const backend of backends) {
  t.test(`HTTP edges on ${backend}`, async (t) => {
    const h = await buildTestApp(backend, {
      SMS_IP_HOURLY_LIMIT: '3',
      SMS_TEST_CODES: '+8613800000000=123456,+8613800000001=654321',
    })
    t.teardown(() => h.close())

    t.test('malformed HTTP gets a 4xx with a coded error, never a 5xx or a stack', async (t) => {
      const cases = [
        { payload: '{"query": ', headers: { 'content-type': 'application/json' } },
        { payload: 'not json at all', headers: { 'content-type': 'application/json' } },
        { payload: '', headers: { 'content-type': 'application/json' } },
        { payload: 'query { me { id } }', headers: { 'content-type': 'text/plain' } },
        { payload: 'query=%7B%7D', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
        { payload: JSON.stringify({ query: 'x'.repeat(200 * 1024) }), headers: { 'content-type': 'application/json' } },
        { payload: JSON.stringify({ query: '{ me { id } ' }), headers: { 'content-type': 'application/json' } },
        { payload: JSON.stringify({ query: 42 }), headers: { 'content-type': 'application/json' } },
        { payload: JSON.stringify({ query: { kind: 'Document', definitions: 5 } }), headers: { 'content-type': 'application/json' } },
        { payload: JSON.stringify({ query: { kind: 'Document', definitions: [{ kind: 'OperationDefinition' }] } }), headers: { 'content-type': 'application/json' } },
        { payload: JSON.stringify({}), headers: { 'content-type': 'application/json' } },
        { payload: JSON.stringify([{ query: '{ me { id } }' }, { query: '{ me { id } }' }]), headers: { 'content-type': 'application/json' } },
        { payload: JSON.stringify({ query: '{ nope }' }), headers: { 'content-type': 'application/json' } },
        { payload: JSON.stringify({ query: 'query($m: String!) { checkMobile(mobile: $m) { mobile } }', variables: '{' }), headers: { 'content-type': 'application/json' } },
        { payload: JSON.stringify({ query: 'query($m: String!) { checkMobile(mobile: $m) { mobile } }', variables: { m: { nested: true } } }), headers: { 'content-type': 'application/json' } },
      ]
      for (const c of cases) {
        const res = await h.app.inject({ method: 'POST', url: '/graphql', ...c })
        const label = `${c.headers['content-type']} ${c.payload.slice(0, 40)}`
        t.ok(res.statusCode >= 400 && res.statusCode < 500, `${label} -> ${res.statusCode}`)
        t.notMatch(res.body, /\s+at\s+\S+\s+\(|node_modules|\.ts:\d+/, `${label}: no stack trace`)
        const body = res.json()
        t.ok(Array.isArray(body.errors) && body.errors.length > 0, `${label}: errors array`)
        t.equal(body.errors[0].extensions?.code, 'BAD_USER_INPUT', `${label}: coded`)
      }
    })

    t.test('unknown routes are 404, health answers, readiness checks both stores', async (t) => {
      t.equal((await h.app.inject({ method: 'GET', url: '/nope' })).statusCode, 404)
      const health = await h.app.inject({ method: 'GET', url: '/healthz' })
      t.equal(health.statusCode, 200)
      const ready = await h.app.inject({ method: 'GET', url: '/readyz' })
      t.equal(ready.statusCode, 200)
      t.same(ready.json(), { status: 'ready', database: true, store: true })
      t.ok(ready.headers['x-request-id'], 'every answer names its request id')
    })

    t.test('test numbers get their fixed code, nothing is delivered, and no per-number limit applies', async (t) => {
      for (let i = 0; i < 3; i++) {
        const c = await h.captcha()
        const res = await h.gql(SEND_SMS, { input: { mobile: '13800000000', purpose: 'LOGIN', ...c } })
        t.notOk(res.body.errors, `send ${i + 1} without waiting for the cooldown`)
      }
      t.equal((await h.outbox()).filter((r) => r.mobile === '+8613800000000').length, 0, 'nothing delivered')
      t.ok(await h.app.services.smsCodes.verify('+8613800000000', 'LOGIN', '123456'))
    })

    t.test('the per-address hourly limit counts sends from one address across numbers', async (t) => {
      // the three test-number sends above used this address's budget of 3
      const c = await h.captcha()
      const res = await h.gql(SEND_SMS, { input: { mobile: freshMobile(), purpose: 'LOGIN', ...c } })
      t.equal(res.body.errors?.[0]?.extensions.code, 'RATE_LIMITED')
      t.ok(res.body.errors![0]!.extensions.retryAfter > 3500)
      const other = await h.app.inject({
        method: 'POST',
        url: '/graphql',
        remoteAddress: '10.9.8.7',
        payload: { query: SEND_SMS, variables: { input: { mobile: freshMobile(), purpose: 'LOGIN', ...(await h.captcha()) } } },
      })
      t.notOk(other.json().errors, 'another address has its own budget')
      const spoofed = await h.app.inject({
        method: 'POST',
        url: '/graphql',
        headers: { 'x-forwarded-for': '10.1.1.1' },
        payload: { query: SEND_SMS, variables: { input: { mobile: freshMobile(), purpose: 'LOGIN', ...(await h.captcha()) } } },
      })
      t.equal(spoofed.json().errors?.[0]?.extensions.code, 'RATE_LIMITED', 'X-Forwarded-For is not believed without TRUST_PROXY')
    })
  })

  t.test(`provider failures on ${backend}`, async (t) => {
    // A webhook that fails: it sees the code, answers 500, and that code must not work.
    const seen: string[] = []
    let status = 500
    const hook = createServer((req, res) => {
      let body = ''
      req.on('data', (c) => (body += c))
      req.on('end', () => {
        seen.push(JSON.parse(body).code)
        if (status === 0) return // never answers: the timeout must fire
        res.statusCode = status
        res.end()
      })
    })
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r))
    t.teardown(() => new Promise<void>((r) => { hook.closeAllConnections(); hook.close(() => r()) }))
    const url = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/sms`
    const h = await buildTestApp(backend, {
      SMS_PROVIDER: 'webhook',
      SMS_WEBHOOK_URL: url,
      SMS_WEBHOOK_SECRET: 'hook-secret',
      SMS_TIMEOUT_MS: '300',
    })
    t.teardown(() => h.close())

    for (const [label, s] of [['a 500 answer', 500], ['no answer within SMS_TIMEOUT_MS', 0]] as const) {
      t.test(`${label} is SMS_DELIVERY_FAILED and leaves no usable code`, async (t) => {
        status = s
        const local = freshMobile()
        const started = Date.now()
        const res = await h.gql(SEND_SMS, { input: { mobile: local, purpose: 'LOGIN', ...(await h.captcha()) } })
        t.equal(res.body.errors?.[0]?.extensions.code, 'SMS_DELIVERY_FAILED')
        t.ok(Date.now() - started < 3000, 'bounded by the timeout')
        const code = seen.at(-1)!
        t.match(code, /^\d{6}$/)
        await t.rejects(h.app.services.smsCodes.verify(e164(local), 'LOGIN', code), { code: 'SMS_CODE_INVALID' })
        status = 204
        const retry = await h.gql(SEND_SMS, { input: { mobile: local, purpose: 'LOGIN', ...(await h.captcha()) } })
        t.equal(codeOf(retry), 'RATE_LIMITED', 'a failed delivery still counts: it may have been delivered after all')
        h.clock.advance(60_000)
        const later = await h.gql(SEND_SMS, { input: { mobile: local, purpose: 'LOGIN', ...(await h.captcha()) } })
        t.notOk(later.body.errors, 'after the cooldown a new code goes out')
        t.ok(await h.app.services.smsCodes.verify(e164(local), 'LOGIN', seen.at(-1)!))
      })
    }
  })

  t.test(`logs never carry secrets on ${backend}`, async (t) => {
    const h = await buildTestApp(backend, { LOG_LEVEL: 'trace' })
    t.teardown(() => h.close())
    const local = freshMobile()
    const c = await h.captcha()
    await h.gql(
      SEND_SMS,
      { input: { mobile: local, purpose: 'LOGIN', ...c } },
      { authorization: 'Bearer aaaa.bbbb.cccc-secret-bearer', cookie: 'refresh_token=cookie-secret-value' },
    )
    const code = (await h.lastCode(e164(local)))!
    const all = h.logs.join('')
    t.ok(all.length > 0, 'something was logged')
    t.match(all, /sms code sent/)
    for (const secret of [code, 'cccc-secret-bearer', 'cookie-secret-value', c.captchaText]) {
      t.notOk(all.includes(secret), `log does not contain ${secret}`)
    }
    t.notOk(all.includes(e164(local)), 'numbers are masked in logs')
  })
}
