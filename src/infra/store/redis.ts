import { Redis, Cluster, type RedisOptions } from 'ioredis'
import type { GateResult, Reservation, Store, Window } from './types.js'

// Each rule that must hold across processes is one Lua script, so Redis runs it without
// interleaving another client's commands. Scripts touch only the KEYS they are given,
// which share a hash tag, so they run on Redis Cluster too.

const RESERVE = `
local now = tonumber(ARGV[2])
local retry, blocked = -1, ''
for i, key in ipairs(KEYS) do
  local limit, win = tonumber(ARGV[1 + i * 2]), tonumber(ARGV[2 + i * 2])
  if win > 0 then
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - win)
    local n = redis.call('ZCARD', key)
    if n >= limit then
      local freeing = redis.call('ZRANGE', key, n - limit, n - limit, 'WITHSCORES')
      local r = tonumber(freeing[2]) + win - now
      if r > retry then retry, blocked = r, key end
    end
  end
end
if retry >= 0 then return {0, tostring(retry), blocked} end
for i, key in ipairs(KEYS) do
  local win = tonumber(ARGV[2 + i * 2])
  if win > 0 then
    redis.call('ZADD', key, now, ARGV[1])
    redis.call('PEXPIRE', key, win)
  end
end
return {1}
`

const GATE = `
local now, win = tonumber(ARGV[2]), tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - win)
local n = redis.call('ZCARD', KEYS[1])
if n >= tonumber(ARGV[5]) then
  local newest = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  local untilAt = tonumber(newest[2]) + tonumber(ARGV[6])
  if untilAt > now then return {0, 'locked', tostring(untilAt - now)} end
end
if n >= tonumber(ARGV[4]) and ARGV[7] == '0' then return {0, 'captcha'} end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], win)
return {1, tostring(n + 1)}
`

const PUT_RECORD = `
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], '__exp', ARGV[1], '__attempts', 0, unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
`

// Counts the attempt before returning anything to compare against.
const ATTEMPT = `
if redis.call('EXISTS', KEYS[1]) == 0 then return nil end
local exp = tonumber(redis.call('HGET', KEYS[1], '__exp'))
if exp == nil or exp <= tonumber(ARGV[2]) then
  redis.call('DEL', KEYS[1])
  return nil
end
local a = redis.call('HINCRBY', KEYS[1], '__attempts', 1)
if a > tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return nil
end
return redis.call('HGETALL', KEYS[1])
`

const DELETE_IF = `
if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`

interface Scripts {
  pgReserve(...args: (string | number)[]): Promise<[number, string?, string?]>
  pgGate(key: string, ...args: (string | number)[]): Promise<[number, string?, string?]>
  pgPutRecord(key: string, ...args: (string | number)[]): Promise<number>
  pgAttempt(key: string, max: number, now: number): Promise<string[] | null>
  pgDeleteIf(key: string, field: string, value: string): Promise<number>
}

type Client = (Redis | Cluster) & Scripts

export interface RedisStoreOptions {
  url: string
  cluster?: boolean
  keyPrefix?: string
  /** Upper bound for any one command, so a stalled Redis fails a request instead of hanging it. */
  commandTimeoutMs?: number
  /** Where connection loss and recovery are reported; silent without one. */
  log?: { warn(msg: string): void; info(msg: string): void }
}

export async function createRedisStore(options: RedisStoreOptions): Promise<Store> {
  const prefix = options.keyPrefix ?? ''
  const k = (key: string) => prefix + key
  // Every script here is a handful of O(log n) steps: a Redis that has not answered in a
  // second is not going to, and the request is better failed than held.
  const timeout = options.commandTimeoutMs ?? 1000

  // While Redis is away, a command fails at once instead of waiting in a queue: nothing can
  // be decided without the store (no code accepted, no limit skipped), and a failed
  // command must not run later behind the caller's back, when the request that sent it
  // has already been answered. Only a command Redis received and never answered has an
  // unknown outcome, as with any network call.
  const base: RedisOptions = {
    lazyConnect: true,
    connectTimeout: Math.max(timeout, 2000),
    commandTimeout: timeout,
    // A connection that answers nothing (a hung server, a silent partition) is dropped and
    // redialled, rather than trusted until the kernel gives up on it minutes later.
    socketTimeout: timeout * 3,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    // Reconnects in the background until Redis is back; the service recovers by itself.
    retryStrategy: (times) => Math.min(100 * times, 1000),
  }
  let client: Client
  if (options.cluster) {
    // ioredis keeps its own queues for a Cluster (nodes always queue; the cluster queues
    // while it rediscovers slots): commandTimeout bounds a command once a node has it,
    // not while the whole cluster is unreachable. ping() is bounded regardless.
    const u = new URL(options.url)
    client = new Cluster([{ host: u.hostname, port: Number(u.port || 6379) }], {
      lazyConnect: true,
      redisOptions: {
        ...base,
        username: u.username ? decodeURIComponent(u.username) : undefined,
        password: u.password ? decodeURIComponent(u.password) : undefined,
        tls: u.protocol === 'rediss:' ? {} : undefined,
      },
      clusterRetryStrategy: (times) => Math.min(100 * times, 1000),
    }) as Client
  } else {
    client = new Redis(options.url, base) as Client
  }
  client.defineCommand('pgReserve', { lua: RESERVE })
  client.defineCommand('pgGate', { numberOfKeys: 1, lua: GATE })
  client.defineCommand('pgPutRecord', { numberOfKeys: 1, lua: PUT_RECORD })
  client.defineCommand('pgAttempt', { numberOfKeys: 1, lua: ATTEMPT })
  client.defineCommand('pgDeleteIf', { numberOfKeys: 1, lua: DELETE_IF })
  // Errors reach callers where a command fails. The event needs a listener all the same,
  // or an 'error' with none would crash the process; it reports each outage once.
  let down = false
  client.on('error', (error: Error) => {
    if (down) return
    down = true
    options.log?.warn(`redis: ${error.message}; failing requests until it answers again`)
  })
  client.on('ready', () => {
    if (!down) return
    down = false
    options.log?.info('redis: answering again')
  })
  try {
    await client.connect()
  } catch (error) {
    // Otherwise it would go on redialling in the background of a process that failed to start.
    client.disconnect()
    throw error
  }

  const active = (windows: readonly Window[]) => windows.filter((w) => w.windowMs > 0)

  return {
    kind: 'redis',
    redis: client,

    async set(key, value, ttlMs) {
      await client.set(k(key), value, 'PX', Math.max(1, Math.ceil(ttlMs)))
    },
    async take(key) {
      return client.getdel(k(key))
    },

    async reserve(id, windows, now): Promise<Reservation> {
      const ws = active(windows)
      if (ws.length === 0) return { ok: true }
      const args: (string | number)[] = [ws.length, ...ws.map((w) => k(w.key)), id, now]
      for (const w of ws) args.push(w.limit, w.windowMs)
      const [ok, retry, key] = await client.pgReserve(...args)
      if (ok === 1) return { ok: true }
      return { ok: false, retryAfterMs: Number(retry), key: (key ?? '').slice(prefix.length) }
    },
    async release(id, keys) {
      await Promise.all(keys.map((key) => client.zrem(k(key), id)))
    },
    async clear(keys) {
      await Promise.all(keys.map((key) => client.del(k(key))))
    },

    async gate(id, g, captchaSolved, now): Promise<GateResult> {
      const [ok, a, b] = await client.pgGate(k(g.key), id, now, g.windowMs, g.captchaAfter, g.lockAfter, g.lockMs, captchaSolved ? 1 : 0)
      if (ok === 1) return { ok: true, count: Number(a) }
      if (a === 'captcha') return { ok: false, reason: 'captcha' }
      return { ok: false, reason: 'locked', retryAfterMs: Number(b) }
    },

    async putRecord(key, fields, expiresAt, ttlMs) {
      const flat: string[] = []
      for (const [f, v] of Object.entries(fields)) flat.push(f, v)
      await client.pgPutRecord(k(key), expiresAt, Math.max(1, Math.ceil(ttlMs)), ...flat)
    },
    async attempt(key, maxAttempts, now) {
      const flat = await client.pgAttempt(k(key), maxAttempts, now)
      if (!flat) return null
      const fields: Record<string, string> = {}
      for (let i = 0; i + 1 < flat.length; i += 2) {
        const f = flat[i]!
        if (!f.startsWith('__')) fields[f] = flat[i + 1]!
      }
      return fields
    },
    async deleteIf(key, field, value) {
      return (await client.pgDeleteIf(k(key), field, value)) === 1
    },

    async ping() {
      // Bounded here as well as by commandTimeout: a Cluster queues commands while it
      // rediscovers its nodes, and a readiness probe must answer either way.
      let timer: NodeJS.Timeout | undefined
      const timedOut = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), timeout)
      })
      const answered = client.ping().then(
        (reply) => reply === 'PONG',
        () => false,
      )
      try {
        return await Promise.race([answered, timedOut])
      } finally {
        clearTimeout(timer)
      }
    },
    async close() {
      await client.quit().catch(() => client.disconnect())
    },
  }
}
