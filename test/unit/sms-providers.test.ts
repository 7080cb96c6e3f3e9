import { createHash, createHmac } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { pino, type Logger } from 'pino'
import t, { type Test } from 'tap'
import { loadConfig } from '../../src/config.js'
import { parseAliyunEndpoint, toAliyunPhoneNumber } from '../../src/infra/sms/aliyun-sender.js'
import { createSmsSender, SmsDeliveryError, type SmsMessage } from '../../src/infra/sms/index.js'

const CODE = '482913'
const SECRET = 'webhook-secret-do-not-log-9f8e7d'
const TIMEOUT_MS = 200

const message = (over: Partial<SmsMessage> = {}): SmsMessage => ({
  mobile: '+8613800138000',
  purpose: 'LOGIN',
  code: CODE,
  text: `Your code is ${CODE}. It expires in 5 minutes.`,
  ttlSeconds: 300,
  ...over,
})

/** A pino logger writing into memory, so a test can read what was logged. */
function captureLog() {
  const lines: string[] = []
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'))
      done()
    },
  })
  const log = pino({ level: 'trace' }, stream)
  return {
    log,
    text: () => lines.join(''),
    entries: () => lines.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>),
  }
}

interface Received {
  method: string | undefined
  url: string | undefined
  headers: IncomingMessage['headers']
  body: string
}

/** A real HTTP server on 127.0.0.1, answering with `handler`; closed when the test ends. */
async function fakeServer(
  t: Test,
  handler: (req: Received, res: ServerResponse) => void,
): Promise<{ url: string; received: Received[] }> {
  const received: Received[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const r = { method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') }
      received.push(r)
      handler(r, res)
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(async () => {
    server.closeAllConnections()
    server.close()
    await once(server, 'close')
  })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, received }
}

/** A port that nothing listens on. */
async function refusedUrl(): Promise<string> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  server.close()
  await once(server, 'close')
  return `http://127.0.0.1:${port}/hook`
}

function webhookSender(url: string, log: Logger) {
  const config = loadConfig({
    NODE_ENV: 'test',
    SMS_PROVIDER: 'webhook',
    SMS_WEBHOOK_URL: url,
    SMS_WEBHOOK_SECRET: SECRET,
    SMS_TIMEOUT_MS: String(TIMEOUT_MS),
  })
  return createSmsSender(config, log)
}

t.test('log provider writes the code to the log, saying it was not delivered', async (t) => {
  const cap = captureLog()
  const sender = createSmsSender(loadConfig({ NODE_ENV: 'test', SMS_PROVIDER: 'log' }), cap.log)
  t.equal(sender.name, 'log')
  await sender.send(message())
  const [entry] = cap.entries()
  t.match(entry, { level: 30, mobile: '+8613800138000', purpose: 'LOGIN', code: CODE })
  t.match(String(entry?.msg), /not delivered/)
})

t.test('file provider', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'sms-outbox-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  // A directory that does not exist yet: the provider creates it.
  const file = join(dir, 'nested', 'outbox.jsonl')
  const cap = captureLog()
  const sender = createSmsSender(
    loadConfig({ NODE_ENV: 'test', SMS_PROVIDER: 'file', SMS_OUTBOX_FILE: file }),
    cap.log,
  )

  t.test('appends one JSON line per code', async (t) => {
    const before = Date.now()
    await sender.send(message())
    await sender.send(message({ mobile: '+8613900139000', purpose: 'REGISTER', code: '000111' }))
    const lines = (await readFile(file, 'utf8')).split('\n')
    t.equal(lines.pop(), '', 'ends with a newline')
    t.equal(lines.length, 2)
    const first = JSON.parse(lines[0]!) as Record<string, string>
    t.same(Object.keys(first), ['mobile', 'purpose', 'code', 'sentAt'])
    t.match(first, { mobile: '+8613800138000', purpose: 'LOGIN', code: CODE })
    t.equal(new Date(first.sentAt!).toISOString(), first.sentAt, 'sentAt is an ISO string')
    t.ok(Date.parse(first.sentAt!) >= before - 1000)
    t.match(JSON.parse(lines[1]!), { mobile: '+8613900139000', purpose: 'REGISTER', code: '000111' })
  })

  t.test('50 concurrent sends give 50 whole lines', async (t) => {
    await rm(file, { force: true })
    const codes = Array.from({ length: 50 }, (_, i) => String(100000 + i))
    await Promise.all(codes.map((code) => sender.send(message({ code }))))
    const lines = (await readFile(file, 'utf8')).trimEnd().split('\n')
    t.equal(lines.length, 50)
    const seen = lines.map((l) => (JSON.parse(l) as { code: string }).code).sort()
    t.same(seen, codes)
  })

  t.test('an unwritable outbox is a SmsDeliveryError', async (t) => {
    // The outbox path is a directory: appending to it fails.
    const broken = createSmsSender(loadConfig({ NODE_ENV: 'test', SMS_PROVIDER: 'file', SMS_OUTBOX_FILE: dir }), cap.log)
    await t.rejects(broken.send(message()), SmsDeliveryError)
  })
})

t.test('webhook provider', async (t) => {
  t.test('POSTs the signed JSON body and resolves on 2xx', async (t) => {
    const server = await fakeServer(t, (_req, res) => res.writeHead(204).end())
    const cap = captureLog()
    const sender = webhookSender(`${server.url}/hook?token=abc`, cap.log)
    t.equal(sender.name, 'webhook')
    await sender.send(message())

    t.equal(server.received.length, 1)
    const req = server.received[0]!
    t.equal(req.method, 'POST')
    t.equal(req.url, '/hook?token=abc')
    t.equal(req.headers['content-type'], 'application/json')
    t.same(JSON.parse(req.body), {
      mobile: '+8613800138000',
      purpose: 'LOGIN',
      code: CODE,
      message: `Your code is ${CODE}. It expires in 5 minutes.`,
    })
    // The receiver's check: HMAC of the exact bytes received.
    const expected = createHmac('sha256', SECRET).update(req.body).digest('hex')
    t.equal(req.headers['x-signature'], expected)
    t.match(req.headers['x-signature'], /^[0-9a-f]{64}$/)
    t.notMatch(cap.text(), CODE, 'a successful send logs no code')
  })

  t.test('200 with a body is accepted too', async (t) => {
    const server = await fakeServer(t, (_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}'))
    await webhookSender(server.url, captureLog().log).send(message())
    t.equal(server.received.length, 1)
  })

  const failures: Array<[string, (res: ServerResponse) => void]> = [
    ['500', (res) => res.writeHead(500, { 'x-request-id': 'req-500' }).end(`boom ${CODE}`)],
    ['404', (res) => res.writeHead(404).end()],
    ['302 (not followed)', (res) => res.writeHead(302, { location: '/elsewhere' }).end()],
  ]
  for (const [name, answer] of failures) {
    t.test(`${name} is a SmsDeliveryError, logged without code or secret`, async (t) => {
      const server = await fakeServer(t, (_req, res) => answer(res))
      const cap = captureLog()
      await t.rejects(webhookSender(`${server.url}/hook`, cap.log).send(message()), SmsDeliveryError)
      t.equal(server.received.length, 1, 'one request, no redirect followed')
      const logged = cap.text()
      t.match(logged, /SMS webhook failed/)
      t.notMatch(logged, CODE)
      t.notMatch(logged, SECRET)
      t.notMatch(logged, server.received[0]!.headers['x-signature'] as string)
    })
  }

  t.test('a slow receiver times out after SMS_TIMEOUT_MS', async (t) => {
    const server = await fakeServer(t, () => {
      /* never answers */
    })
    const cap = captureLog()
    const started = Date.now()
    await t.rejects(webhookSender(server.url, cap.log).send(message()), SmsDeliveryError)
    const took = Date.now() - started
    t.ok(took >= TIMEOUT_MS - 20 && took < TIMEOUT_MS + 800, `rejected after ${took} ms`)
    t.match(cap.text(), /no answer within 200 ms/)
    t.notMatch(cap.text(), CODE)
  })

  t.test('a refused connection is a SmsDeliveryError', async (t) => {
    const cap = captureLog()
    await t.rejects(webhookSender(await refusedUrl(), cap.log).send(message()), SmsDeliveryError)
    t.match(cap.entries()[0], { errorCode: 'ECONNREFUSED' })
    t.notMatch(cap.text(), CODE)
    t.notMatch(cap.text(), SECRET)
  })
})

const ALIYUN = {
  ALIYUN_ACCESS_KEY_ID: 'LTAI-test-key-id',
  ALIYUN_ACCESS_KEY_SECRET: 'aliyun-secret-do-not-log-3c2b1a',
  ALIYUN_SMS_SIGN_NAME: '通行证',
  ALIYUN_SMS_TEMPLATE_CODE: 'SMS_123456789',
}

function aliyunSender(endpoint: string, log: Logger) {
  const config = loadConfig({
    NODE_ENV: 'test',
    SMS_PROVIDER: 'aliyun',
    SMS_TIMEOUT_MS: String(TIMEOUT_MS),
    ALIYUN_SMS_ENDPOINT: endpoint,
    ...ALIYUN,
  })
  return createSmsSender(config, log)
}

/** RFC 3986 encoding as Alibaba's V3 signature specifies it. */
const rfc3986 = (s: string) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)

/**
 * What Alibaba's side does with a V3 (ACS3-HMAC-SHA256) request: rebuild the
 * canonical request from what was received and recompute the signature.
 */
function verifyAcs3(req: Received, secret: string): { accessKeyId: string; valid: boolean } {
  const m = /^ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]{64})$/.exec(
    String(req.headers.authorization),
  )
  if (!m) return { accessKeyId: '', valid: false }
  const [, accessKeyId, signedHeaders, signature] = m as unknown as [string, string, string, string]
  const url = new URL(req.url ?? '/', 'http://x')
  const query = [...url.searchParams]
    .map(([k, v]) => [rfc3986(k), rfc3986(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&')
  const names = signedHeaders.split(';')
  const headers = names.map((h) => `${h}:${String(req.headers[h] ?? '').trim()}\n`).join('')
  const payload = createHash('sha256').update(req.body).digest('hex')
  const canonical = [req.method, url.pathname, query, headers, signedHeaders, payload].join('\n')
  const stringToSign = `ACS3-HMAC-SHA256\n${createHash('sha256').update(canonical).digest('hex')}`
  const expected = createHmac('sha256', secret).update(stringToSign).digest('hex')
  return {
    accessKeyId,
    valid: expected === signature && names.includes('host') && names.includes('x-acs-action'),
  }
}

const json = (status: number, body: unknown) => (_req: Received, res: ServerResponse) =>
  res.writeHead(status, { 'content-type': 'application/json;charset=utf-8' }).end(JSON.stringify(body))

t.test('aliyun provider', async (t) => {
  t.test('phone numbers in the format SendSms wants', async (t) => {
    t.equal(toAliyunPhoneNumber('+8613800138000'), '13800138000', 'mainland: 11 digits, no 86')
    t.equal(toAliyunPhoneNumber('+85291234567'), '85291234567', 'Hong Kong: country code + number')
    t.equal(toAliyunPhoneNumber('+14155550100'), '14155550100')
    t.equal(toAliyunPhoneNumber('+447911123456'), '447911123456')
    t.throws(() => toAliyunPhoneNumber('13800138000'), SmsDeliveryError)
  })

  t.test('ALIYUN_SMS_ENDPOINT is a host or a URL', async (t) => {
    t.same(parseAliyunEndpoint('dysmsapi.aliyuncs.com'), { protocol: 'https', host: 'dysmsapi.aliyuncs.com' })
    t.same(parseAliyunEndpoint('http://127.0.0.1:4321'), { protocol: 'http', host: '127.0.0.1:4321' })
    t.same(parseAliyunEndpoint('https://dysmsapi.ap-southeast-1.aliyuncs.com/'), {
      protocol: 'https',
      host: 'dysmsapi.ap-southeast-1.aliyuncs.com',
    })
    t.throws(() => parseAliyunEndpoint('http://127.0.0.1:4321/sms'))
    t.throws(() => parseAliyunEndpoint('ftp://127.0.0.1'))
  })

  t.test('sends a signed SendSms and resolves on Code OK', async (t) => {
    const server = await fakeServer(t, json(200, { Code: 'OK', Message: 'OK', RequestId: 'x', BizId: 'y' }))
    const cap = captureLog()
    const sender = aliyunSender(server.url, cap.log)
    t.equal(sender.name, 'aliyun')
    await sender.send(message())

    t.equal(server.received.length, 1)
    const req = server.received[0]!
    t.equal(req.method, 'POST')
    t.equal(req.headers['x-acs-action'], 'SendSms', 'V3 signature: the action travels in a header')
    t.equal(req.headers['x-acs-version'], '2017-05-25')
    const params = new URL(req.url ?? '/', 'http://x').searchParams
    t.equal(params.get('PhoneNumbers'), '13800138000')
    t.equal(params.get('SignName'), ALIYUN.ALIYUN_SMS_SIGN_NAME)
    t.equal(params.get('TemplateCode'), ALIYUN.ALIYUN_SMS_TEMPLATE_CODE)
    t.same(JSON.parse(params.get('TemplateParam') ?? 'null'), { code: CODE })
    const auth = verifyAcs3(req, ALIYUN.ALIYUN_ACCESS_KEY_SECRET)
    t.equal(auth.accessKeyId, ALIYUN.ALIYUN_ACCESS_KEY_ID)
    t.ok(auth.valid, 'the signature verifies with the access key secret')
    t.notOk(verifyAcs3(req, 'another-secret').valid, 'and not with another')
    t.notMatch(cap.text(), CODE)
  })

  const refusals: Array<[string, (req: Received, res: ServerResponse) => void, string]> = [
    [
      'Code isv.BUSINESS_LIMIT_CONTROL',
      json(200, { Code: 'isv.BUSINESS_LIMIT_CONTROL', Message: '触发分钟级流控Permits:1', RequestId: 'req-limit' }),
      'isv.BUSINESS_LIMIT_CONTROL',
    ],
    ['an answer without Code', json(200, { RequestId: 'req-empty' }), '(none)'],
    [
      'HTTP 400 with an error body',
      json(400, { Code: 'InvalidAccessKeyId.NotFound', Message: 'Specified access key is not found.', RequestId: 'req-400' }),
      'InvalidAccessKeyId.NotFound',
    ],
    ['HTTP 503', json(503, { Code: 'ServiceUnavailable', Message: 'busy', RequestId: 'req-503' }), 'ServiceUnavailable'],
  ]
  for (const [name, answer, providerCode] of refusals) {
    t.test(`${name} is a SmsDeliveryError, logged without code or secrets`, async (t) => {
      const server = await fakeServer(t, answer)
      const cap = captureLog()
      const err = await aliyunSender(server.url, cap.log).send(message()).catch((e: unknown) => e)
      t.type(err, SmsDeliveryError)
      t.match((err as Error).message, providerCode)
      t.equal(server.received.length, 1, 'not retried: SendSms is not idempotent')
      const logged = cap.text()
      t.match(logged, providerCode)
      t.notMatch(logged, CODE)
      t.notMatch(logged, ALIYUN.ALIYUN_ACCESS_KEY_SECRET)
      const signature = /Signature=([0-9a-f]+)/.exec(String(server.received[0]!.headers.authorization))?.[1]
      t.ok(signature)
      t.notMatch(logged, signature!)
      t.notMatch(String((err as Error).message), CODE)
    })
  }

  t.test('a slow server times out after SMS_TIMEOUT_MS', async (t) => {
    const server = await fakeServer(t, () => {
      /* never answers */
    })
    const cap = captureLog()
    const started = Date.now()
    await t.rejects(aliyunSender(server.url, cap.log).send(message()), SmsDeliveryError)
    const took = Date.now() - started
    t.ok(took >= TIMEOUT_MS - 20 && took < TIMEOUT_MS + 800, `rejected after ${took} ms`)
    t.match(cap.text(), /timed out/)
    t.notMatch(cap.text(), CODE)
  })

  t.test('a refused connection is a SmsDeliveryError, logged without the request URL', async (t) => {
    const cap = captureLog()
    const err = await aliyunSender(new URL(await refusedUrl()).origin, cap.log).send(message()).catch((e: unknown) => e)
    t.type(err, SmsDeliveryError)
    // The SDK's own error message holds the whole URL, TemplateParam and all.
    t.notMatch(cap.text(), CODE)
    t.notMatch(String((err as Error).message), CODE)
    t.notMatch(cap.text(), ALIYUN.ALIYUN_ACCESS_KEY_SECRET)
    t.match(cap.entries()[0], { sms: 'aliyun', errorCode: 'ECONNREFUSED' })
  })
})
