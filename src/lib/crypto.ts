import { createHash, createHmac, hkdfSync, timingSafeEqual } from 'node:crypto'

export const sha256Hex = (value: string): string => createHash('sha256').update(value).digest('hex')

export const hmacHex = (key: Buffer, value: string): string => createHmac('sha256', key).update(value).digest('hex')

/** Equal-length strings compared in time that does not depend on where they differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a)
  const bb = Buffer.from(b)
  // Lengths are public here (hex digests of fixed size); the contents are what must not leak.
  return ab.length === bb.length && timingSafeEqual(ab, bb)
}

/** A key for one purpose, derived from the server secret, so no two uses share a key. */
export const deriveKey = (secret: string, purpose: string): Buffer =>
  Buffer.from(hkdfSync('sha256', secret, 'passport-gateway', purpose, 32))
