import type { Config } from '../../config.js'
import { createAliyunSmsSender } from './aliyun-sender.js'
import { createFileSmsSender } from './file-sender.js'
import { createLogSmsSender } from './log-sender.js'
import type { SmsLogger, SmsSender } from './types.js'
import { createWebhookSmsSender } from './webhook-sender.js'

export type { SmsLogger, SmsMessage, SmsPurpose, SmsSender } from './types.js'
export { SmsDeliveryError } from './types.js'

// loadConfig already refuses a provider without its settings; this narrows the
// types and guards callers that build a Config by hand.
function required(config: Config, name: keyof Config): string {
  const value = config[name]
  if (typeof value !== 'string' || value === '') {
    throw new Error(`${name} is required when SMS_PROVIDER=${config.SMS_PROVIDER}`)
  }
  return value
}

/**
 * The SmsSender chosen by SMS_PROVIDER. Every send is bounded by SMS_TIMEOUT_MS
 * and rejects with SmsDeliveryError when the provider did not accept the message.
 * Accepts a pino logger or Fastify's (`app.log`).
 */
export function createSmsSender(config: Config, log: SmsLogger): SmsSender {
  const timeoutMs = config.SMS_TIMEOUT_MS
  switch (config.SMS_PROVIDER) {
    case 'log':
      return createLogSmsSender(log)
    case 'file':
      return createFileSmsSender({ file: required(config, 'SMS_OUTBOX_FILE'), timeoutMs, log })
    case 'webhook':
      return createWebhookSmsSender({
        url: required(config, 'SMS_WEBHOOK_URL'),
        secret: required(config, 'SMS_WEBHOOK_SECRET'),
        timeoutMs,
        log,
      })
    case 'aliyun':
      return createAliyunSmsSender({
        accessKeyId: required(config, 'ALIYUN_ACCESS_KEY_ID'),
        accessKeySecret: required(config, 'ALIYUN_ACCESS_KEY_SECRET'),
        signName: required(config, 'ALIYUN_SMS_SIGN_NAME'),
        templateCode: required(config, 'ALIYUN_SMS_TEMPLATE_CODE'),
        endpoint: config.ALIYUN_SMS_ENDPOINT,
        timeoutMs,
        log,
      })
  }
}
