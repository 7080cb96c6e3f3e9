import { createRequire } from 'node:module'
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'

/**
 * bcrypt on threads of its own at a lower CPU priority than the event loop.
 *
 * On the libuv pool, every hash in flight is a thread as entitled to the CPU as the
 * event loop; a burst of logins then takes the cores from every other request. Here at
 * most `threads` hashes run at once (the rest wait in a queue), each on a worker thread
 * whose nice value is raised: it takes whatever CPU the event loop leaves, all of it when
 * the server is otherwise idle, little of it while other requests are waiting.
 */
export interface HashPool {
  compare(data: string, hash: string): Promise<boolean>
  hash(data: string, cost: number): Promise<string>
  close(): Promise<void>
}

// Plain CommonJS, so the worker starts without the TypeScript loader.
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads')
const bcrypt = require(workerData.bcrypt)
// Linux applies a nice value to the calling thread only: the event loop keeps its own.
try { require('node:os').setPriority(workerData.nice) } catch {}
parentPort.on('message', ({ id, op, a, b }) => {
  try {
    parentPort.postMessage({ id, value: op === 'compare' ? bcrypt.compareSync(a, b) : bcrypt.hashSync(a, b) })
  } catch (error) {
    parentPort.postMessage({ id, error: String(error && error.message || error) })
  }
})
`

type Job = { op: 'compare' | 'hash'; a: string; b: string | number; resolve(v: unknown): void; reject(e: Error): void }

export function createHashPool(options: { threads?: number; nice?: number } = {}): HashPool {
  const threads = Math.max(1, options.threads ?? availableParallelism())
  const bcrypt = createRequire(import.meta.url).resolve('bcrypt')
  const queue: Job[] = []
  const idle: Worker[] = []
  const running = new Map<Worker, Job>()
  let nextId = 0

  const spawn = () => {
    const worker = new Worker(WORKER, { eval: true, execArgv: [], workerData: { bcrypt, nice: options.nice ?? 10 } })
    // An idle pool must not keep the process alive.
    worker.unref()
    worker.on('message', (m: { value?: unknown; error?: string }) => {
      const job = running.get(worker)!
      running.delete(worker)
      if (m.error !== undefined) job.reject(new Error(m.error))
      else job.resolve(m.value)
      idle.push(worker)
      pump()
    })
    worker.on('error', (error) => {
      const job = running.get(worker)
      running.delete(worker)
      job?.reject(error)
      spawn()
      pump()
    })
    idle.push(worker)
  }
  const pump = () => {
    while (queue.length > 0 && idle.length > 0) {
      const worker = idle.pop()!
      const job = queue.shift()!
      running.set(worker, job)
      worker.postMessage({ id: nextId++, op: job.op, a: job.a, b: job.b })
    }
  }
  for (let i = 0; i < threads; i++) spawn()

  const run = <T>(op: Job['op'], a: string, b: string | number) =>
    new Promise<T>((resolve, reject) => {
      queue.push({ op, a, b, resolve: resolve as (v: unknown) => void, reject })
      pump()
    })
  return {
    compare: (data, hash) => run<boolean>('compare', data, hash),
    hash: (data, cost) => run<string>('hash', data, cost),
    async close() {
      await Promise.all([...idle, ...running.keys()].map((w) => w.terminate()))
    },
  }
}
