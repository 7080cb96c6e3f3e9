import { appendFile, mkdir } from 'node:fs/promises'
import { dirname } from 'node:path'
import { maskMobile, withDeadline } from './util.js'
import { SmsDeliveryError, type SmsLogger, type SmsSender } from './types.js'

export interface FileSmsSenderOptions {
  file: string
  timeoutMs: number
  log: SmsLogger
}

/**
 * Tests and development only: each code becomes one JSON line in an outbox file
 * that a test (or a developer) reads.
 */
export function createFileSmsSender({ file, timeoutMs, log }: FileSmsSenderOptions): SmsSender {
  const dir = dirname(file)

  async function append(line: string): Promise<void> {
    await mkdir(dir, { recursive: true })
    // Lines of concurrent sends must not interleave: the file is opened with
    // O_APPEND ('a') and a line this small is written by a single write(2), which
    // the kernel appends atomically.
    await appendFile(file, line, { encoding: 'utf8', flag: 'a' })
  }

  return {
    name: 'file',
    async send({ mobile, purpose, code }) {
      const line = `${JSON.stringify({ mobile, purpose, code, sentAt: new Date().toISOString() })}\n`
      try {
        await withDeadline(append(line), timeoutMs, () => new SmsDeliveryError(`file: not written within ${timeoutMs} ms`))
      } catch (err) {
        const e = err as NodeJS.ErrnoException
        log.error({ sms: 'file', mobile: maskMobile(mobile), errorCode: e.code, errorName: e.name }, 'SMS outbox write failed')
        if (err instanceof SmsDeliveryError) throw err
        throw new SmsDeliveryError(`file: could not append to the outbox (${e.code ?? e.name})`)
      }
    },
  }
}
