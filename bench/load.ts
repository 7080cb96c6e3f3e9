// The load generator: a separate process (pinned to its own core by bench/run.ts) that
// drives a server with autocannon on the orchestrator's command, over the IPC channel.
// It keeps each connection's state across runs, so a refresh-token chain continues
// from warm-up into the measured runs.
import autocannon from 'autocannon'
import { connectionPlan, type ConnectionPlan, type WorkloadData, type WorkloadId } from './workloads.js'

export interface LoadSpec {
  workload: WorkloadId
  url: string
  connections: number
  seconds: number
  data: WorkloadData
  /** seconds; autocannon's default of 10 is too short for a queue of bcrypt logins */
  timeout?: number
}

export interface LoadResult {
  workload: WorkloadId
  seconds: number
  good: number
  bad: number
  /** good answers per second: bad ones never count */
  rps: number
  p50: number
  p99: number
  errors: number
  timeouts: number
  /** a few bad answers, to say what went wrong */
  samples: string[]
}

export type LoadCommand = { type: 'run'; id: number; specs: LoadSpec[] } | { type: 'exit' }
export type LoadReply = { type: 'done'; id: number; results: LoadResult[] } | { type: 'failed'; id: number; error: string }

const plans = new Map<string, ConnectionPlan>()
const planFor = (spec: LoadSpec, i: number) => {
  const key = `${spec.workload}:${spec.url}:${i}`
  let plan = plans.get(key)
  if (!plan) {
    plan = connectionPlan(spec.workload, i, spec.data)
    plans.set(key, plan)
  }
  return plan
}

function drive(spec: LoadSpec): Promise<LoadResult> {
  let good = 0
  let bad = 0
  const samples: string[] = []
  let index = 0
  const url = new URL(spec.url)
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url: url.origin,
        connections: spec.connections,
        duration: spec.seconds,
        timeout: spec.timeout ?? 10,
        setupClient(client) {
          const plan = planFor(spec, index++)
          client.setRequests([
            {
              method: 'POST',
              path: url.pathname,
              headers: plan.headers,
              body: plan.next(),
              setupRequest(request) {
                request.body = plan.next()
                return request
              },
              onResponse(status: number, text: string) {
                if (plan.check(status, text)) good++
                else {
                  bad++
                  if (samples.length < 3) samples.push(`${status} ${text.slice(0, 300)}`)
                }
              },
            },
          ])
        },
      },
      (err, result) => {
        if (err) return reject(err)
        const seconds = (result.finish.getTime() - result.start.getTime()) / 1000
        resolve({
          workload: spec.workload,
          seconds,
          good,
          bad,
          rps: good / seconds,
          p50: result.latency.p50,
          p99: result.latency.p99,
          errors: result.errors,
          timeouts: result.timeouts,
          samples,
        })
      },
    )
  })
}

process.on('message', async (command: LoadCommand) => {
  if (command.type === 'exit') process.exit(0)
  try {
    const results = await Promise.all(command.specs.map(drive))
    process.send!({ type: 'done', id: command.id, results } satisfies LoadReply)
  } catch (error) {
    process.send!({ type: 'failed', id: command.id, error: String((error as Error).stack ?? error) } satisfies LoadReply)
  }
})
process.send!({ type: 'ready' })
