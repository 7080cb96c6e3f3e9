import Dysmsapi, { SendSmsRequest } from '@alicloud/dysmsapi20170525'
import { $OpenApiUtil } from '@alicloud/openapi-core'
import { maskMobile, withDeadline } from './util.js'
import { SmsDeliveryError, type SmsLogger, type SmsSender } from './types.js'

// The package is CommonJS with `exports.default = Client`; from ESM its default
// import is the whole `module.exports`.
const DysmsapiClient = Dysmsapi.default

export interface AliyunSmsSenderOptions {
  accessKeyId: string
  accessKeySecret: string
  signName: string
  templateCode: string
  /** a host (`dysmsapi.aliyuncs.com`, spoken to over https) or a full URL (`http://127.0.0.1:4321`) */
  endpoint: string
  timeoutMs: number
  log: SmsLogger
}

/** Splits ALIYUN_SMS_ENDPOINT into what the SDK wants: a protocol and a host[:port]. */
export function parseAliyunEndpoint(endpoint: string): { protocol: 'http' | 'https'; host: string } {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint)) return { protocol: 'https', host: endpoint }
  const url = new URL(endpoint)
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error('ALIYUN_SMS_ENDPOINT: must be a host or an http(s) URL')
  }
  // The SDK builds `${protocol}://${host}/`: a path, query or credentials would be dropped silently.
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.username || url.password) {
    throw new Error('ALIYUN_SMS_ENDPOINT: a URL may hold only a scheme, a host and a port')
  }
  return { protocol: url.protocol === 'http:' ? 'http' : 'https', host: url.host }
}

/**
 * E.164 -> the PhoneNumbers format of SendSms: a Chinese mainland number as its
 * 11 digits without 86, any other as country code + number without '+'
 * (`+85212345678` -> `85212345678`).
 * Country calling codes are prefix-free, so a leading 86 can only mean China.
 */
export function toAliyunPhoneNumber(e164: string): string {
  if (!/^\+[1-9]\d{5,14}$/.test(e164)) throw new SmsDeliveryError('aliyun: mobile is not an E.164 number')
  const digits = e164.slice(1)
  return digits.startsWith('86') ? digits.slice(2) : digits
}

/** Fields of the SDK's errors that are safe to log. Its messages are not: they carry the request URL, query and all (TemplateParam holds the code). */
function describeSdkError(err: unknown): Record<string, unknown> {
  if (typeof err !== 'object' || err === null) return { errorName: typeof err }
  const e = err as { name?: unknown; code?: unknown; statusCode?: unknown; requestId?: unknown }
  const token = (v: unknown) => (typeof v === 'string' && /^[\w.:-]{1,100}$/.test(v) ? v : undefined)
  return {
    errorName: token(e.name),
    errorCode: token(e.code),
    status: typeof e.statusCode === 'number' ? e.statusCode : undefined,
    requestId: token(e.requestId),
  }
}

/**
 * Alibaba Cloud SMS `SendSms` through Alibaba's SDK (it signs the request).
 * The verification template is expected to have one variable, `${code}`.
 */
export function createAliyunSmsSender(options: AliyunSmsSenderOptions): SmsSender {
  const { signName, templateCode, timeoutMs, log } = options
  const { protocol, host } = parseAliyunEndpoint(options.endpoint)
  const client = new DysmsapiClient(
    new $OpenApiUtil.Config({
      accessKeyId: options.accessKeyId,
      accessKeySecret: options.accessKeySecret,
      // Set explicitly, so the SDK derives no endpoint from a region.
      endpoint: host,
      protocol,
      // The SDK's own socket timeouts tear the request down; withDeadline below
      // bounds the total, since connect and read are timed separately. No
      // retries are configured (the SDK's default): SendSms is not idempotent
      // and a retry could text the same code twice.
      connectTimeout: timeoutMs,
      readTimeout: timeoutMs,
    }),
  )

  return {
    name: 'aliyun',
    async send({ mobile, purpose, code }) {
      const request = new SendSmsRequest({
        phoneNumbers: toAliyunPhoneNumber(mobile),
        signName,
        templateCode,
        templateParam: JSON.stringify({ code }),
      })
      const started = Date.now()
      const context = () => ({ sms: 'aliyun', mobile: maskMobile(mobile), purpose, ms: Date.now() - started })

      let body: { code?: string; message?: string; requestId?: string } | undefined
      try {
        const response = await withDeadline(
          client.sendSms(request),
          timeoutMs,
          () => new SmsDeliveryError(`aliyun: no answer within ${timeoutMs} ms`),
        )
        body = response.body
      } catch (err) {
        if (err instanceof SmsDeliveryError) {
          log.error(context(), 'Aliyun SendSms failed: timed out')
          throw err
        }
        const details = describeSdkError(err)
        log.error({ ...context(), ...details }, 'Aliyun SendSms failed: request error')
        // The SDK error is not attached as `cause`: its message carries the code.
        throw new SmsDeliveryError(`aliyun: request failed (${String(details.errorCode ?? details.errorName ?? 'error')})`)
      }

      if (body?.code !== 'OK') {
        const providerCode = body?.code ?? '(none)'
        log.error(
          {
            ...context(),
            providerCode,
            // Alibaba's messages do not echo template parameters; masked all the same.
            providerMessage: code ? body?.message?.slice(0, 200).replaceAll(code, '******') : undefined,
            requestId: body?.requestId,
          },
          'Aliyun SendSms refused',
        )
        throw new SmsDeliveryError(`aliyun: refused (${providerCode})`)
      }
    },
  }
}
