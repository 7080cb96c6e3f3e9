import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Config } from '../config.js'

/**
 * The server secret that signs tokens and keys the hashes of codes. Production must set
 * JWT_SECRET (config refuses to start otherwise). Elsewhere a random secret is made once
 * and kept in DATA_DIR, so that codes and sessions survive a restart on embedded defaults.
 */
export function resolveServerSecret(config: Config): string {
  if (config.JWT_SECRET) return config.JWT_SECRET
  const file = join(config.DATA_DIR, 'server-secret')
  try {
    const existing = readFileSync(file, 'utf8').trim()
    if (existing.length >= 32) return existing
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  mkdirSync(config.DATA_DIR, { recursive: true })
  const secret = randomBytes(48).toString('base64url')
  // 'wx' fails if another process wrote it first; then that one's secret wins.
  try {
    writeFileSync(file, secret + '\n', { mode: 0o600, flag: 'wx' })
    return secret
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(file, 'utf8').trim()
    throw err
  }
}
