import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js/max'
import { AppError } from '../../errors.js'

export interface Mobile {
  /** E.164, e.g. +8613800138000 */
  e164: string
  /** ISO 3166 region of the number, e.g. CN */
  region: string | undefined
}

// Longer input is no phone number; refusing it early keeps the parser's work bounded.
const MAX_INPUT_LENGTH = 32

/**
 * Reads a mobile number in local form (read in `defaultRegion`) or international form
 * (+86…, 0086…), with spaces, dashes, dots or brackets. Anything that is not a valid
 * mobile number is INVALID_MOBILE.
 */
export function parseMobile(input: string, defaultRegion: string): Mobile {
  const invalid = () => new AppError('INVALID_MOBILE', 'That is not a valid mobile number.')
  if (typeof input !== 'string' || input.length > MAX_INPUT_LENGTH) throw invalid()
  const trimmed = input.normalize('NFKC').trim()
  if (!/^[+\d][\d\s\-().]*$/.test(trimmed)) throw invalid()
  const parsed = parsePhoneNumberFromString(trimmed, defaultRegion as CountryCode)
  if (!parsed || !parsed.isValid()) throw invalid()
  const type = parsed.getType()
  // FIXED_LINE_OR_MOBILE: regions such as the US do not tell mobile and fixed numbers apart.
  if (type !== 'MOBILE' && type !== 'FIXED_LINE_OR_MOBILE') throw invalid()
  return { e164: parsed.number, region: parsed.country }
}

/** +8613800138000 -> +86138****8000, for logs and default nicknames. */
export function maskMobile(e164: string): string {
  if (e164.length < 9) return e164.slice(0, 3) + '****'
  return e164.slice(0, e164.length - 8) + '****' + e164.slice(-4)
}
