// npm run bench [-- W1 W2 …]: passport-gateway against its peers, in one run, on this
// machine. See bench/README.md for what is measured and how.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { budgetedFields, loadConfig } from '../src/config.js'
import { createStore } from '../src/infra/store/index.js'
import type { LoadCommand, LoadReply, LoadResult, LoadSpec } from './load.js'
import { cpuMeter, hasTaskset, loggedProblems, pinned, root, runScript, startCommand, startServer } from './processes.js'
import { machineInfo, renderReport, type Measured, type Results, type RunStats, type Target } from './report.js'
import { dropKeys, resetDatabase, seed } from './seed.js'
import type { WorkloadData, WorkloadId } from './workloads.js'

const SERVER_CPU = hasTaskset ? 0 : undefined
const LOAD_CPU = hasTaskset ? 1 : undefined
const RUNS = 3
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8)
const WARMUP = Number(process.env.BENCH_WARMUP_SECONDS ?? 3)
const LOGIN_SECONDS = Number(process.env.BENCH_LOGIN_SECONDS ?? 10)
const CONNECTIONS = 100
const LOGIN_CONNECTIONS = 16

const allWorkloads: WorkloadId[] = ['W1', 'W2', 'W3', 'W4', 'W5']
const asked = process.argv.slice(2).filter((a) => /^W[1-5]$/i.test(a)).map((a) => a.toUpperCase() as WorkloadId)
const workloads = asked.length > 0 ? allWorkloads.filter((w) => asked.includes(w)) : allWorkloads
const full = workloads.length === allWorkloads.length && !process.argv.some((a) => a.startsWith('--targets='))

export const targetScripts: Record<Target, string> = {
  ours: startCommand().script,
  apollo: 'bench/peers/apollo.ts',
  yoga: 'bench/peers/yoga.ts',
  plain: 'bench/peers/fastify-plain.ts',
}
// `--targets=ours,plain` narrows a run (for iteration; such a run never writes latest.md).
const onlyTargets = process.argv.find((a) => a.startsWith('--targets='))?.slice('--targets='.length).split(',') as Target[] | undefined
// Logins are bcrypt-bound whatever serves them; their goal is against the bcrypt ceiling.
const targetsOf = (w: WorkloadId): Target[] => {
  const all: Target[] = w === 'W3' ? ['ours'] : ['ours', 'apollo', 'yoga', 'plain']
  return all.filter((t) => !onlyTargets || onlyTargets.includes(t))
}

const runId = `${new Date().toISOString().replace(/[:.]/g, '-')}-${randomBytes(3).toString('hex')}`
const logDir = join(tmpdir(), `passport-bench-${runId}`)
mkdirSync(logDir, { recursive: true })
const resultsDir = join(root, 'bench/results')
mkdirSync(resultsDir, { recursive: true })

const adminUrl = process.env.BENCH_DATABASE_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres'
const redisUrl = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'
const prefix = `pgbench:${randomBytes(4).toString('hex')}:`
const huge = '1000000000'

const log = (message: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`)

// ---- the environment every server gets: production, the machine's PostgreSQL and Redis ----
const databaseUrl = await resetDatabase(adminUrl, process.env.BENCH_DATABASE_NAME ?? 'passport_bench')
const serverEnv: Record<string, string> = {
  NODE_ENV: 'production',
  DATABASE_URL: databaseUrl,
  REDIS_URL: redisUrl,
  REDIS_KEY_PREFIX: prefix,
  JWT_SECRET: randomBytes(48).toString('base64url'),
  // Production refuses the log provider. No workload sends SMS; nothing listens there.
  SMS_PROVIDER: 'webhook',
  SMS_WEBHOOK_URL: 'http://127.0.0.1:9/sms',
  SMS_WEBHOOK_SECRET: 'bench',
  // The limits stay on (every request still pays for its checks in Redis), just out of reach.
  CLIENT_REQUESTS_PER_MINUTE: huge,
  CLIENT_OPERATION_BUDGETS: budgetedFields.map((f) => `${f}=${huge}`).join(','),
}
const config = loadConfig({ ...process.env, ...serverEnv })
log(`database ${databaseUrl} migrated; Redis keys under ${prefix}; ${hasTaskset ? 'servers on CPU 0, load on CPU 1' : 'taskset not found: no pinning'}`)

const seeder = await seed(config, { sessionUsers: CONNECTIONS, loginUsers: LOGIN_CONNECTIONS })

// ---- the load generator: its own process on its own core ----
const [loadCommand, loadArgs] = pinned(LOAD_CPU, process.execPath, ['--import', 'tsx', join(root, 'bench/load.ts')])
const loader: ChildProcess = spawn(loadCommand, loadArgs, { cwd: root, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
await new Promise<void>((resolve, reject) => {
  loader.once('message', () => resolve())
  loader.once('exit', (code) => reject(new Error(`load generator exited (${code})`)))
})
let commandId = 0
const drive = (specs: LoadSpec[]) =>
  new Promise<LoadResult[]>((resolve, reject) => {
    const id = ++commandId
    const onMessage = (reply: LoadReply) => {
      if (reply.id !== id) return
      loader.off('message', onMessage)
      if (reply.type === 'done') resolve(reply.results)
      else reject(new Error(reply.error))
    }
    loader.on('message', onMessage)
    loader.send({ type: 'run', id, specs } satisfies LoadCommand)
  })

const median = (values: number[]) => {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b)
  if (s.length === 0) return NaN
  const mid = Math.floor(s.length / 2)
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

async function dataFor(workload: WorkloadId): Promise<WorkloadData> {
  switch (workload) {
    case 'W1':
      return { mobiles: seeder.mobiles }
    case 'W2':
      return { accessTokens: (await seeder.sessions(CONNECTIONS)).map((s) => s.accessToken) }
    case 'W3':
      return { logins: seeder.logins, mobiles: seeder.mobiles }
    case 'W4':
      return {}
    case 'W5':
      return { refreshTokens: (await seeder.sessions(CONNECTIONS)).map((s) => s.refreshToken) }
  }
}

type Phase = { workload: WorkloadId; connections: number; seconds: number }[]

/** One server, warmed up, then RUNS runs of each phase; RSS and event-loop delay per run. */
async function measure(target: Target, name: string, phases: Record<string, Phase>, data: WorkloadData): Promise<Record<string, Omit<Measured, 'label'>>> {
  const server = await startServer({ name, script: targetScripts[target], env: serverEnv, cpu: SERVER_CPU, logDir })
  const specs = (phase: Phase, seconds?: number): LoadSpec[] =>
    phase.map((p) => ({
      workload: p.workload,
      url: `${server.url}/graphql`,
      connections: p.connections,
      seconds: seconds ?? p.seconds,
      data,
      timeout: p.workload === 'W3' ? 60 : 10,
    }))
  const out: Record<string, Omit<Measured, 'label'>> = {}
  try {
    for (const [label, phase] of Object.entries(phases)) {
      const hashing = phase.some((p) => p.workload === 'W3')
      log(`${name} ${label}: warm-up ${WARMUP} s`)
      await drive(specs(phase, WARMUP))
      // Logins cut off at the end of a run still hold the hashing pool; let them finish.
      if (hashing) await sleep(4000)
      const runs: RunStats[][] = phase.map(() => [])
      for (let r = 0; r < RUNS; r++) {
        server.resetPeak()
        await server.eventLoop()
        const cpu0 = server.cpuSeconds()
        const t0 = performance.now()
        const cores = cpuMeter()
        const results = await drive(specs(phase))
        const coreBusy = cores()
        const serverCpu = (server.cpuSeconds() - cpu0) / ((performance.now() - t0) / 1000)
        const el = await server.eventLoop()
        const peakMb = server.peak()
        const rssMb = server.rss()
        results.forEach((res, i) =>
          runs[i]!.push({ ...res, peakMb, rssMb, elP99: el?.p99 ?? NaN, elMax: el?.max ?? NaN, serverCpu, coreBusy, memory: el?.memory ?? {} }),
        )
        const summary = results.map((res) => `${res.workload} ${res.rps.toFixed(1)} req/s p99 ${res.p99} ms bad ${res.bad}`).join('; ')
        log(
          `${name} ${label} run ${r + 1}: ${summary}; peak RSS ${peakMb.toFixed(1)} MB; event-loop p99 ${el?.p99.toFixed(1)} ms; ` +
            `server CPU ${(serverCpu * 100).toFixed(0)} %, cores ${coreBusy.map((c) => `${(c * 100).toFixed(0)} %`).join(' ')}; heap ${JSON.stringify(el?.memory)}`,
        )
        if (hashing) await sleep(4000)
      }
      phase.forEach((p, i) => {
        const rs = runs[i]!
        out[phase.length > 1 ? `${label}:${p.workload}` : label] = {
          workload: p.workload,
          target,
          connections: p.connections,
          runs: rs,
          rps: median(rs.map((r) => r.rps)),
          p50: median(rs.map((r) => r.p50)),
          p99: median(rs.map((r) => r.p99)),
          peakMb: median(rs.map((r) => r.peakMb)),
          elP99: median(rs.map((r) => r.elP99)),
          serverCpu: median(rs.map((r) => r.serverCpu)),
          bad: rs.reduce((n, r) => n + r.bad + r.errors + r.timeouts, 0),
          problems: [],
        }
      })
    }
  } finally {
    await server.stop()
  }
  const problems = loggedProblems(server.log)
  for (const m of Object.values(out)) m.problems = problems.slice(0, 5)
  if (problems.length === 0) rmSync(server.log, { force: true })
  else log(`${name}: ${problems.length} warning/error lines in ${server.log}`)
  return out
}

const started = Date.now()
const results: Results = { machine: await machineInfo(databaseUrl, redisUrl, hasTaskset), measured: [], ceilings: {}, settings: { bcryptCost: config.BCRYPT_COST, runs: RUNS, seconds: SECONDS, warmup: WARMUP, loginSeconds: LOGIN_SECONDS, connections: CONNECTIONS, loginConnections: LOGIN_CONNECTIONS, start: startCommand() } }

try {
  for (const workload of workloads) {
    for (const target of targetsOf(workload)) {
      const data = await dataFor(workload)
      if (workload === 'W3') {
        const login = { workload: 'W3' as const, connections: LOGIN_CONNECTIONS, seconds: LOGIN_SECONDS }
        const w1 = { workload: 'W1' as const, connections: CONNECTIONS, seconds: LOGIN_SECONDS }
        // The storm is judged against W1 alone: measured here when this run has no W1 of its own.
        const solo: Record<string, Phase> = workloads.includes('W1') ? {} : { W1: [{ ...w1, seconds: SECONDS }] }
        const m = await measure(target, `${target}-W3`, { ...solo, W3: [login], 'W3+W1': [login, w1] }, data)
        if (m.W1) results.measured.push({ ...m.W1, label: 'W1' })
        results.measured.push({ ...m.W3!, label: 'W3' }, { ...m['W3+W1:W3']!, label: 'W3 during storm' }, { ...m['W3+W1:W1']!, label: 'W1 during W3 storm' })
      } else {
        const m = await measure(target, `${target}-${workload}`, { [workload]: [{ workload, connections: CONNECTIONS, seconds: SECONDS }] }, data)
        results.measured.push({ ...m[workload]!, label: workload })
      }
    }
    if (workload === 'W3') {
      const rates = []
      for (let r = 0; r < RUNS; r++) {
        const c = await runScript<{ rate: number }>('bench/peers/bcrypt-ceiling.ts', [String(SECONDS), String(LOGIN_CONNECTIONS)], serverEnv, SERVER_CPU)
        log(`bcrypt ceiling run ${r + 1}: ${c.rate.toFixed(2)} compares/s`)
        rates.push(c.rate)
      }
      results.ceilings.bcrypt = { rates, rate: median(rates) }
    }
    if (workload === 'W4') {
      const rates = []
      for (let r = 0; r < RUNS; r++) {
        const c = await runScript<{ rate: number }>('bench/peers/captcha-ceiling.ts', [String(SECONDS), String(CONNECTIONS)], serverEnv, SERVER_CPU)
        log(`captcha ceiling run ${r + 1}: ${c.rate.toFixed(1)} captchas/s`)
        rates.push(c.rate)
      }
      results.ceilings.captcha = { rates, rate: median(rates) }
    }
  }
} finally {
  loader.send({ type: 'exit' } satisfies LoadCommand)
  await seeder.close()
  const store = await createStore(config)
  const removed = await dropKeys(store, prefix)
  await store.close()
  log(`removed ${removed} Redis keys under ${prefix}`)
}

results.elapsedSeconds = (Date.now() - started) / 1000
const markdown = renderReport(results, workloads)
writeFileSync(join(resultsDir, `${runId}.json`), JSON.stringify(results, null, 2))
if (full) {
  writeFileSync(join(resultsDir, 'latest.md'), markdown)
  log(`wrote bench/results/latest.md and bench/results/${runId}.json in ${results.elapsedSeconds.toFixed(0)} s`)
} else {
  log(`a subset (${workloads.join(' ')}): bench/results/latest.md left as it was; raw numbers in bench/results/${runId}.json`)
}
process.stdout.write(markdown)
// Server logs with warnings stay for a look; the rest goes.
for (const f of readdirSync(logDir)) if (f.endsWith('.el.json')) rmSync(join(logDir, f))
if (readdirSync(logDir).length === 0) rmSync(logDir, { recursive: true, force: true })
else log(`server logs with warnings kept in ${logDir}`)
process.exit(0)
