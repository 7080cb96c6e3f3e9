import t from 'tap'
import bcrypt from 'bcrypt'
import { createHash } from 'node:crypto'
import { backends, buildTestApp, e164, freshMobile, type TestApp } from '../helpers/app.js'
import {
  CHANGE,
  codeOf,
  LOGIN,
  loginWithPassword,
  me,
  PASSWORD,
  REGISTER,
  requestCode,
  RESET,
  signUp,
  bearer,
  type Payload,
} from '../helpers/accounts.js'

for (const backend of backends) {
  t.test(`accounts on ${backend}`, async (t) => {
    const h: TestApp = await buildTestApp(backend, { SMS_IP_HOURLY_LIMIT: '100000' })
    t.teardown(() => h.close())

    t.test('register signs the user in', async (t) => {
      const local = freshMobile()
      const reg = await signUp(h, { local })
      t.equal(reg.user.mobile, e164(local))
      t.equal(reg.user.nickname, `${local.slice(0, 3)}****${local.slice(-4)}`, 'default nickname masks the number')
      t.equal(reg.user.avatarUrl, null)
      t.ok(reg.user.lastLoginAt)
      t.match(reg.refreshToken, /^[0-9a-f-]{36}\.0\.[A-Za-z0-9_-]{43}$/)
      t.equal(new Date(reg.accessTokenExpiresAt).getTime(), Math.floor(h.clock.now() / 1000) * 1000 + 900_000)
      const who = await me(h, reg.accessToken)
      t.same(who.body.data?.me, { id: reg.user.id, mobile: e164(local), nickname: reg.user.nickname, lastLoginAt: reg.user.lastLoginAt })
      const stored = await h.app.db.user.findUniqueOrThrow({ where: { id: reg.user.id } })
      t.match(stored.passwordHash, /^\$2b\$04\$/, 'bcrypt at BCRYPT_COST')
      const session = await h.app.db.session.findFirstOrThrow({ where: { userId: reg.user.id } })
      t.equal(session.refreshTokenHash, createHash('sha256').update(reg.refreshToken!).digest('hex'), 'only the hash is stored')
    })

    t.test('a nickname is kept, trimmed and bounded', async (t) => {
      t.equal((await signUp(h, { nickname: '  小明  ' })).user.nickname, '小明')
      const local = freshMobile()
      const smsCode = await requestCode(h, local, 'REGISTER')
      const res = await h.gql(REGISTER, { input: { mobile: local, smsCode, password: PASSWORD, nickname: 'x'.repeat(33) } })
      t.equal(codeOf(res), 'BAD_USER_INPUT')
    })

    t.test('weak passwords are WEAK_PASSWORD and leave the code usable', async (t) => {
      const local = freshMobile()
      const smsCode = await requestCode(h, local, 'REGISTER')
      for (const password of ['short1!', 'x'.repeat(65), 'password123', 'qwertyuiop', 'iloveyou', local, e164(local), `86${local}`, `${local.slice(0, 3)} ${local.slice(3, 7)} ${local.slice(7)}`]) {
        const res = await h.gql(REGISTER, { input: { mobile: local, smsCode, password } })
        t.equal(codeOf(res), 'WEAK_PASSWORD', password.slice(0, 20))
      }
      const ok = await h.gql(REGISTER, { input: { mobile: local, smsCode, password: '密码很长很安全的一句话' } })
      t.notOk(ok.body.errors, 'the same code still registers; 8+ characters of any script count')
    })

    t.test('a wrong or reused code is SMS_CODE_INVALID; a registered number is MOBILE_TAKEN', async (t) => {
      const local = freshMobile()
      const smsCode = await requestCode(h, local, 'REGISTER')
      const wrong = smsCode === '000000' ? '111111' : '000000'
      t.equal(codeOf(await h.gql(REGISTER, { input: { mobile: local, smsCode: wrong, password: PASSWORD } })), 'SMS_CODE_INVALID')
      t.notOk((await h.gql(REGISTER, { input: { mobile: local, smsCode, password: PASSWORD } })).body.errors)
      t.equal(codeOf(await h.gql(REGISTER, { input: { mobile: local, smsCode, password: PASSWORD } })), 'SMS_CODE_INVALID', 'consumed')
      const taken = await requestCode(h, freshMobile(), 'LOGIN').then(() => null)
      t.equal(taken, null)
      t.equal(codeOf(await h.gql(REGISTER, { input: { mobile: 'abc', smsCode, password: PASSWORD } })), 'INVALID_MOBILE')
    })

    t.test('two concurrent registrations of one number create exactly one account', async (t) => {
      const local = freshMobile()
      const smsCode = await requestCode(h, local, 'REGISTER')
      const results = await Promise.all(
        Array.from({ length: 5 }, () => h.gql(REGISTER, { input: { mobile: local, smsCode, password: PASSWORD } })),
      )
      t.equal(results.filter((r) => !r.body.errors).length, 1)
      for (const r of results.filter((r) => r.body.errors)) t.ok(['MOBILE_TAKEN', 'SMS_CODE_INVALID'].includes(codeOf(r)), codeOf(r))
      t.equal(await h.app.db.user.count({ where: { mobile: e164(local) } }), 1)
      t.equal(await h.app.db.session.count({ where: { user: { mobile: e164(local) } } }), 1, 'and one session')
    })

    t.test('passwords longer than 72 bytes do not collide', async (t) => {
      const prefix = '长'.repeat(24) // 72 bytes of UTF-8 in 24 characters
      const reg = await signUp(h, { password: `${prefix}A` })
      t.equal(codeOf(await loginWithPassword(h, reg.local, `${prefix}B`)), 'INVALID_CREDENTIALS')
      t.notOk((await loginWithPassword(h, reg.local, `${prefix}A`)).body.errors)
    })

    t.test('password login, and the same answer for unknown numbers and wrong passwords', async (t) => {
      const reg = await signUp(h)
      h.clock.advance(5000)
      const ok = await loginWithPassword(h, reg.local)
      t.equal(ok.body.data?.login.user.id, reg.user.id)
      t.equal(ok.body.data?.login.user.lastLoginAt, new Date(h.clock.now()).toISOString(), 'lastLoginAt moves')
      const wrong = await loginWithPassword(h, reg.local, 'not-the-password-1')
      const unknown = await loginWithPassword(h, freshMobile(), 'not-the-password-1')
      t.equal(codeOf(wrong), 'INVALID_CREDENTIALS')
      t.same(wrong.body.errors?.[0], unknown.body.errors?.[0], 'identical errors')
      t.equal(codeOf(await h.gql(LOGIN, { input: { method: 'PASSWORD', mobile: reg.local } })), 'BAD_USER_INPUT')
      t.equal(codeOf(await loginWithPassword(h, reg.local, 'x'.repeat(5000))), 'INVALID_CREDENTIALS')
    })

    t.test('captcha after 3 failures, lock after 10, success clears', async (t) => {
      const reg = await signUp(h)
      for (let i = 1; i <= 3; i++) t.equal(codeOf(await loginWithPassword(h, reg.local, 'wrong-password-1')), 'INVALID_CREDENTIALS', `failure ${i}`)
      t.equal(codeOf(await loginWithPassword(h, reg.local, 'wrong-password-1')), 'CAPTCHA_REQUIRED')
      t.equal(codeOf(await loginWithPassword(h, reg.local)), 'CAPTCHA_REQUIRED', 'even with the right password')
      const bad = await loginWithPassword(h, reg.local, PASSWORD, { captchaId: (await h.captcha()).captchaId, captchaText: 'nope' })
      t.equal(codeOf(bad), 'CAPTCHA_INVALID')
      for (let i = 4; i <= 10; i++) {
        t.equal(codeOf(await loginWithPassword(h, reg.local, 'wrong-password-1', await h.captcha())), 'INVALID_CREDENTIALS', `failure ${i}`)
      }
      const locked = await loginWithPassword(h, reg.local, PASSWORD, await h.captcha())
      t.equal(codeOf(locked), 'RATE_LIMITED', 'locked: even the right password is refused')
      t.equal(locked.body.errors![0]!.extensions.retryAfter, 900)
      h.clock.advance(900_000)
      const after = await loginWithPassword(h, reg.local, PASSWORD, await h.captcha())
      t.notOk(after.body.errors, 'the lock ends after LOGIN_LOCK_SECONDS')
      t.notOk((await loginWithPassword(h, reg.local)).body.errors, 'success cleared the failures: no captcha needed')
    })

    t.test('unknown numbers are counted and locked the same way', async (t) => {
      const local = freshMobile()
      for (let i = 1; i <= 3; i++) await loginWithPassword(h, local, 'whatever-123')
      t.equal(codeOf(await loginWithPassword(h, local, 'whatever-123')), 'CAPTCHA_REQUIRED')
    })

    t.test('a hash made at an older cost is re-hashed on login', async (t) => {
      const local = freshMobile()
      const prehashed = createHash('sha256').update(PASSWORD).digest('base64')
      const user = await h.app.db.user.create({ data: { mobile: e164(local), nickname: 'old', passwordHash: await bcrypt.hash(prehashed, 5) } })
      t.notOk((await loginWithPassword(h, local)).body.errors)
      const after = await h.app.db.user.findUniqueOrThrow({ where: { id: user.id } })
      t.equal(bcrypt.getRounds(after.passwordHash!), 4, 'now at BCRYPT_COST')
      t.notOk((await loginWithPassword(h, local)).body.errors, 'and still the same password')
    })

    t.test('SMS code login creates a code-only account, then signs in to it', async (t) => {
      const local = freshMobile()
      const smsCode = await requestCode(h, local, 'LOGIN')
      const first = await h.gql<{ login: Payload }>(LOGIN, { input: { method: 'SMS_CODE', mobile: local, smsCode } })
      const user = first.body.data!.login.user
      t.equal(user.mobile, e164(local))
      t.equal((await h.app.db.user.findUniqueOrThrow({ where: { id: user.id } })).passwordHash, null, 'no password yet')
      t.equal(codeOf(await h.gql(LOGIN, { input: { method: 'SMS_CODE', mobile: local, smsCode } })), 'SMS_CODE_INVALID', 'code consumed')
      const again = await h.gql<{ login: Payload }>(LOGIN, { input: { method: 'SMS_CODE', mobile: local, smsCode: await requestCode(h, local, 'LOGIN') } })
      t.equal(again.body.data?.login.user.id, user.id, 'the same account')
      t.equal(codeOf(await loginWithPassword(h, local, 'anything-at-all')), 'INVALID_CREDENTIALS', 'no password to sign in with')
      const set = await h.gql(CHANGE, { input: { newPassword: 'First-Password-9' } }, bearer(first.body.data!.login.accessToken))
      t.notOk(set.body.errors, 'a code-only account sets a password without a current one')
      t.notOk((await loginWithPassword(h, local, 'First-Password-9')).body.errors)
      t.equal(codeOf(await h.gql(LOGIN, { input: { method: 'SMS_CODE', mobile: local } })), 'BAD_USER_INPUT')
    })

    t.test('concurrent SMS code logins for a new number make one account', async (t) => {
      const local = freshMobile()
      const smsCode = await requestCode(h, local, 'LOGIN')
      const results = await Promise.all(
        Array.from({ length: 5 }, () => h.gql(LOGIN, { input: { method: 'SMS_CODE', mobile: local, smsCode } })),
      )
      t.equal(results.filter((r) => !r.body.errors).length, 1)
      t.equal(await h.app.db.user.count({ where: { mobile: e164(local) } }), 1)
    })

    t.test('resetPassword ends every session and signs in afresh', async (t) => {
      const reg = await signUp(h)
      const other = (await loginWithPassword(h, reg.local)).body.data!.login
      const smsCode = await requestCode(h, reg.local, 'RESET_PASSWORD')
      t.equal(codeOf(await h.gql(RESET, { input: { mobile: reg.local, smsCode, newPassword: '12345678' } })), 'WEAK_PASSWORD')
      const res = await h.gql<{ resetPassword: Payload }>(RESET, { input: { mobile: reg.local, smsCode, newPassword: 'Brand-New-Pass-2' } })
      t.notOk(res.body.errors, 'the code survived the weak attempt')
      t.equal(codeOf(await me(h, reg.accessToken)), 'UNAUTHENTICATED', 'first device signed out')
      t.equal(codeOf(await me(h, other.accessToken)), 'UNAUTHENTICATED', 'second device signed out')
      t.equal((await me(h, res.body.data!.resetPassword.accessToken)).body.data?.me?.id, reg.user.id, 'new session works')
      t.equal(codeOf(await loginWithPassword(h, reg.local)), 'INVALID_CREDENTIALS', 'old password gone')
      t.notOk((await loginWithPassword(h, reg.local, 'Brand-New-Pass-2')).body.errors)
      t.equal(codeOf(await h.gql(RESET, { input: { mobile: reg.local, smsCode, newPassword: 'Another-Pass-3' } })), 'SMS_CODE_INVALID', 'code used')
    })

    t.test('a password sign-in racing a reset never leaves a session the reset missed', async (t) => {
      for (let round = 0; round < 8; round++) {
        const reg = await signUp(h)
        const smsCode = await requestCode(h, reg.local, 'RESET_PASSWORD')
        const [login, reset] = await Promise.all([
          loginWithPassword(h, reg.local),
          h.gql<{ resetPassword: Payload }>(RESET, { input: { mobile: reg.local, smsCode, newPassword: `Reset-Race-${round}-x` } }),
        ])
        t.notOk(reset.body.errors, `round ${round}: reset ok`)
        const live = await h.app.db.session.findMany({ where: { userId: reg.user.id, revokedAt: null } })
        t.equal(live.length, 1, `round ${round}: only the reset's own session is live (login ${codeOf(login) ?? 'ok'})`)
        if (login.body.data?.login) t.equal(codeOf(await me(h, login.body.data.login.accessToken)), 'UNAUTHENTICATED')
      }
    })

    t.test('changePassword needs the current password, counts failures, ends the other sessions', async (t) => {
      const reg = await signUp(h)
      const other = (await loginWithPassword(h, reg.local)).body.data!.login
      const auth = bearer(reg.accessToken)
      t.equal(codeOf(await h.gql(CHANGE, { input: { currentPassword: 'wrong-one-1', newPassword: 'Next-Password-4' } }, auth)), 'INVALID_CREDENTIALS')
      t.equal(codeOf(await h.gql(CHANGE, { input: { newPassword: 'Next-Password-4' } }, auth)), 'INVALID_CREDENTIALS', 'current password required')
      t.equal(codeOf(await h.gql(CHANGE, { input: { currentPassword: PASSWORD, newPassword: 'password' } }, auth)), 'WEAK_PASSWORD')
      t.notOk((await h.gql(CHANGE, { input: { currentPassword: PASSWORD, newPassword: 'Next-Password-4' } }, auth)).body.errors)
      t.ok((await me(h, reg.accessToken)).body.data?.me, 'this session goes on')
      t.equal(codeOf(await me(h, other.accessToken)), 'UNAUTHENTICATED', 'the other session ended')
      t.notOk((await loginWithPassword(h, reg.local, 'Next-Password-4')).body.errors)
      t.equal(codeOf(await h.gql(CHANGE, { input: { currentPassword: PASSWORD, newPassword: 'Next-Password-5' } })), 'UNAUTHENTICATED', 'needs a token')
    })

    t.test('changePassword failures count towards the lock', async (t) => {
      const reg = await signUp(h)
      const auth = bearer(reg.accessToken)
      for (let i = 0; i < 10; i++) {
        t.equal(codeOf(await h.gql(CHANGE, { input: { currentPassword: 'wrong-one-1', newPassword: 'Next-Password-4' } }, auth)), 'INVALID_CREDENTIALS')
      }
      t.equal(codeOf(await h.gql(CHANGE, { input: { currentPassword: PASSWORD, newPassword: 'Next-Password-4' } }, auth)), 'RATE_LIMITED')
      t.equal(codeOf(await loginWithPassword(h, reg.local, PASSWORD, await h.captcha())), 'RATE_LIMITED', 'and lock password login')
    })
  })
}
