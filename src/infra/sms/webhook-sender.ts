import { createHmac } from 'node:crypto'
import { maskMobile } from './util.js'
import { SmsDeliveryError, type SmsLogger, type SmsSender } from './types.js'

export interface WebhookSmsSenderOptions {
  url: string
  secret: string
  timeoutMs: number
  log: SmsLogger
}

/** Lowercase hex HMAC-SHA256 of the exact body bytes: what the receiver recomputes. */
export function signWebhookBody(body: string, secret: string): string {
  return createHmac('sha256', secret).update(body, 'utf8').digest('hex')
}

/**
 * POSTs `{"mobile","purpose","code","message"}` to a URL of the operator's,
 * signed in `x-signature`. Only a 2xx answer counts as accepted.
 *
 * The URL is never logged: operators put tokens in query strings.
 */
export function createWebhookSmsSender({ url, secret, timeoutMs, log }: WebhookSmsSenderOptions): SmsSender {
  return {
    name: 'webhook',
    async send({ mobile, purpose, code, text }) {
      const body = JSON.stringify({ mobile, purpose, code, message: text })
      const started = Date.now()
      const fail = (reason: string, details: Record<string, unknown>): never => {
        log.error(
          { sms: 'webhook', mobile: maskMobile(mobile), purpose, ms: Date.now() - started, ...details },
          `SMS webhook failed: ${reason}`,
        )
        throw new SmsDeliveryError(`webhook: ${reason}`)
      }

      let response: Response
      try {
        response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-signature': signWebhookBody(body, secret) },
          body,
          // A redirect would re-send the code to wherever the receiver points; a
          // 3xx is an answer like any other non-2xx: a failure.
          redirect: 'manual',
          signal: AbortSignal.timeout(timeoutMs),
        })
      } catch (err) {
        const e = err as Error & { cause?: { code?: unknown } }
        if (e.name === 'TimeoutError' || e.name === 'AbortError') return fail(`no answer within ${timeoutMs} ms`, {})
        return fail('request failed', { errorName: e.name, errorCode: e.cause?.code })
      }

      // The body is not needed (and may echo the code); release the connection.
      await response.body?.cancel().catch(() => {})
      if (response.status < 200 || response.status > 299) {
        fail(`answered HTTP ${response.status}`, {
          status: response.status,
          requestId: response.headers.get('x-request-id') ?? undefined,
        })
      }
    },
  }
}
