import { spawn, type ChildProcess } from 'node:child_process'
import { freePort } from './redis-server.js'

/** The real server process, as `npm start` runs it, on a free port; resolves once /readyz is 200. */
export async function startServer(env: Record<string, string>) {
  const port = await freePort()
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: { ...process.env, NODE_ENV: 'development', LOG_LEVEL: 'warn', ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout!.on('data', (d) => (output += d))
  child.stderr!.on('data', (d) => (output += d))
  const base = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited: ${output}`)
    try {
      if ((await fetch(`${base}/readyz`)).ok) break
    } catch {}
    if (Date.now() > deadline) throw new Error(`server did not become ready: ${output}`)
    await new Promise((r) => setTimeout(r, 100))
  }
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return {
    base,
    output: () => output,
    async stop() {
      child.kill('SIGTERM')
      return exited
    },
  }
}

