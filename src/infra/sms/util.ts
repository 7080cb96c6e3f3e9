import { SmsDeliveryError } from './types.js'

/**
 * Settles with `work`, or rejects with SmsDeliveryError once `ms` have passed.
 *
 * For clients that take no AbortSignal (the Alibaba SDK): they keep their own
 * socket timeouts, this bounds what the caller waits for. A late rejection of
 * `work` is swallowed here, since nobody is listening for it any more.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, onTimeout: () => SmsDeliveryError): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms)
  })
  work.catch(() => {})
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer))
}

/** `+8613800138000` -> `+86138****8000`: enough to correlate failures, not a full number in logs. */
export function maskMobile(mobile: string): string {
  if (mobile.length <= 8) return '****'
  return `${mobile.slice(0, 6)}****${mobile.slice(-4)}`
}
