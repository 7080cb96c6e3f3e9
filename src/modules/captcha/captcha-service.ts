import { randomUUID } from 'node:crypto'
import svgCaptcha from 'svg-captcha'
import type { Config } from '../../config.js'
import { AppError } from '../../errors.js'
import type { Clock } from '../../lib/clock.js'
import { constantTimeEqual, sha256Hex } from '../../lib/crypto.js'
import type { Store } from '../../infra/store/index.js'

export interface ImageCaptcha {
  id: string
  svg: string
  expiresAt: Date
}

export interface CaptchaService {
  create(): Promise<ImageCaptcha>
  /**
   * Checks an answer and consumes the captcha, right or wrong: an id can be checked once.
   * Throws CAPTCHA_INVALID for a wrong, unknown, expired or already used captcha.
   */
  verify(id: string, text: string): Promise<void>
}

// svg-captcha's module is itself a function that draws given text; its typings omit that.
const drawText = svgCaptcha as unknown as (text: string, options: Parameters<typeof svgCaptcha.create>[0]) => string

// Characters people confuse in a distorted image are left out.
const IGNORE = '0oO1ilI'
const ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const key = (id: string) => `captcha:{${id}}`
const digest = (text: string) => sha256Hex(text.trim().toLowerCase())

export function createCaptchaService(deps: {
  store: Store
  clock: Clock
  config: Pick<Config, 'CAPTCHA_TTL_SECONDS' | 'CAPTCHA_FIXED_TEXT'>
}): CaptchaService {
  const { store, clock, config } = deps
  const ttlMs = config.CAPTCHA_TTL_SECONDS * 1000

  return {
    async create() {
      const fixed = config.CAPTCHA_FIXED_TEXT
      const options = { size: 4, noise: 2, ignoreChars: IGNORE, width: 120, height: 40 }
      const { text, data } = fixed
        ? { text: fixed, data: drawText(fixed, options) }
        : svgCaptcha.create(options)
      const id = randomUUID()
      const expiresAt = clock.now() + ttlMs
      // Only a hash of the answer is kept, with the logical expiry checked against the clock.
      await store.set(key(id), JSON.stringify({ h: digest(text), e: expiresAt }), ttlMs)
      return { id, svg: data, expiresAt: new Date(expiresAt) }
    },

    async verify(id, text) {
      const invalid = () => new AppError('CAPTCHA_INVALID', 'The image captcha is wrong or expired; request a new one.')
      if (typeof id !== 'string' || !ID_PATTERN.test(id)) throw invalid()
      // Consumed before comparing: a wrong guess burns the captcha, so each costs a new image.
      const stored = await store.take(key(id))
      if (!stored) throw invalid()
      const { h, e } = JSON.parse(stored) as { h: string; e: number }
      if (e <= clock.now()) throw invalid()
      if (typeof text !== 'string' || text.length > 64 || !constantTimeEqual(digest(text), h)) throw invalid()
    },
  }
}
