import t from 'tap'
import { randomUUID } from 'node:crypto'
import { storeBackends } from '../helpers/backends.js'

// One suite, run against Redis and against the in-process store: both must keep the
// same atomic semantics, since the services cannot tell them apart.
for (const backend of storeBackends()) {
  t.test(`store: ${backend.name}`, async (t) => {
    const store = await backend.create()
    t.teardown(() => store.close())
    const tag = `{${randomUUID()}}`
    const now = 1_800_000_000_000

    t.test('set and take; take is single-use under concurrency', async (t) => {
      await store.set(`v:${tag}`, 'hello', 10_000)
      const taken = await Promise.all(Array.from({ length: 20 }, () => store.take(`v:${tag}`)))
      t.equal(taken.filter((v) => v === 'hello').length, 1, 'exactly one caller receives the value')
      t.equal(await store.take(`v:${tag}`), null)
      await store.set(`v2:${tag}`, 'old', 10_000)
      await store.set(`v2:${tag}`, 'new', 10_000)
      t.equal(await store.take(`v2:${tag}`), 'new', 'set replaces')
    })

    t.test('values expire after their TTL', async (t) => {
      await store.set(`short:${tag}`, 'x', 30)
      await new Promise((r) => setTimeout(r, 80))
      t.equal(await store.take(`short:${tag}`), null)
    })

    t.test('reserve holds every window at once and reports retryAfter of the fullest', async (t) => {
      const cooldown = { key: `r:${tag}:cool`, limit: 1, windowMs: 60_000 }
      const hour = { key: `r:${tag}:hour`, limit: 3, windowMs: 3_600_000 }
      t.same(await store.reserve('a', [cooldown, hour], now), { ok: true })
      const blocked = await store.reserve('b', [cooldown, hour], now + 1000)
      t.same(blocked, { ok: false, retryAfterMs: 59_000, key: cooldown.key })
      t.same(await store.reserve('b2', [hour], now + 1000), { ok: true }, 'a refused reservation records nothing in the other windows')
      await store.release('b2', [hour.key])
      t.same(await store.reserve('c', [cooldown, hour], now + 60_000), { ok: true }, 'cooldown slides')
      t.same(await store.reserve('d', [cooldown, hour], now + 120_000), { ok: true })
      const full = await store.reserve('e', [cooldown, hour], now + 180_000)
      t.same(full, { ok: false, retryAfterMs: 3_600_000 - 180_000, key: hour.key }, 'hourly frees when the oldest leaves')
      t.same(await store.reserve('f', [cooldown, hour], now + 3_600_000), { ok: true })
    })

    t.test('release takes back one reservation; clear forgets all', async (t) => {
      const w = { key: `rel:${tag}`, limit: 2, windowMs: 10_000 }
      await store.reserve('x', [w], now)
      await store.reserve('y', [w], now)
      t.equal((await store.reserve('z', [w], now)).ok, false)
      await store.release('x', [w.key])
      t.equal((await store.reserve('z', [w], now)).ok, true, 'the released slot is free again')
      t.equal((await store.reserve('z2', [w], now)).ok, false, 'and only that one')
      await store.clear([w.key])
      t.equal((await store.reserve('a', [w], now)).ok, true)
      t.equal((await store.reserve('b', [w], now)).ok, true, 'clear emptied the window')
    })

    t.test('windows of zero length never limit', async (t) => {
      const w = { key: `zero:${tag}`, limit: 1, windowMs: 0 }
      t.same(await store.reserve('a', [w], now), { ok: true })
      t.same(await store.reserve('b', [w], now), { ok: true })
    })

    t.test('concurrent reservations: exactly `limit` succeed', async (t) => {
      const w = { key: `conc:${tag}`, limit: 3, windowMs: 60_000 }
      const results = await Promise.all(Array.from({ length: 30 }, (_, i) => store.reserve(`id${i}`, [w], now)))
      t.equal(results.filter((r) => r.ok).length, 3)
    })

    t.test('records count attempts before returning fields, and expire by logical time', async (t) => {
      const key = `rec:${tag}`
      await store.putRecord(key, { h: 'hash', n: 'nonce1' }, now + 5000, 60_000)
      for (let i = 1; i <= 3; i++) t.same(await store.attempt(key, 3, now), { h: 'hash', n: 'nonce1' }, `attempt ${i}`)
      t.equal(await store.attempt(key, 3, now), null, 'the attempt past the maximum finds nothing')
      t.equal(await store.attempt(key, 3, now), null, 'and the record is gone')

      await store.putRecord(key, { h: 'hash', n: 'nonce2' }, now + 5000, 60_000)
      t.equal(await store.attempt(key, 3, now + 5000), null, 'expired at its logical expiry')

      await store.putRecord(key, { h: 'a', n: 'n3' }, now + 5000, 60_000)
      await store.attempt(key, 3, now)
      await store.putRecord(key, { h: 'b', n: 'n4' }, now + 5000, 60_000)
      for (let i = 0; i < 3; i++) t.ok(await store.attempt(key, 3, now), 'a replaced record starts its count afresh')
    })

    t.test('deleteIf consumes once, and only the matching record', async (t) => {
      const key = `del:${tag}`
      await store.putRecord(key, { n: 'one' }, now + 5000, 60_000)
      t.equal(await store.deleteIf(key, 'n', 'other'), false)
      const results = await Promise.all(Array.from({ length: 10 }, () => store.deleteIf(key, 'n', 'one')))
      t.equal(results.filter(Boolean).length, 1)
      t.equal(await store.attempt(key, 5, now), null)
    })

    t.test('concurrent attempts never exceed the maximum', async (t) => {
      const key = `att:${tag}`
      await store.putRecord(key, { h: 'x' }, now + 5000, 60_000)
      const got = await Promise.all(Array.from({ length: 25 }, () => store.attempt(key, 5, now)))
      t.equal(got.filter(Boolean).length, 5)
    })

    t.test('ping', async (t) => {
      t.equal(await store.ping(), true)
    })
  })
}

for (const backend of storeBackends()) {
  t.test(`store gate: ${backend.name}`, async (t) => {
    const store = await backend.create()
    t.teardown(() => store.close())
    const now = 1_800_000_000_000
    const gate = (key: string) => ({ key, windowMs: 86_400_000, captchaAfter: 3, lockAfter: 10, lockMs: 900_000 })

    t.test('captcha after 3, lock after 10 for lockMs from the newest failure, clear resets', async (t) => {
      const g = gate(`gate:{${randomUUID()}}`)
      for (let i = 1; i <= 3; i++) t.same(await store.gate(`a${i}`, g, false, now), { ok: true, count: i })
      t.same(await store.gate('a4', g, false, now), { ok: false, reason: 'captcha' })
      for (let i = 4; i <= 10; i++) t.same(await store.gate(`a${i}`, g, true, now + i), { ok: true, count: i })
      t.same(await store.gate('a11', g, true, now + 20), { ok: false, reason: 'locked', retryAfterMs: 900_000 - 10 })
      t.same(await store.gate('a11', g, false, now + 20), { ok: false, reason: 'locked', retryAfterMs: 900_000 - 10 }, 'locked before captcha')
      t.same(await store.gate('a11', g, true, now + 900_010), { ok: true, count: 11 }, 'one attempt after the lock ends')
      t.equal((await store.gate('a12', g, true, now + 900_011)).ok, false, 'and the lock is back at once')
      await store.clear([g.key])
      t.same(await store.gate('b1', g, false, now + 900_012), { ok: true, count: 1 })
    })

    t.test('100 concurrent attempts admit exactly lockAfter', async (t) => {
      const g = gate(`gate:{${randomUUID()}}`)
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => store.gate(`c${i}`, g, true, now)))
      t.equal(results.filter((r) => r.ok).length, 10)
    })
  })
}
