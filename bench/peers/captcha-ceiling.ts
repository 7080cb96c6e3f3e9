// The limit for image captchas: bare svg-captcha generation (our options) plus one Redis
// SET through our store, `concurrency` in flight for `seconds`. Prints captchas per second.
// Run by bench/run.ts on the server's core.
import { randomUUID } from 'node:crypto'
import svgCaptcha from 'svg-captcha'
import { runFor } from './ceiling-loop.js'
import { loadConfig } from '../../src/config.js'
import { createStore } from '../../src/infra/store/index.js'

const seconds = Number(process.argv[2] ?? 10)
const concurrency = Number(process.argv[3] ?? 100)
const config = loadConfig()
const store = await createStore(config)
// The options of src/modules/captcha/captcha-service.ts.
const options = { size: 4, noise: 2, ignoreChars: '0oO1ilI', width: 120, height: 40 }
const ttlMs = config.CAPTCHA_TTL_SECONDS * 1000

const one = async () => {
  const { text } = svgCaptcha.create(options)
  await store.set(`captcha:{${randomUUID()}}`, text, ttlMs)
}
const warmUntil = performance.now() + 1000
while (performance.now() < warmUntil) await one()

const result = await runFor(seconds, concurrency, one)
await store.close()
console.log(JSON.stringify(result))
