import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createTestDatabase } from '../helpers/database.js'
import { testRedisUrl } from '../helpers/backends.js'
import { backends } from '../helpers/app.js'
import { startServer } from '../helpers/server.js'

// The whole journey as a client makes it: the real server process (`npm start`'s
// command), real HTTP, the file outbox standing in for the phone.
async function gql(base: string, query: string, variables: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ query, variables }),
  })
  return (await res.json()) as { data?: any; errors?: { extensions: { code: string } }[] }
}

for (const backend of backends) {
  t.test(`the journey, on ${backend}`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'pg-e2e-'))
    const outbox = join(dir, 'outbox.jsonl')
    const env: Record<string, string> = {
      DATA_DIR: join(dir, 'data'),
      SMS_PROVIDER: 'file',
      SMS_OUTBOX_FILE: outbox,
      CAPTCHA_FIXED_TEXT: 'e2e1',
      BCRYPT_COST: '4',
      DATABASE_URL: '',
      REDIS_URL: '',
    }
    let drop: (() => Promise<void>) | undefined
    if (backend === 'real') {
      const db = await createTestDatabase({ migrate: false })
      drop = db.drop
      Object.assign(env, { DATABASE_URL: db.url, REDIS_URL: testRedisUrl, REDIS_KEY_PREFIX: `e2e:${process.pid}:${Date.now()}:` })
    }
    t.teardown(async () => {
      await drop?.()
      await rm(dir, { recursive: true, force: true })
    })

    let server = await startServer(env)
    const mobile = `139${String(Date.now()).slice(-8)}`

    const captcha = await gql(server.base, 'mutation { requestImageCaptcha { id svg } }')
    t.match(captcha.data.requestImageCaptcha.svg, /^<svg/)
    const sent = await gql(server.base, 'mutation($i: SendSmsCodeInput!) { sendSmsCode(input: $i) { mobile } }', {
      i: { mobile, purpose: 'REGISTER', captchaId: captcha.data.requestImageCaptcha.id, captchaText: 'E2E1' },
    })
    t.equal(sent.data?.sendSmsCode.mobile, `+86${mobile}`)
    const line = (await readFile(outbox, 'utf8')).trim().split('\n').at(-1)!
    const { code } = JSON.parse(line)

    const reg = await gql(server.base, 'mutation($i: RegisterInput!) { register(input: $i) { accessToken refreshToken user { id mobile } } }', {
      i: { mobile, smsCode: code, password: 'A-Journey-Of-1000-Miles' },
    })
    t.equal(reg.data?.register.user.mobile, `+86${mobile}`)
    const auth = { authorization: `Bearer ${reg.data.register.accessToken}` }
    t.equal((await gql(server.base, '{ me { mobile } }', {}, auth)).data?.me.mobile, `+86${mobile}`)

    const refreshed = await gql(server.base, 'mutation($t: String) { refreshToken(refreshToken: $t) { accessToken refreshToken } }', {
      t: reg.data.register.refreshToken,
    })
    const auth2 = { authorization: `Bearer ${refreshed.data.refreshToken.accessToken}` }
    t.equal((await gql(server.base, '{ me { mobile } }', {}, auth2)).data?.me.mobile, `+86${mobile}`)

    t.same((await gql(server.base, 'mutation { logout }', {}, auth2)).data, { logout: true })
    t.equal((await gql(server.base, '{ me { mobile } }', {}, auth2)).errors?.[0]?.extensions.code, 'UNAUTHENTICATED')

    t.equal(await server.stop(), 0, 'SIGTERM: a clean exit')
    // Data and the generated secret survive a restart on the embedded defaults too.
    server = await startServer(env)
    const again = await gql(server.base, 'mutation($i: LoginInput!) { login(input: $i) { user { mobile } } }', {
      i: { method: 'PASSWORD', mobile, password: 'A-Journey-Of-1000-Miles' },
    })
    t.equal(again.data?.login.user.mobile, `+86${mobile}`, 'the account is still there after a restart')
    t.equal(await server.stop(), 0)
    t.notMatch(server.output(), new RegExp(code), 'the code never reached the server log')
  })
}

t.test('a bad configuration stops start-up naming the variable', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: { ...process.env, PORT: 'eighty', SMS_HOURLY_LIMIT: '-1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stderr.on('data', (d) => (output += d))
  const code = await new Promise((r) => child.on('exit', r))
  t.equal(code, 1)
  t.match(output, /PORT/)
  t.match(output, /SMS_HOURLY_LIMIT/)
})
