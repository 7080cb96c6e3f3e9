import t from 'tap'
import { createHash } from 'node:crypto'
import { backends, buildTestApp, e164, freshMobile, SEND_SMS, CHECK_MOBILE, type TestApp } from '../helpers/app.js'
import { codeOf, LOGIN, PASSWORD, requestCode, signUp } from '../helpers/accounts.js'
import type { Store } from '../../src/infra/store/index.js'

// The service attacked the way real tools do: many attempts packed into one request,
// forged headers, cross-site request shapes, schema discovery. Each test states the
// attack and what must hold.

const events = (h: TestApp, name: string) => h.logs.filter((l) => l.includes(`"event":"${name}"`)).length
const raised = { GRAPHQL_MAX_ALIASES: '1000', GRAPHQL_MAX_ROOT_MUTATIONS: '1000', GRAPHQL_MAX_TOKENS: '100000', SMS_IP_HOURLY_LIMIT: '100000' }

const aliasedLogins = (n: number, input: (i: number) => string) =>
  `mutation { ${Array.from({ length: n }, (_, i) => `a${i}: login(input: ${input(i)}) { accessToken }`).join(' ')} }`

for (const backend of backends) {
  t.test(`attacks on ${backend}`, async (t) => {
    t.test('100 aliased logins in one request are refused before any password check', async (t) => {
      const h = await buildTestApp(backend)
      t.teardown(() => h.close())
      const reg = await signUp(h)
      const res = await h.gql(aliasedLogins(100, () => `{method: PASSWORD, mobile: "${reg.local}", password: "guess-123456"}`))
      t.equal(res.status, 400)
      t.equal(codeOf(res), 'BAD_USER_INPUT')
      t.equal(events(h, 'login.failed'), 0, 'no password was checked')
      const two = await h.gql(`mutation { a: login(input: {method: PASSWORD, mobile: "${reg.local}", password: "x1234567"}) { accessToken } b: login(input: {method: PASSWORD, mobile: "${reg.local}", password: "y1234567"}) { accessToken } }`)
      t.match(two.body.errors?.[0]?.message, /at most 1 root field/, 'one root mutation field per request')
      const viaFragments = await h.gql(`mutation { ...A ...B } fragment A on Mutation { a: requestImageCaptcha { id } } fragment B on Mutation { b: requestImageCaptcha { id } }`)
      t.equal(codeOf(viaFragments), 'BAD_USER_INPUT', 'root fields through fragments count too')
    })

    t.test('with the request limits raised, aliased logins still make at most LOGIN_LOCK_AFTER_FAILURES checks', async (t) => {
      const h = await buildTestApp(backend, raised)
      t.teardown(() => h.close())
      const reg = await signUp(h)
      // Twenty requests of 100 aliased guesses, each alias with its own solved captcha.
      for (let round = 0; round < 20; round++) {
        const captchas = await Promise.all(Array.from({ length: 100 }, () => h.captcha()))
        const res = await h.gql(
          aliasedLogins(100, (i) => `{method: PASSWORD, mobile: "${reg.local}", password: "guess-${round}-${i}", captchaId: "${captchas[i]!.captchaId}", captchaText: "${captchas[i]!.captchaText}"}`),
        )
        t.ok(res.body.errors?.length, `round ${round} refused`)
      }
      t.equal(events(h, 'login.failed'), 10, 'ten password checks in 2,000 guesses')
      const right = await h.gql(LOGIN, { input: { method: 'PASSWORD', mobile: reg.local, password: PASSWORD, ...(await h.captcha()) } })
      t.equal(codeOf(right), 'RATE_LIMITED', 'the number is locked, even for the right password')
    })

    t.test('100 concurrent password logins make at most LOGIN_LOCK_AFTER_FAILURES checks', async (t) => {
      const h = await buildTestApp(backend, raised)
      t.teardown(() => h.close())
      const reg = await signUp(h)
      const captchas = await Promise.all(Array.from({ length: 100 }, () => h.captcha()))
      await Promise.all(
        captchas.map((c, i) => h.gql(LOGIN, { input: { method: 'PASSWORD', mobile: reg.local, password: `guess-${i}-xyz`, ...c } })),
      )
      t.ok(events(h, 'login.failed') <= 10, `${events(h, 'login.failed')} checks`)
    })

    t.test('aliased SMS code guesses: at most SMS_CODE_MAX_ATTEMPTS comparisons, then even the right code fails', async (t) => {
      const h = await buildTestApp(backend, raised)
      t.teardown(() => h.close())
      const local = freshMobile()
      const code = await requestCode(h, local, 'LOGIN')
      const guesses = Array.from({ length: 99 }, (_, i) => String(i).padStart(6, '0')).filter((g) => g !== code)
      const res = await h.gql(aliasedLogins(guesses.length + 1, (i) => `{method: SMS_CODE, mobile: "${local}", smsCode: "${guesses[i] ?? code}"}`))
      t.equal(Object.values(res.body.data ?? {}).filter(Boolean).length, 0, 'no alias signed in, not even the last with the right code')
      t.ok((res.body.errors ?? []).every((e) => e.extensions.code === 'SMS_CODE_INVALID'))
    })

    t.test('batching, GET, urlencoded, text/plain and multipart are refused', async (t) => {
      const h = await buildTestApp(backend)
      t.teardown(() => h.close())
      const query = '{ me { id } }'
      const batch = await h.app.inject({ method: 'POST', url: '/graphql', payload: [{ query }, { query }] })
      t.equal(batch.statusCode, 400)
      const get = await h.app.inject({ method: 'GET', url: `/graphql?query=${encodeURIComponent(query)}` })
      t.equal(get.statusCode, 405)
      t.equal(get.json().errors[0].extensions.code, 'BAD_USER_INPUT')
      t.equal(get.headers.allow, 'POST')
      const getMutation = await h.app.inject({ method: 'GET', url: `/graphql?query=${encodeURIComponent('mutation { requestImageCaptcha { id } }')}` })
      t.equal(getMutation.statusCode, 405)
      for (const [type, payload] of [
        ['application/x-www-form-urlencoded', `query=${encodeURIComponent(query)}`],
        ['text/plain', JSON.stringify({ query })],
        ['multipart/form-data; boundary=x', `--x\r\nContent-Disposition: form-data; name="query"\r\n\r\n${query}\r\n--x--`],
      ] as const) {
        const res = await h.app.inject({ method: 'POST', url: '/graphql', headers: { 'content-type': type }, payload })
        t.ok(res.statusCode >= 400 && res.statusCode < 500, `${type} -> ${res.statusCode}`)
        t.equal(res.json().errors?.[0]?.extensions?.code, 'BAD_USER_INPUT')
      }
    })

    t.test('deep and fragment-deep queries, too many directives or tokens are refused', async (t) => {
      const h = await buildTestApp(backend)
      t.teardown(() => h.close())
      const deep = `{ __schema { types { fields { type { ofType { ofType { ofType { ofType { name } } } } } } } } }`
      t.match((await h.gql(deep)).body.errors?.[0]?.message, /at most 8 deep/)
      const fragmentDeep = `{ __schema { types { ...F } } }
        fragment F on __Type { fields { type { ...G } } }
        fragment G on __Type { ofType { ofType { ofType { ...H } } } }
        fragment H on __Type { ofType { name } }`
      const fd = await h.gql(fragmentDeep)
      t.equal(codeOf(fd), 'BAD_USER_INPUT')
      t.match(fd.body.errors?.[0]?.message, /at most 8 deep/, 'depth follows fragments')
      const cyclic = await h.gql(`{ __schema { types { ...A } } } fragment A on __Type { ofType { ...B } } fragment B on __Type { ofType { ...A } }`)
      t.equal(codeOf(cyclic), 'BAD_USER_INPUT', 'a fragment cycle is refused, not followed forever')
      const directives = await h.gql(`{ me @include(if: true) { ${Array.from({ length: 11 }, (_, i) => `f${i}: id @skip(if: false)`).join(' ')} } }`)
      t.equal(codeOf(directives), 'BAD_USER_INPUT')
      const typenames = await h.gql(`{ ${Array.from({ length: 11 }, (_, i) => `t${i}: __typename`).join(' ')} }`)
      t.ok(typenames.body.errors?.some((e) => /at most 10 aliases/.test(e.message)), '__typename aliases count')
      const tokens = await h.gql(`{ me { ${'id '.repeat(1200)} } }`)
      t.equal(codeOf(tokens), 'BAD_USER_INPUT')
      const ast = await h.app.inject({
        method: 'POST',
        url: '/graphql',
        payload: { query: JSON.stringify({ kind: 'Document', definitions: [{ kind: 'OperationDefinition', operation: 'query', selectionSet: { kind: 'SelectionSet', selections: Array.from({ length: 11 }, (_, i) => ({ kind: 'Field', alias: { kind: 'Name', value: `t${i}` }, name: { kind: 'Name', value: '__typename' } })) } }] }) },
      })
      t.ok(ast.json().errors?.some((e: { message: string }) => /at most 10 aliases/.test(e.message)), 'a query sent as a JSON syntax tree is limited too')
    })

    t.test('spoofed X-Forwarded-For changes nothing without TRUST_PROXY', async (t) => {
      const h = await buildTestApp(backend, { CLIENT_RATE_LIMITS: 'on', CLIENT_OPERATION_BUDGETS: 'checkMobile=3', CLIENT_REQUESTS_PER_MINUTE: '1000' })
      t.teardown(() => h.close())
      const results = []
      for (let i = 0; i < 5; i++) {
        results.push(await h.gql(CHECK_MOBILE, { mobile: '13800138000' }, { 'x-forwarded-for': `203.0.113.${i}`, 'x-real-ip': `198.51.100.${i}` }))
      }
      t.same(results.map((r) => codeOf(r) ?? 'ok'), ['ok', 'ok', 'ok', 'RATE_LIMITED', 'RATE_LIMITED'])
      const trusted = await buildTestApp(backend, { CLIENT_RATE_LIMITS: 'on', CLIENT_OPERATION_BUDGETS: 'checkMobile=3', TRUST_PROXY: 'true' })
      t.teardown(() => trusted.close())
      const viaProxy = []
      for (let i = 0; i < 5; i++) viaProxy.push(await trusted.gql(CHECK_MOBILE, { mobile: '13800138000' }, { 'x-forwarded-for': `203.0.113.${i}` }))
      t.ok(viaProxy.every((r) => !r.body.errors), 'with TRUST_PROXY the forwarded address is the client')
    })

    t.test('per-operation budgets count every executed field, aliases included', async (t) => {
      const h = await buildTestApp(backend, { CLIENT_RATE_LIMITS: 'on', CLIENT_OPERATION_BUDGETS: 'checkMobile=3' })
      t.teardown(() => h.close())
      const res = await h.gql(`{ a: checkMobile(mobile: "13800138000") { mobile } b: checkMobile(mobile: "13800138001") { mobile } c: checkMobile(mobile: "13800138002") { mobile } d: checkMobile(mobile: "13800138003") { mobile } }`)
      t.equal(codeOf(res), 'RATE_LIMITED')
      t.same(res.body.errors!.map((e) => e.path), [['d']], 'the fourth alias is refused')
      t.ok(res.body.errors![0]!.extensions.retryAfter >= 1)
      t.equal(codeOf(await h.gql(CHECK_MOBILE, { mobile: '13800138000' })), 'RATE_LIMITED', 'the next request finds the budget spent')
      t.ok(h.logs.some((l) => l.includes('"event":"limit.tripped"')), 'audit event')
    })

    t.test('the per-address request budget answers 429 RATE_LIMITED', async (t) => {
      const h = await buildTestApp(backend, { CLIENT_RATE_LIMITS: 'on', CLIENT_REQUESTS_PER_MINUTE: '5' })
      t.teardown(() => h.close())
      const statuses = []
      for (let i = 0; i < 7; i++) statuses.push(await h.app.inject({ method: 'POST', url: '/graphql', payload: { query: '{ me { id } }' } }))
      t.same(statuses.map((r) => r.statusCode), [200, 200, 200, 200, 200, 429, 429])
      const body = statuses[6]!.json()
      t.equal(body.errors[0].extensions.code, 'RATE_LIMITED')
      t.ok(body.errors[0].extensions.retryAfter > 0)
      t.equal((await h.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200, 'health checks are not budgeted')
      const other = await h.app.inject({ method: 'POST', url: '/graphql', remoteAddress: '192.0.2.44', payload: { query: '{ me { id } }' } })
      t.equal(other.statusCode, 200, 'another address has its own budget')
    })

    t.test('SMS pumping: a global breaker and a cap per number block', async (t) => {
      const h = await buildTestApp(backend, { SMS_GLOBAL_PER_MINUTE_LIMIT: '3', SMS_PREFIX_HOURLY_LIMIT: '2', SMS_IP_HOURLY_LIMIT: '1000' })
      t.teardown(() => h.close())
      const send = async (mobile: string) => h.gql(SEND_SMS, { input: { mobile, purpose: 'LOGIN', ...(await h.captcha()) } })
      // one block of 10,000 numbers: +86139 1234 xxxx
      t.notOk((await send('13912340001')).body.errors)
      t.notOk((await send('13912340002')).body.errors)
      const third = await send('13912340003')
      t.equal(codeOf(third), 'RATE_LIMITED', 'the block cap holds across numbers')
      t.notOk((await send('13912350001')).body.errors, 'another block is fine')
      const tripped = await send('13912360001')
      t.equal(codeOf(tripped), 'RATE_LIMITED', 'the global breaker trips')
      await send('13912370001')
      t.equal(events(h, 'sms.breaker_tripped'), 1, 'one alert per breaker window')
      t.ok(h.logs.some((l) => l.includes('"event":"sms.breaker_tripped"') && l.includes('"level":50')), 'logged as an error')
      h.clock.advance(60_000)
      t.notOk((await send('13912380001')).body.errors, 'the breaker closes with its window')
      t.equal((await h.outbox()).length, 4, 'four messages went out in all')
    })

    t.test('automatic persisted queries, as Apollo Client sends them', async (t) => {
      const h = await buildTestApp(backend)
      t.teardown(() => h.close())
      const query = 'query Check($mobile: String!) { checkMobile(mobile: $mobile) { mobile registered } }'
      const sha256Hash = createHash('sha256').update(query).digest('hex')
      const extensions = { persistedQuery: { version: 1, sha256Hash } }
      const miss = await h.app.inject({ method: 'POST', url: '/graphql', payload: { variables: { mobile: '13800138000' }, extensions } })
      t.equal(miss.json().errors?.[0]?.message, 'PersistedQueryNotFound', 'the message the persisted-query link looks for')
      const register = await h.app.inject({ method: 'POST', url: '/graphql', payload: { query, variables: { mobile: '13800138000' }, extensions } })
      t.equal(register.json().data?.checkMobile.mobile, '+8613800138000')
      const hit = await h.app.inject({ method: 'POST', url: '/graphql', payload: { variables: { mobile: '13800138001' }, extensions } })
      t.equal(hit.json().data?.checkMobile.mobile, '+8613800138001')
      const wrong = await h.app.inject({ method: 'POST', url: '/graphql', payload: { query: '{ me { id } }', extensions } })
      t.equal(wrong.json().errors?.[0]?.extensions?.code, 'BAD_USER_INPUT', 'a hash that does not match its query')
    })

    t.test('CORS allows listed origins only; security headers are set', async (t) => {
      const h = await buildTestApp(backend, { CORS_ORIGINS: 'https://app.example.com' })
      t.teardown(() => h.close())
      const ok = await h.app.inject({ method: 'POST', url: '/graphql', headers: { origin: 'https://app.example.com' }, payload: { query: '{ me { id } }' } })
      t.equal(ok.headers['access-control-allow-origin'], 'https://app.example.com')
      const evil = await h.app.inject({ method: 'POST', url: '/graphql', headers: { origin: 'https://evil.example' }, payload: { query: '{ me { id } }' } })
      t.notOk(evil.headers['access-control-allow-origin'])
      const preflight = await h.app.inject({ method: 'OPTIONS', url: '/graphql', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' } })
      t.equal(preflight.statusCode, 204)
      t.equal(preflight.headers['access-control-allow-origin'], 'https://app.example.com')
      t.equal(ok.headers['x-content-type-options'], 'nosniff')
      t.ok(ok.headers['x-frame-options'])
    })
  })
}

// Production needs real PostgreSQL and Redis.
if (backends.includes('real')) {
  t.test('production hides introspection, GraphiQL, suggestions and internals', async (t) => {
    const production = {
      NODE_ENV: 'production',
      JWT_SECRET: 'p'.repeat(40),
      CAPTCHA_FIXED_TEXT: '',
      SMS_PROVIDER: 'webhook',
      SMS_OUTBOX_FILE: '',
      SMS_WEBHOOK_URL: 'http://127.0.0.1:9/sms',
      SMS_WEBHOOK_SECRET: 'hook',
      CLIENT_RATE_LIMITS: 'on',
      LOG_LEVEL: 'info',
    }
    const h = await buildTestApp('real', production)
    t.teardown(() => h.close())
    const intro = await h.gql('{ __schema { types { name } } }')
    t.equal(codeOf(intro), 'BAD_USER_INPUT')
    t.match(intro.body.errors?.[0]?.message, /introspection/i)
    t.equal(codeOf(await h.gql('{ __type(name: "User") { fields { name } } }')), 'BAD_USER_INPUT')
    t.equal((await h.gql('{ __typename }')).body.data?.__typename, 'Query', '__typename stays: Apollo Client adds it everywhere')
    t.equal((await h.app.inject({ method: 'GET', url: '/graphiql' })).statusCode, 404, 'no GraphiQL')
    const typo = await h.gql('{ mee { id } }')
    t.equal(codeOf(typo), 'BAD_USER_INPUT')
    t.notMatch(typo.body.errors?.[0]?.message, /Did you mean/, 'no suggestions')
    const typoArg = await h.gql('{ checkMobile(mobil: "1") { mobile } }')
    t.notMatch(JSON.stringify(typoArg.body), /Did you mean/)

    // An internal failure: the store breaks. The client sees a generic error, the log the cause.
    const fail = async () => {
      throw new Error('connection to 10.0.0.7:6379 lost at /srv/app/secret-path.ts:42')
    }
    const broken: Store = {
      kind: 'memory',
      set: fail, take: fail, reserve: fail, release: fail, clear: fail,
      gate: fail, putRecord: fail, attempt: fail, deleteIf: fail,
      ping: async () => false,
      close: async () => {},
    }
    const b = await buildTestApp('real', production, { store: broken })
    t.teardown(() => b.close())
    const res = await b.app.inject({ method: 'POST', url: '/graphql', payload: { query: 'mutation { requestImageCaptcha { id } }' } })
    const text = res.body
    t.equal(res.json().errors[0].extensions.code, 'INTERNAL_SERVER_ERROR')
    t.equal(res.json().errors[0].message, 'Internal server error')
    t.notMatch(text, /10\.0\.0\.7|secret-path|stack|\.ts:/, 'nothing internal reaches the client')
    t.ok(b.logs.some((l) => l.includes('secret-path')), 'the cause is in the log')
  })
}
