// The Markdown report: results as measured (truncated, never rounded up), the ratios the
// goals are stated in, each goal met or missed, and for a missed goal why and what would
// reach it (bench/notes.ts).
import { cpus, release, totalmem } from 'node:os'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { Redis } from 'ioredis'
import type { LoadResult } from './load.js'
import { missNotes, type Facts, type GoalId } from './notes.js'
import { root } from './processes.js'
import type { WorkloadId } from './workloads.js'

export type Target = 'ours' | 'apollo' | 'yoga' | 'plain'

export interface RunStats extends LoadResult {
  /** the server's highest RSS during the run, MB */
  peakMb: number
  /** its RSS right after the run, MB */
  rssMb: number
  /** event-loop delay during the run, ms */
  elP99: number
  elMax: number
  /** the server's CPU use during the run, in cores (all its threads) */
  serverCpu: number
  /** busy share of each CPU of the machine during the run */
  coreBusy: number[]
  /** the server's process.memoryUsage() in MB after the run */
  memory: Record<string, number>
}

export interface Measured {
  label: string
  workload: WorkloadId
  target: Target
  connections: number
  runs: RunStats[]
  rps: number
  p50: number
  p99: number
  peakMb: number
  elP99: number
  serverCpu: number
  /** bad answers, socket errors and timeouts over all runs */
  bad: number
  problems: string[]
}

export interface MachineInfo {
  date: string
  cpu: string
  cores: number
  memoryGb: number
  kernel: string
  node: string
  postgres: string
  redis: string
  pinning: string
  packages: Record<string, string>
}

export interface Results {
  machine: MachineInfo
  measured: Measured[]
  ceilings: { bcrypt?: { rates: number[]; rate: number }; captcha?: { rates: number[]; rate: number } }
  settings: Record<string, unknown>
  elapsedSeconds?: number
}

const PACKAGES = [
  'fastify',
  'mercurius',
  'graphql',
  '@apollo/server',
  '@as-integrations/fastify',
  'graphql-yoga',
  '@prisma/client',
  '@prisma/adapter-pg',
  'pg',
  'ioredis',
  'bcrypt',
  'fast-jwt',
  'svg-captcha',
  'autocannon',
]

export async function machineInfo(databaseUrl: string, redisUrl: string, pinning: boolean): Promise<MachineInfo> {
  const version = (name: string) => {
    try {
      return (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version
    } catch {
      return '?'
    }
  }
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  const postgres = ((await client.query('SHOW server_version')).rows[0] as { server_version: string }).server_version
  await client.end()
  const redis = new Redis(redisUrl, { lazyConnect: true })
  await redis.connect()
  const info = await redis.info('server')
  redis.disconnect()
  return {
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model ?? '?',
    cores: cpus().length,
    memoryGb: Math.floor(totalmem() / 2 ** 30),
    kernel: `Linux ${release()}`,
    node: process.version,
    postgres,
    redis: /redis_version:(\S+)/.exec(info)?.[1] ?? '?',
    pinning: pinning ? 'server on CPU 0, load generator on CPU 1 (taskset); PostgreSQL and Redis unpinned' : 'none (taskset not found)',
    packages: Object.fromEntries(PACKAGES.map((p) => [p, version(p)])),
  }
}

/** Truncates to `digits` decimals: a number shown is never more than what was measured. */
const down = (value: number, digits = 0) => {
  if (!Number.isFinite(value)) return 'n/a'
  const f = 10 ** digits
  return (Math.floor(value * f + 1e-9) / f).toFixed(digits)
}

const names: Record<Target, string> = {
  ours: '**passport-gateway** (mercurius)',
  apollo: 'Apollo Server 5 on Fastify',
  yoga: 'GraphQL Yoga 5 on Fastify',
  plain: 'plain Fastify route (ceiling)',
}

const titles: Record<string, string> = {
  W1: 'W1 `checkMobile`',
  W2: 'W2 `me`',
  W3: 'W3 `login` PASSWORD, alone',
  'W3 during storm': 'W3 `login` during W1',
  'W1 during W3 storm': 'W1 during the login storm',
  W4: 'W4 `requestImageCaptcha`',
  W5: 'W5 `refreshToken` rotation',
}

interface Goal {
  id: GoalId
  what: string
  measured: string
  target: string
  met: boolean
}

export function renderReport(results: Results, workloads: WorkloadId[]): string {
  const { machine, measured, ceilings } = results
  const find = (label: string, target: Target) => measured.find((m) => m.label === label && m.target === target)
  const lines: string[] = []
  const p = (s = '') => lines.push(s)

  p('# passport-gateway benchmarks')
  p()
  p(`Written by \`npm run bench\` on ${machine.date.slice(0, 16).replace('T', ' ')} UTC in ${down((results.elapsedSeconds ?? 0) / 60, 1)} minutes. ` +
    'Method, and how to run it: [bench/README.md](../README.md).')
  p()
  p(`- Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GiB; ${machine.kernel}`)
  p(`- Node ${machine.node}; PostgreSQL ${machine.postgres}; Redis ${machine.redis}`)
  p(`- Pinning: ${machine.pinning}`)
  p(`- Packages: ${Object.entries(machine.packages).map(([k, v]) => `${k} ${v}`).join(', ')}`)
  const s = results.settings as { bcryptCost: number; runs: number; seconds: number; warmup: number; loginSeconds: number; start: { env: Record<string, string>; nodeArgs: string[] } }
  const startEnv = Object.entries(s.start.env).map(([k, v]) => `${k}=${v}`).join(' ')
  p(`- Every server: \`NODE_ENV=production\`, started as \`npm start\` starts ours (${startEnv ? `\`${startEnv}\` ` : ''}\`node ${s.start.nodeArgs.join(' ')} <script>\`), ` +
    `default LOG_LEVEL (info), client limits on but out of reach. Per workload: ${s.warmup} s warm-up, then ${s.runs} runs of ${s.seconds} s ` +
    `(logins ${s.loginSeconds} s); the figures are medians of the ${s.runs} runs. Only answers whose body is the expected data count.`)
  p()

  p('## Results')
  p()
  p('| workload | server | connections | req/s | p50 ms | p99 ms | peak RSS MB | event-loop delay p99 ms | server CPU | bad answers |')
  p('|---|---|--:|--:|--:|--:|--:|--:|--:|--:|')
  for (const m of measured) {
    p(`| ${titles[m.label] ?? m.label} | ${names[m.target]} | ${m.connections} | ${down(m.rps, m.rps < 100 ? 2 : 0)} | ${down(m.p50)} | ${down(m.p99)} | ` +
      `${down(m.peakMb, 1)} | ${down(m.elP99, 1)} | ${down(m.serverCpu * 100)} % | ${m.bad} |`)
  }
  if (ceilings.bcrypt) p(`| bcrypt ceiling | ${s.start.env.UV_THREADPOOL_SIZE ?? 'default'} libuv threads, 16 compares in flight, cost ${s.bcryptCost} | | ${down(ceilings.bcrypt.rate, 2)} | | | | | | |`)
  if (ceilings.captcha) p(`| captcha ceiling | svg-captcha + one Redis SET, 100 in flight | | ${down(ceilings.captcha.rate)} | | | | | | |`)
  p()

  const goals: Goal[] = []
  const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined && b > 0 ? a / b : NaN)
  for (const w of ['W1', 'W2'] as const) {
    if (!workloads.includes(w)) continue
    const ours = find(w, 'ours')
    const vs = (t: Target, min: number, id: GoalId) => {
      const peer = find(w, t)
      if (!ours || !peer) return // not run this time (--targets)
      const r = ratio(ours.rps, peer.rps)
      goals.push({ id, what: `${w} req/s vs ${names[t]}`, measured: `${down(r, 2)}x`, target: `≥ ${min}x`, met: r >= min })
    }
    vs('apollo', 2.0, `${w}-apollo`)
    vs('yoga', 1.5, `${w}-yoga`)
    vs('plain', 0.7, `${w}-plain`)
    if (ours) goals.push({ id: `${w}-p99`, what: `${w} p99 at ${ours.connections} connections`, measured: `${down(ours.p99)} ms`, target: '< 25 ms', met: ours.p99 < 25 })
  }
  if (workloads.includes('W3')) {
    const solo = find('W3', 'ours')
    const r = ratio(solo?.rps, ceilings.bcrypt?.rate)
    goals.push({ id: 'W3-bcrypt', what: 'W3 logins/s vs the bcrypt ceiling', measured: `${down(r, 2)}x`, target: '≥ 0.9x', met: r >= 0.9 })
    const w1Solo = find('W1', 'ours')
    const w1Storm = find('W1 during W3 storm', 'ours')
    const keep = ratio(w1Storm?.rps, w1Solo?.rps)
    goals.push({ id: 'W3-storm-w1', what: 'W1 req/s during the login storm vs W1 alone', measured: w1Solo ? `${down(keep, 2)}x` : 'W1 not run', target: '≥ 0.7x', met: keep >= 0.7 })
    const el = w1Storm?.elP99 ?? NaN
    goals.push({ id: 'W3-storm-el', what: 'event-loop delay p99 during the login storm', measured: `${down(el, 1)} ms`, target: '< 20 ms', met: el < 20 })
  }
  if (workloads.includes('W4')) {
    const r = ratio(find('W4', 'ours')?.rps, ceilings.captcha?.rate)
    goals.push({ id: 'W4-captcha', what: 'W4 req/s vs bare svg-captcha + one Redis SET', measured: `${down(r, 2)}x`, target: '≥ 0.7x', met: r >= 0.7 })
  }
  const oursRows = measured.filter((m) => m.target === 'ours')
  if (oursRows.length > 0) {
    const worst = oursRows.reduce((a, b) => (Math.max(...b.runs.map((r) => r.peakMb)) > Math.max(...a.runs.map((r) => r.peakMb)) ? b : a))
    const peak = Math.max(...worst.runs.map((r) => r.peakMb))
    goals.push({ id: 'rss-peak', what: 'peak RSS, highest run of any workload', measured: `${down(peak, 1)} MB (${worst.label})`, target: '< 200 MB', met: peak < 200 })
  }
  const w1 = find('W1', 'ours')
  if (w1 && w1.runs.length >= 2) {
    const first = w1.runs[0]!.rssMb
    const last = w1.runs[w1.runs.length - 1]!.rssMb
    const growth = (last - first) / first
    goals.push({
      id: 'rss-growth',
      what: `RSS growth over ${w1.runs.length} back-to-back W1 runs (after each: ${w1.runs.map((r) => down(r.rssMb, 1)).join(', ')} MB)`,
      measured: `${growth < 0 ? '-' : ''}${down(Math.abs(growth) * 100, 1)} %`,
      target: '< 10 %',
      met: growth < 0.1,
    })
  }

  p('## Goals (ratios measured in this run)')
  p()
  p('| goal | measured | target | |')
  p('|---|--:|--:|---|')
  for (const g of goals) p(`| ${g.what} | ${g.measured} | ${g.target} | ${g.met ? 'met' : '**missed**'} |`)
  p()

  const bad = measured.filter((m) => m.bad > 0)
  if (bad.length > 0) {
    p('## Bad answers')
    p()
    p('These never counted as throughput. First samples:')
    p()
    for (const m of bad) {
      const samples = m.runs.flatMap((r) => r.samples).slice(0, 2)
      p(`- ${titles[m.label] ?? m.label}, ${names[m.target]}: ${m.bad}; ${samples.map((x) => `\`${x.replace(/`/g, "'").slice(0, 200)}\``).join(' ')}`)
    }
    p()
  }
  const problems = measured.filter((m) => m.problems.length > 0)
  if (problems.length > 0) {
    p('## Warnings the servers logged')
    p()
    for (const m of problems) p(`- ${names[m.target]} (${m.label}): \`${m.problems[0]!.replace(/`/g, "'").slice(0, 300)}\``)
    p()
  }

  // The figures the closing note quotes.
  const facts: Facts = {}
  for (const w of ['W1', 'W2', 'W4'] as const) {
    const plain = find(w, 'plain')?.rps
    const ours = find(w, 'ours')?.rps
    if (ours !== undefined) {
      facts[`${w}.rps`] = down(ours)
      facts[`${w}.meanMs`] = down((100 / ours) * 1000, 1)
    }
    for (const t of ['ours', 'apollo', 'yoga'] as const) {
      facts[`${w}.${t}VsPlain`] = `${down(ratio(find(w, t)?.rps, plain), 2)}x`
      const most = ratio(plain, find(w, t)?.rps)
      facts[`${w}.plainVs${t}`] = `${down(most, 2)}x`
      facts[`${w}.plainVs${t}Value`] = String(most)
    }
  }
  facts['W4.plainVsCeiling'] = `${down(ratio(find('W4', 'plain')?.rps, ceilings.captcha?.rate), 2)}x`

  const missed = goals.filter((g) => !g.met)
  p('## Closing note')
  p()
  if (missed.length === 0) p('Every goal was met in this run.')
  for (const g of missed) p(`- **${g.what}** (${g.measured}, target ${g.target}): ${missNotes[g.id](facts)}`)
  p()
  return lines.join('\n')
}
