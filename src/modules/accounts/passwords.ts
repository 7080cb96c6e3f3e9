import { createHash } from 'node:crypto'
import bcrypt from 'bcrypt'
import { dictionary } from '@zxcvbn-ts/language-common'
import { AppError } from '../../errors.js'
import type { HashPool } from './hash-pool.js'

// zxcvbn-ts's list of the ~49,000 most common passwords (from breach corpora), lower case,
// most common first. A maintained package beats a data file we would have to keep fresh.
const common = new Set<string>(dictionary['passwords-common'] as string[])

export const PASSWORD_MIN = 8
export const PASSWORD_MAX = 64

/**
 * The contract's rules: 8 to 64 characters (code points, so 汉字 and emoji count as one),
 * not the account's mobile number in any form, not a common password.
 */
export function checkPasswordPolicy(password: string, e164: string): void {
  const weak = (message: string) => new AppError('WEAK_PASSWORD', message)
  const length = [...password].length
  if (length < PASSWORD_MIN || length > PASSWORD_MAX) {
    throw weak(`A password needs ${PASSWORD_MIN} to ${PASSWORD_MAX} characters.`)
  }
  const digits = e164.slice(1)
  const forms = new Set<string>([digits, `00${digits}`])
  // the national number: what is left after the country code (1 to 3 digits)
  for (let cc = 1; cc <= 3; cc++) forms.add(digits.slice(cc))
  const squeezed = password.normalize('NFKC').replace(/[\s\-().+]/g, '')
  if (forms.has(squeezed) || forms.has([...squeezed].reverse().join(''))) {
    throw weak('A password must not be the mobile number.')
  }
  if (common.has(password.toLowerCase()) || common.has(password.normalize('NFKC').trim().toLowerCase())) {
    throw weak('That password is too common; choose another.')
  }
}

/**
 * bcrypt reads only the first 72 bytes of its input, so two long passwords sharing a
 * prefix would collide. Every password is first reduced to its SHA-256, base64 encoded
 * (44 ASCII bytes, no NUL that would end bcrypt's input early).
 */
const prehash = (password: string) => createHash('sha256').update(password, 'utf8').digest('base64')

export interface PasswordHasher {
  hash(password: string): Promise<string>
  verify(password: string, hash: string): Promise<boolean>
  /** Spends a compare's time when there is no account, so timing does not tell. */
  verifyDummy(password: string): Promise<false>
  /** True when a stored hash was made at another cost than the configured one. */
  needsRehash(hash: string): boolean
}

export function createPasswordHasher(cost: number, pool: HashPool): PasswordHasher {
  // Made on first use, at the configured cost, so the dummy takes as long as a real compare.
  let dummy: Promise<string> | undefined
  return {
    hash: (password) => pool.hash(prehash(password), cost),
    verify: (password, hash) => pool.compare(prehash(password), hash),
    async verifyDummy(password) {
      dummy ??= pool.hash(prehash('not a real password'), cost)
      await pool.compare(prehash(password), await dummy)
      return false
    },
    needsRehash: (hash) => {
      try {
        return bcrypt.getRounds(hash) !== cost
      } catch {
        return true
      }
    },
  }
}
