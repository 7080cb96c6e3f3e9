import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from './redis-server.js'

export interface TestCluster {
  /** a seed node's URL, for REDIS_URL with REDIS_CLUSTER=true */
  url: string
  close(): Promise<void>
}

const cli = (args: string[]) => spawnSync('redis-cli', args, { encoding: 'utf8', timeout: 20_000 })

/** Three master nodes of a Redis Cluster of the test's own, on free ports. */
export async function startRedisCluster(): Promise<TestCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'pg-cluster-'))
  const ports = [await freePort(), await freePort(), await freePort()]
  const children: ChildProcess[] = ports.map((port) =>
    spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`,
        '--cluster-node-timeout', '2000', '--save', '', '--appendonly', 'no', '--dir', dir],
      { stdio: 'ignore' },
    ),
  )
  const close = async () => {
    for (const c of children) c.kill('SIGKILL')
    await rm(dir, { recursive: true, force: true })
  }
  try {
    for (const port of ports) {
      for (let i = 0; ; i++) {
        if (cli(['-p', String(port), 'ping']).stdout.trim() === 'PONG') break
        if (i > 100) throw new Error(`redis-server on ${port} did not start`)
        await new Promise((r) => setTimeout(r, 50))
      }
    }
    const create = cli(['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'])
    if (create.status !== 0) throw new Error(`cluster create failed: ${create.stdout} ${create.stderr}`)
    for (let i = 0; ; i++) {
      if (/cluster_state:ok/.test(cli(['-p', String(ports[0]), 'cluster', 'info']).stdout)) break
      if (i > 200) throw new Error('the cluster did not become ready')
      await new Promise((r) => setTimeout(r, 50))
    }
  } catch (err) {
    await close()
    throw err
  }
  return { url: `redis://127.0.0.1:${ports[0]}`, close }
}
