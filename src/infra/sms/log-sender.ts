import type { SmsLogger, SmsSender } from './types.js'

/**
 * Development only (refused in production by the config): the code goes to the
 * log instead of a phone. The one provider that logs a code, by contract.
 */
export function createLogSmsSender(log: SmsLogger): SmsSender {
  return {
    name: 'log',
    async send({ mobile, purpose, code }) {
      log.info({ mobile, purpose, code }, 'SMS not delivered (SMS_PROVIDER=log): code written to the log instead')
    },
  }
}
