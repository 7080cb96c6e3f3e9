import t from 'tap'
import { createHmac, generateKeyPairSync, createSign } from 'node:crypto'
import { createSigner } from 'fast-jwt'
import { backends, buildTestApp, type TestApp } from '../helpers/app.js'
import { bearer, codeOf, LOGOUT, loginWithPassword, me, REFRESH, signUp, type Payload, LOGIN } from '../helpers/accounts.js'
import { deriveKey } from '../../src/lib/crypto.js'
import { resolveServerSecret } from '../../src/infra/secrets.js'

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')

for (const backend of backends) {
  t.test(`sessions and tokens on ${backend}`, async (t) => {
    const h: TestApp = await buildTestApp(backend, { SMS_IP_HOURLY_LIMIT: '100000' })
    t.teardown(() => h.close())
    const refresh = (token?: string, headers?: Record<string, string>, delivery?: string) =>
      h.gql<{ refreshToken: Payload }>(REFRESH, { token, delivery }, headers)

    t.test('refreshToken rotates: a new pair, the old refresh token spent', async (t) => {
      const reg = await signUp(h)
      h.clock.advance(1000)
      const next = await refresh(reg.refreshToken!)
      const pair = next.body.data!.refreshToken
      t.not(pair.refreshToken, reg.refreshToken)
      t.not(pair.accessToken, reg.accessToken)
      t.equal(pair.user.id, reg.user.id)
      t.equal(new Date(pair.refreshTokenExpiresAt).getTime(), h.clock.now() + 2_592_000_000, 'sliding expiry')
      t.ok((await me(h, pair.accessToken)).body.data?.me)
      const third = await refresh(pair.refreshToken!)
      t.notOk(third.body.errors, 'the successor rotates in turn')
    })

    t.test('within the grace window a retried token gets the same successor', async (t) => {
      const reg = await signUp(h)
      const first = (await refresh(reg.refreshToken!)).body.data!.refreshToken
      h.clock.advance(9_000)
      const retry = (await refresh(reg.refreshToken!)).body.data!.refreshToken
      t.equal(retry.refreshToken, first.refreshToken, 'same successor')
      t.ok((await refresh(first.refreshToken!)).body.data, 'and the successor still works')
    })

    t.test('reuse after the grace window ends the whole session', async (t) => {
      const reg = await signUp(h)
      const first = (await refresh(reg.refreshToken!)).body.data!.refreshToken
      h.clock.advance(10_001)
      t.equal(codeOf(await refresh(reg.refreshToken!)), 'UNAUTHENTICATED')
      t.equal(codeOf(await refresh(first.refreshToken!)), 'UNAUTHENTICATED', 'the successor is dead too')
      t.equal(codeOf(await me(h, first.accessToken)), 'UNAUTHENTICATED', 'and its access token')
      const row = await h.app.db.session.findFirstOrThrow({ where: { userId: reg.user.id } })
      t.equal(row.revokedReason, 'refresh_token_reuse')
      t.ok(h.logs.some((l) => l.includes('session.reuse_detected')), 'audit event logged')
    })

    t.test('a token from further back is also reuse', async (t) => {
      const reg = await signUp(h)
      const a = (await refresh(reg.refreshToken!)).body.data!.refreshToken
      const b = (await refresh(a.refreshToken!)).body.data!.refreshToken
      t.ok(b.refreshToken)
      t.equal(codeOf(await refresh(reg.refreshToken!)), 'UNAUTHENTICATED', 'two generations back, within seconds')
      t.equal(codeOf(await refresh(b.refreshToken!)), 'UNAUTHENTICATED', 'session ended')
    })

    t.test('20 concurrent refreshes of one token yield one successor pair', async (t) => {
      const reg = await signUp(h)
      const results = await Promise.all(Array.from({ length: 20 }, () => refresh(reg.refreshToken!)))
      const tokens = new Set(results.map((r) => r.body.data?.refreshToken.refreshToken))
      t.equal(tokens.size, 1, 'every caller got the same refresh token')
      t.notOk(tokens.has(undefined), 'and no caller failed')
      const row = await h.app.db.session.findFirstOrThrow({ where: { userId: reg.user.id } })
      t.equal(row.generation, 1, 'rotated exactly once')
      t.equal(row.revokedAt, null)
    })

    t.test('forged and malformed refresh tokens fail without ending anyone else\'s session', async (t) => {
      const reg = await signUp(h)
      const [sid] = reg.refreshToken!.split('.')
      for (const token of [`${sid}.0.${'A'.repeat(43)}`, `${sid}.5.${'A'.repeat(43)}`, `${sid}.999999999.${'A'.repeat(43)}`, 'nope', '', 'x'.repeat(10_000), reg.accessToken]) {
        t.equal(codeOf(await refresh(token)), 'UNAUTHENTICATED', token.slice(0, 30))
      }
      t.notOk((await refresh(reg.refreshToken!)).body.errors, 'the real session is untouched')
    })

    t.test('refresh tokens expire', async (t) => {
      const reg = await signUp(h)
      h.clock.advance(2_592_000_000)
      t.equal(codeOf(await refresh(reg.refreshToken!)), 'UNAUTHENTICATED')
    })

    t.test('cookie delivery: HttpOnly __Host- cookie, null in the body, read back without an argument', async (t) => {
      const reg = await signUp(h)
      const res = await h.app.inject({
        method: 'POST',
        url: '/graphql',
        payload: { query: LOGIN, variables: { input: { method: 'PASSWORD', mobile: reg.local, password: 'Correct-Horse-7-Battery', refreshTokenDelivery: 'COOKIE' } } },
      })
      const body = res.json()
      t.equal(body.data.login.refreshToken, null)
      const setCookie = String(res.headers['set-cookie'])
      t.match(setCookie, /^__Host-refresh_token=[^;]+;/)
      for (const attr of ['HttpOnly', 'Secure', 'SameSite=Strict', 'Path=/']) t.match(setCookie, attr)
      const cookie = setCookie.split(';')[0]!
      const rotated = await h.app.inject({ method: 'POST', url: '/graphql', headers: { cookie }, payload: { query: REFRESH } })
      t.equal(rotated.json().data.refreshToken.refreshToken, null, 'a cookie refresh answers by cookie again')
      const next = String(rotated.headers['set-cookie']).split(';')[0]!
      t.not(next, cookie)
      const legacy = next.replace('__Host-refresh_token=', 'refresh_token=')
      const viaLegacy = await h.app.inject({ method: 'POST', url: '/graphql', headers: { cookie: legacy }, payload: { query: REFRESH, variables: { delivery: 'BODY' } } })
      t.ok(viaLegacy.json().data.refreshToken.refreshToken, 'the contract\'s refresh_token cookie is read too')
      t.equal(codeOf(await refresh()), 'UNAUTHENTICATED', 'no token and no cookie')
      const out = await h.app.inject({ method: 'POST', url: '/graphql', headers: bearer(body.data.login.accessToken), payload: { query: LOGOUT } })
      t.match(String(out.headers['set-cookie']), /__Host-refresh_token=;.*Expires=Thu, 01 Jan 1970/, 'logout clears the cookie')
    })

    t.test('logout ends this device only; allDevices ends them all', async (t) => {
      const reg = await signUp(h)
      const phone = reg
      const tablet = (await loginWithPassword(h, reg.local)).body.data!.login
      const laptop = (await loginWithPassword(h, reg.local)).body.data!.login
      t.same((await h.gql(LOGOUT, {}, bearer(phone.accessToken))).body, { data: { logout: true } })
      t.equal(codeOf(await me(h, phone.accessToken)), 'UNAUTHENTICATED', 'the ended session\'s access token is refused')
      t.equal(codeOf(await refresh(phone.refreshToken!)), 'UNAUTHENTICATED', 'and its refresh token')
      t.ok((await me(h, tablet.accessToken)).body.data?.me, 'the other device stays signed in')
      t.same((await h.gql(LOGOUT, { all: true }, bearer(tablet.accessToken))).body, { data: { logout: true } })
      t.equal(codeOf(await me(h, tablet.accessToken)), 'UNAUTHENTICATED')
      t.equal(codeOf(await me(h, laptop.accessToken)), 'UNAUTHENTICATED')
      t.equal(codeOf(await refresh(laptop.refreshToken!)), 'UNAUTHENTICATED')
      t.equal(codeOf(await h.gql(LOGOUT, {})), 'UNAUTHENTICATED', 'logout needs a token')
      t.equal(codeOf(await h.gql(LOGOUT, {}, bearer(laptop.accessToken))), 'UNAUTHENTICATED', 'an ended session cannot log out again')
    })

    t.test('me: null without a token, UNAUTHENTICATED for every bad one', async (t) => {
      t.same((await h.gql('{ me { id } }')).body, { data: { me: null } })
      const reg = await signUp(h)
      const [header, payload, signature] = reg.accessToken.split('.') as [string, string, string]
      const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
      const secret = resolveServerSecret(h.config)
      const key = deriveKey(secret, 'jwt-access-hs256')
      const hs = (hdr: object, body: object, k: Buffer | string = key) => {
        const input = `${b64(hdr)}.${b64(body)}`
        return `${input}.${createHmac('sha256', k).update(input).digest('base64url')}`
      }
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
      const rs = (() => {
        const input = `${b64({ alg: 'RS256', typ: 'at+jwt' })}.${b64(claims)}`
        return `${input}.${createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url')}`
      })()
      const pem = publicKey.export({ type: 'spki', format: 'pem' })
      const { exp: _exp, ...noExp } = claims
      const { sid: _sid, ...noSid } = claims
      const attacks: Record<string, string> = {
        'alg none': `${b64({ alg: 'none', typ: 'at+jwt' })}.${payload}.`,
        'alg none with signature': `${b64({ alg: 'none', typ: 'at+jwt' })}.${payload}.${signature}`,
        'RS256 with an attacker key': rs,
        'HS256 keyed with a public key (RS/HS confusion)': hs({ alg: 'HS256', typ: 'at+jwt' }, claims, String(pem)),
        'missing exp': hs({ alg: 'HS256', typ: 'at+jwt' }, noExp),
        'missing sid': hs({ alg: 'HS256', typ: 'at+jwt' }, noSid),
        'wrong audience': hs({ alg: 'HS256', typ: 'at+jwt' }, { ...claims, aud: 'someone-else' }),
        'wrong issuer': hs({ alg: 'HS256', typ: 'at+jwt' }, { ...claims, iss: 'evil' }),
        'wrong typ': hs({ alg: 'HS256', typ: 'JWT' }, claims),
        'tampered payload': `${header}.${b64({ ...claims, sub: '00000000-0000-4000-8000-000000000000' })}.${signature}`,
        'other secret': createSigner({ key: 'x'.repeat(32), algorithm: 'HS256', header: { alg: 'HS256', typ: 'at+jwt' } })(claims),
        'refresh token as access token': reg.refreshToken!,
        garbage: 'a.b.c',
      }
      for (const [name, token] of Object.entries(attacks)) {
        const res = await h.gql('{ me { id } }', {}, bearer(token))
        t.equal(codeOf(res), 'UNAUTHENTICATED', name)
      }
      t.equal(codeOf(await h.gql('{ me { id } }', {}, { authorization: 'Basic abc' })), 'UNAUTHENTICATED', 'not a bearer token')
      t.equal(codeOf(await h.gql('{ me { id } }', {}, { authorization: `Bearer ${reg.accessToken} extra` })), 'UNAUTHENTICATED')
      t.ok((await me(h, reg.accessToken)).body.data?.me, 'the genuine token still works')
      h.clock.advance(900_000)
      t.equal(codeOf(await me(h, reg.accessToken)), 'UNAUTHENTICATED', 'expired')
    })
  })
}
