import t from 'tap'
import { backends, buildTestApp, CHECK_MOBILE, e164, freshMobile, SEND_SMS, type TestApp } from '../helpers/app.js'

const CAPTCHA = 'mutation { requestImageCaptcha { id svg expiresAt } }'

for (const backend of backends) {
  t.test(`verification flow on ${backend}`, async (t) => {
    const h: TestApp = await buildTestApp(backend, { SMS_IP_HOURLY_LIMIT: '1000' })
    t.teardown(() => h.close())

    const send = async (mobile: string, purpose = 'REGISTER', captcha?: { captchaId: string; captchaText: string }) =>
      h.gql(SEND_SMS, { input: { mobile, purpose, ...(captcha ?? (await h.captcha())) } })

    t.test('checkMobile reads local and international forms and answers E.164', async (t) => {
      for (const input of ['13800138000', '+8613800138000', '+86 138 0013 8000', '008613800138000', '138-0013-8000', ' 13800138000 ', '１３８００１３８０００']) {
        const res = await h.gql(CHECK_MOBILE, { mobile: input })
        t.same(res.body, { data: { checkMobile: { mobile: '+8613800138000', registered: false } } }, input)
      }
      const us = await h.gql(CHECK_MOBILE, { mobile: '+1 650 253 0000' })
      t.equal(us.body.data?.checkMobile.mobile, '+16502530000', 'other regions are fine for checkMobile')
    })

    t.test('checkMobile refuses what is not a mobile number', async (t) => {
      for (const input of ['', '12345', 'abc', '010-12345678', '+86', '1380013800O', '+8613800138000000', 'x'.repeat(10_000), '1'.repeat(10_000), '13800138000; DROP TABLE users', '+86 138\u0000 0013 8000']) {
        const res = await h.gql(CHECK_MOBILE, { mobile: input })
        t.equal(res.status, 200)
        t.equal(res.body.errors?.[0]?.extensions.code, 'INVALID_MOBILE', JSON.stringify(input.slice(0, 30)))
        t.equal(res.body.data, null)
      }
    })

    t.test('checkMobile sees registered numbers', async (t) => {
      const local = freshMobile()
      await h.app.db.user.create({ data: { mobile: e164(local), nickname: 'x' } })
      t.teardown(() => h.app.db.user.delete({ where: { mobile: e164(local) } }))
      const res = await h.gql(CHECK_MOBILE, { mobile: local })
      t.same(res.body.data, { checkMobile: { mobile: e164(local), registered: true } })
    })

    t.test('requestImageCaptcha gives an SVG, an id and an expiry', async (t) => {
      const res = await h.gql(CAPTCHA)
      const c = res.body.data.requestImageCaptcha
      t.match(c.svg, /^<svg/)
      t.match(c.id, /^[0-9a-f-]{36}$/)
      t.equal(new Date(c.expiresAt).getTime(), h.clock.now() + 300_000)
      const other = await h.gql(CAPTCHA)
      t.not(other.body.data.requestImageCaptcha.id, c.id)
    })

    t.test('a captcha is case-insensitive and single use', async (t) => {
      const { captchaId } = await h.captcha()
      const ok = await send(freshMobile(), 'LOGIN', { captchaId, captchaText: 'aBcD' })
      t.notOk(ok.body.errors, 'the answer in another case passes')
      const again = await send(freshMobile(), 'LOGIN', { captchaId, captchaText: 'AbCd' })
      t.equal(again.body.errors?.[0]?.extensions.code, 'CAPTCHA_INVALID', 'a used captcha fails')
    })

    t.test('a wrong answer consumes the captcha', async (t) => {
      const { captchaId } = await h.captcha()
      const wrong = await send(freshMobile(), 'LOGIN', { captchaId, captchaText: 'zzzz' })
      t.equal(wrong.body.errors?.[0]?.extensions.code, 'CAPTCHA_INVALID')
      const right = await send(freshMobile(), 'LOGIN', { captchaId, captchaText: 'AbCd' })
      t.equal(right.body.errors?.[0]?.extensions.code, 'CAPTCHA_INVALID')
    })

    t.test('an expired captcha fails', async (t) => {
      const c = await h.captcha()
      h.clock.advance(300_000)
      const res = await send(freshMobile(), 'LOGIN', c)
      t.equal(res.body.errors?.[0]?.extensions.code, 'CAPTCHA_INVALID')
    })

    t.test('unknown, malformed and huge captcha input fails cleanly', async (t) => {
      for (const captchaId of ['00000000-0000-4000-8000-000000000000', 'nope', '', 'x'.repeat(10_000)]) {
        const res = await send(freshMobile(), 'LOGIN', { captchaId, captchaText: 'AbCd' })
        t.equal(res.body.errors?.[0]?.extensions.code, 'CAPTCHA_INVALID')
      }
      const c = await h.captcha()
      const huge = await send(freshMobile(), 'LOGIN', { ...c, captchaText: 'A'.repeat(10_000) })
      t.equal(huge.body.errors?.[0]?.extensions.code, 'CAPTCHA_INVALID')
    })

    t.test('one captcha used concurrently passes at most once', async (t) => {
      const c = await h.captcha()
      const results = await Promise.all(Array.from({ length: 10 }, () => send(freshMobile(), 'LOGIN', c)))
      t.equal(results.filter((r) => !r.body.errors).length, 1)
      t.ok(results.filter((r) => r.body.errors).every((r) => r.body.errors![0]!.extensions.code === 'CAPTCHA_INVALID'))
    })

    t.test('sendSmsCode sends 6 digits to the number and answers a receipt', async (t) => {
      const local = freshMobile()
      const res = await send(local, 'REGISTER')
      const now = h.clock.now()
      t.same(res.body.data, {
        sendSmsCode: {
          mobile: e164(local),
          expiresAt: new Date(now + 300_000).toISOString(),
          resendAfter: new Date(now + 60_000).toISOString(),
        },
      })
      const code = await h.lastCode(e164(local), 'REGISTER')
      t.match(code, /^\d{6}$/)
    })

    t.test('the code is stored only as a hash, and verifies once', async (t) => {
      const local = freshMobile()
      await send(local, 'LOGIN')
      const code = (await h.lastCode(e164(local)))!
      const verified = await h.app.services.smsCodes.verify(e164(local), 'LOGIN', code)
      t.equal(await verified.consume(), true)
      t.equal(await verified.consume(), false, 'consumed once')
      await t.rejects(h.app.services.smsCodes.verify(e164(local), 'LOGIN', code), { code: 'SMS_CODE_INVALID' })
    })

    t.test('a code is bound to its number and purpose', async (t) => {
      const local = freshMobile()
      await send(local, 'LOGIN')
      const code = (await h.lastCode(e164(local)))!
      await t.rejects(h.app.services.smsCodes.verify(e164(local), 'REGISTER', code), { code: 'SMS_CODE_INVALID' })
      await t.rejects(h.app.services.smsCodes.verify(e164(freshMobile()), 'LOGIN', code), { code: 'SMS_CODE_INVALID' })
      t.ok(await h.app.services.smsCodes.verify(e164(local), 'LOGIN', code), 'still good for its own number and purpose')
    })

    t.test("a code's 6th try fails even with the right code", async (t) => {
      const local = freshMobile()
      await send(local, 'LOGIN')
      const code = (await h.lastCode(e164(local)))!
      const wrong = code === '000000' ? '111111' : '000000'
      for (let i = 0; i < 5; i++) {
        await t.rejects(h.app.services.smsCodes.verify(e164(local), 'LOGIN', wrong), { code: 'SMS_CODE_INVALID' })
      }
      await t.rejects(h.app.services.smsCodes.verify(e164(local), 'LOGIN', code), { code: 'SMS_CODE_INVALID' })
    })

    t.test('the 5th try may still be the right one', async (t) => {
      const local = freshMobile()
      await send(local, 'LOGIN')
      const code = (await h.lastCode(e164(local)))!
      const wrong = code === '000000' ? '111111' : '000000'
      for (let i = 0; i < 4; i++) {
        await t.rejects(h.app.services.smsCodes.verify(e164(local), 'LOGIN', wrong))
      }
      t.ok(await h.app.services.smsCodes.verify(e164(local), 'LOGIN', code))
    })

    t.test('malformed codes are refused without a server error', async (t) => {
      for (const code of ['', '12345', '1234567', 'abcdef', '12345a', ' 123456', '１２３４５６', 'x'.repeat(10_000)]) {
        await t.rejects(h.app.services.smsCodes.verify('+8613800138000', 'LOGIN', code), { code: 'SMS_CODE_INVALID' })
      }
    })

    t.test('a code expires after its TTL', async (t) => {
      const local = freshMobile()
      await send(local, 'LOGIN')
      const code = (await h.lastCode(e164(local)))!
      h.clock.advance(300_000)
      await t.rejects(h.app.services.smsCodes.verify(e164(local), 'LOGIN', code), { code: 'SMS_CODE_INVALID' })
    })

    t.test('a new code replaces the previous one', async (t) => {
      const local = freshMobile()
      await send(local, 'LOGIN')
      const first = (await h.lastCode(e164(local)))!
      h.clock.advance(60_000)
      await send(local, 'LOGIN')
      const second = (await h.lastCode(e164(local)))!
      if (first !== second) {
        await t.rejects(h.app.services.smsCodes.verify(e164(local), 'LOGIN', first), { code: 'SMS_CODE_INVALID' })
      }
      t.ok(await h.app.services.smsCodes.verify(e164(local), 'LOGIN', second))
    })

    t.test('one send per number per SMS_RESEND_SECONDS', async (t) => {
      const local = freshMobile()
      t.notOk((await send(local, 'LOGIN')).body.errors)
      h.clock.advance(20_000)
      const again = await send(local, 'REGISTER')
      t.equal(again.body.errors?.[0]?.extensions.code, 'RATE_LIMITED', 'across purposes too')
      const again2 = await send(local, 'LOGIN')
      t.equal(again2.body.errors?.[0]?.extensions.code, 'RATE_LIMITED')
      t.equal(again2.body.errors?.[0]?.extensions.retryAfter, 40)
      h.clock.advance(40_000)
      t.notOk((await send(local, 'LOGIN')).body.errors, 'allowed once the cooldown passed')
    })

    t.test('hourly and daily limits per number', async (t) => {
      const local = freshMobile()
      for (let i = 0; i < 5; i++) {
        t.notOk((await send(local, 'LOGIN')).body.errors, `send ${i + 1}`)
        h.clock.advance(60_000)
      }
      const sixth = await send(local, 'LOGIN')
      t.equal(sixth.body.errors?.[0]?.extensions.code, 'RATE_LIMITED')
      // the first send left the window 300 s ago; it frees a slot 3600 s after it was made
      t.equal(sixth.body.errors?.[0]?.extensions.retryAfter, 3600 - 300)
      h.clock.advance(3_600_000)
      for (let i = 0; i < 5; i++) {
        t.notOk((await send(local, 'LOGIN')).body.errors, `second hour, send ${i + 1}`)
        h.clock.advance(60_000)
      }
      h.clock.advance(3_600_000)
      const eleventh = await send(local, 'LOGIN')
      t.equal(eleventh.body.errors?.[0]?.extensions.code, 'RATE_LIMITED', 'the daily limit of 10 holds')
      t.ok(eleventh.body.errors![0]!.extensions.retryAfter > 3600 * 20)
    })

    t.test('REGISTER for a registered number is MOBILE_TAKEN; RESET_PASSWORD for an unknown one MOBILE_NOT_REGISTERED', async (t) => {
      const local = freshMobile()
      await h.app.db.user.create({ data: { mobile: e164(local), nickname: 'x' } })
      t.teardown(() => h.app.db.user.delete({ where: { mobile: e164(local) } }))
      t.equal((await send(local, 'REGISTER')).body.errors?.[0]?.extensions.code, 'MOBILE_TAKEN')
      t.equal((await send(freshMobile(), 'RESET_PASSWORD')).body.errors?.[0]?.extensions.code, 'MOBILE_NOT_REGISTERED')
      t.notOk((await send(local, 'RESET_PASSWORD')).body.errors)
      t.notOk((await send(freshMobile(), 'LOGIN')).body.errors, 'LOGIN works for any number')
    })

    t.test('numbers outside SMS_ALLOWED_REGIONS are INVALID_MOBILE', async (t) => {
      for (const mobile of ['+1 650 253 0000', '+44 7911 123456', '+852 5123 4567']) {
        t.equal((await send(mobile, 'LOGIN')).body.errors?.[0]?.extensions.code, 'INVALID_MOBILE', mobile)
      }
      t.equal((await send('010-12345678', 'LOGIN')).body.errors?.[0]?.extensions.code, 'INVALID_MOBILE', 'fixed line')
    })

    t.test('20 concurrent sends for one number with 20 valid captchas: exactly one accepted', async (t) => {
      const local = freshMobile()
      const captchas = await Promise.all(Array.from({ length: 20 }, () => h.captcha()))
      const results = await Promise.all(captchas.map((c) => send(local, 'LOGIN', c)))
      t.equal(results.filter((r) => !r.body.errors).length, 1)
      t.ok(results.filter((r) => r.body.errors).every((r) => r.body.errors![0]!.extensions.code === 'RATE_LIMITED'))
      t.equal((await h.outbox()).filter((r) => r.mobile === e164(local)).length, 1, 'one SMS went out')
    })

    t.test('invalid enum and missing fields are BAD_USER_INPUT', async (t) => {
      const c = await h.captcha()
      const bad = await h.gql(SEND_SMS, { input: { mobile: '13800138000', purpose: 'SPAM', ...c } })
      t.equal(bad.status, 400)
      t.equal(bad.body.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
      const missing = await h.gql(SEND_SMS, { input: { mobile: '13800138000' } })
      t.equal(missing.body.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
      const wrongType = await h.gql(CHECK_MOBILE, { mobile: 13800138000 })
      t.equal(wrongType.body.errors?.[0]?.extensions.code, 'BAD_USER_INPUT')
    })
  })
}
