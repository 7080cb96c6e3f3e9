// Starting, pinning, sampling and stopping the processes of a bench run.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

export const root = new URL('..', import.meta.url).pathname

/** `taskset -c <cpu>` in front of a command where taskset exists and the CPU is there. */
export const hasTaskset = spawnSync('taskset', ['-p', String(process.pid)], { stdio: 'ignore' }).status === 0
export function pinned(cpu: number | undefined, command: string, args: string[]): [string, string[]] {
  return hasTaskset && cpu !== undefined ? ['taskset', ['-c', String(cpu), command, ...args]] : [command, args]
}

/**
 * How `npm start` launches the server, read from package.json so the bench runs exactly
 * that: leading VAR=value assignments (e.g. UV_THREADPOOL_SIZE), node's flags, the script.
 * Peers and ceilings are started the same way with their own script.
 */
export function startCommand(): { env: Record<string, string>; nodeArgs: string[]; script: string } {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  const words = pkg.scripts.start!.trim().split(/\s+/)
  const env: Record<string, string> = {}
  while (words[0] && /^[A-Z_][A-Z0-9_]*=/.test(words[0])) {
    const [name, ...value] = words.shift()!.split('=')
    env[name!] = value.join('=')
  }
  if (words.shift() !== 'node') throw new Error(`bench: cannot read the start script "${pkg.scripts.start}": expected [VAR=value …] node …`)
  const script = words.pop()!
  return { env, nodeArgs: words, script }
}

export const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
  })

const status = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8')
  } catch {
    return ''
  }
}
const kb = (text: string, field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN)

export interface EventLoopWindow {
  samples: number
  p50: number
  p99: number
  max: number
  /** process.memoryUsage() in MB at the end of the window */
  memory: Record<string, number>
}

// /proc/stat and /proc/<pid>/stat count in clock ticks of 1/100 s on Linux.
const TICK = 100
/** Busy share of each CPU between two readings of /proc/stat. */
export function cpuMeter(): () => number[] {
  const read = () =>
    readFileSync('/proc/stat', 'utf8')
      .split('\n')
      .filter((l) => /^cpu\d+ /.test(l))
      .map((l) => {
        const v = l.trim().split(/\s+/).slice(1).map(Number)
        const idle = v[3]! + v[4]!
        return { idle, total: v.reduce((a, b) => a + b, 0) }
      })
  const before = read()
  return () =>
    read().map((now, i) => {
      const b = before[i]!
      const total = now.total - b.total
      return total > 0 ? 1 - (now.idle - b.idle) / total : 0
    })
}

export interface ServerProcess {
  pid: number
  url: string
  log: string
  /** resident set size now, MB */
  rss(): number
  /** the highest RSS since the last resetPeak (VmHWM), MB */
  peak(): number
  resetPeak(): void
  /** CPU seconds the process has used (all its threads) */
  cpuSeconds(): number
  /** closes the event-loop window that began at the previous call and opens the next */
  eventLoop(): Promise<EventLoopWindow | null>
  stop(): Promise<void>
}

/** Starts a server script like `npm start` would, on `cpu`, and waits for /readyz. */
export async function startServer(options: {
  name: string
  script: string
  env: Record<string, string>
  cpu: number | undefined
  logDir: string
}): Promise<ServerProcess> {
  const start = startCommand()
  const port = await freePort()
  const log = join(options.logDir, `${options.name}.log`)
  const elFile = join(options.logDir, `${options.name}.el.json`)
  const out = openSync(log, 'w')
  const [command, args] = pinned(options.cpu, process.execPath, [...start.nodeArgs, options.script])
  const child: ChildProcess = spawn(command, args, {
    cwd: root,
    env: {
      ...process.env,
      ...start.env,
      ...options.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      BENCH_EL_FILE: elFile,
      // The monitor is loaded by node itself, before the script, so the script is not changed.
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import=${join(root, 'bench/el-monitor.mjs')}`.trim(),
    },
    stdio: ['ignore', out, out],
  })
  closeSync(out)
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${options.name} exited during start-up:\n${readFileSync(log, 'utf8').slice(-2000)}`)
    }
    try {
      if ((await fetch(`${url}/readyz`)).ok) break
    } catch {}
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`${options.name} was not ready within 60 s:\n${readFileSync(log, 'utf8').slice(-2000)}`)
    }
    await sleep(100)
  }
  const pid = child.pid!
  let windows = 0
  return {
    pid,
    url,
    log,
    rss: () => kb(status(pid), 'VmRSS') / 1024,
    peak: () => kb(status(pid), 'VmHWM') / 1024,
    // Linux: writing 5 to clear_refs resets the process's peak RSS to its current RSS.
    resetPeak: () => writeFileSync(`/proc/${pid}/clear_refs`, '5'),
    cpuSeconds() {
      try {
        // fields after the command name (which may hold spaces): utime is the 12th, stime the 13th
        const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
        return (Number(fields[11]) + Number(fields[12])) / TICK
      } catch {
        return NaN
      }
    },
    async eventLoop() {
      const before = windows
      child.kill('SIGWINCH')
      const until = Date.now() + 2000
      while (Date.now() < until) {
        if (existsSync(elFile)) {
          let w: (EventLoopWindow & { window: number }) | undefined
          try {
            w = JSON.parse(readFileSync(elFile, 'utf8')) as EventLoopWindow & { window: number }
          } catch {}
          if (w && w.window > before) {
            windows = w.window
            return w
          }
        }
        await sleep(20)
      }
      return null
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const killed = sleep(15_000).then(() => child.kill('SIGKILL'))
      await Promise.race([exited, killed])
      await exited
    },
  }
}

/** Warnings and errors the server logged (pino level >= 40), for the report. */
export function loggedProblems(log: string): string[] {
  const lines: string[] = []
  for (const line of readFileSync(log, 'utf8').split('\n')) {
    const m = /^\{"level":(\d+)/.exec(line)
    if ((m && Number(m[1]) >= 40) || (!m && line.trim() && !line.startsWith('{'))) lines.push(line.slice(0, 400))
  }
  return lines
}

/** Runs a one-shot script (a ceiling) pinned like a server; returns its last stdout line as JSON. */
export function runScript<T>(script: string, args: string[], env: Record<string, string>, cpu: number | undefined): Promise<T> {
  const start = startCommand()
  const [command, argv] = pinned(cpu, process.execPath, [...start.nodeArgs, script, ...args])
  return new Promise((resolve, reject) => {
    const child = spawn(command, argv, { cwd: root, env: { ...process.env, ...start.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    child.on('exit', (code) => {
      const last = out.trim().split('\n').pop() ?? ''
      if (code !== 0) return reject(new Error(`${script} failed (${code}):\n${err.slice(-2000)}`))
      try {
        resolve(JSON.parse(last) as T)
      } catch {
        reject(new Error(`${script} printed no result:\n${out.slice(-1000)}${err.slice(-1000)}`))
      }
    })
  })
}
