import { spawn, type ChildProcess } from 'node:child_process'
import { createConnection, createServer } from 'node:net'

/**
 * A redis-server of the test's own, on its own port, that the test may kill, pause and
 * start again. The machine's shared Redis is never touched.
 */
export interface PrivateRedis {
  port: number
  url: string
  /** Kills the process (SIGKILL: a crash, nothing flushed, connections reset). */
  stop(): Promise<void>
  /** Starts a fresh, empty server on the same port. */
  start(): Promise<void>
  /** SIGSTOP: connections stay open and the kernel still accepts new ones, but nothing answers. */
  pause(): void
  /** SIGCONT after pause(). */
  resume(): void
  /** Stops it for good; for t.teardown. Idempotent. */
  close(): Promise<void>
}

/** A port that was free a moment ago (the OS picks it, then it is released). */
export async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => resolve())
  })
  const address = server.address()
  await new Promise<void>((resolve) => server.close(() => resolve()))
  if (address === null || typeof address === 'string') throw new Error('no port assigned')
  return address.port
}

/** Resolves once something answers PING on the port with PONG. */
async function waitForPong(port: number, child: ChildProcess, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs
  while (Date.now() < until) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`redis-server on ${port} exited (${child.exitCode ?? child.signalCode})`)
    }
    const ok = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port })
      const done = (v: boolean) => {
        socket.destroy()
        resolve(v)
      }
      socket.setTimeout(500, () => done(false))
      socket.once('error', () => done(false))
      socket.once('connect', () => socket.write('PING\r\n'))
      socket.once('data', (d) => done(d.toString().startsWith('+PONG')))
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 25))
  }
  throw new Error(`redis-server on ${port} did not answer within ${deadlineMs} ms`)
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const port = await freePort()
  let child: ChildProcess | undefined
  let output = ''

  const start = async () => {
    if (child && child.exitCode === null && child.signalCode === null) throw new Error('already running')
    output = ''
    const c = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--loglevel', 'warning'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    c.stdout?.on('data', (d) => (output += d))
    c.stderr?.on('data', (d) => (output += d))
    c.once('error', (err) => (output += `spawn error: ${err.message}`))
    child = c
    try {
      await waitForPong(port, c, 5000)
    } catch (error) {
      c.kill('SIGKILL')
      throw new Error(`${(error as Error).message}\n${output}`)
    }
  }

  const stop = async () => {
    const c = child
    if (!c || c.exitCode !== null || c.signalCode !== null) return
    const exited = new Promise<void>((resolve) => c.once('exit', () => resolve()))
    // SIGKILL ends a stopped process too; no SIGCONT needed first.
    c.kill('SIGKILL')
    await exited
  }

  // Best effort for a test process that exits without its teardown running.
  const reap = () => child?.kill('SIGKILL')
  process.once('exit', reap)

  await start()
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start,
    stop,
    pause: () => void child?.kill('SIGSTOP'),
    resume: () => void child?.kill('SIGCONT'),
    close: async () => {
      process.removeListener('exit', reap)
      await stop()
    },
  }
}
