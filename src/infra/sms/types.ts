import type { BaseLogger } from 'pino'

export type SmsPurpose = 'REGISTER' | 'LOGIN' | 'RESET_PASSWORD'

export interface SmsMessage {
  /** E.164, e.g. +8613800138000 */
  mobile: string
  purpose: SmsPurpose
  /** the 6-digit code; providers must never log it (the `log` provider is the one exception, by contract) */
  code: string
  /** human-readable text for providers that send free text */
  text: string
  /** lifetime of the code in seconds, for templates */
  ttlSeconds: number
}

/** An outside SMS service behind the narrowest interface the service needs. */
export interface SmsSender {
  readonly name: string
  /** Resolves once the provider accepted the message; rejects with SmsDeliveryError otherwise. */
  send(message: SmsMessage): Promise<void>
  close?(): Promise<void>
}

export class SmsDeliveryError extends Error {
  override name = 'SmsDeliveryError'
}

/** What providers log through: satisfied by a pino logger and by Fastify's `app.log`. */
export type SmsLogger = Pick<BaseLogger, 'info' | 'warn' | 'error'>
