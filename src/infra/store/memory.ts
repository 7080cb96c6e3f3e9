import type { GateResult, Reservation, Store, Window } from './types.js'

type Entry =
  | { type: 'value'; value: string; gcAt: number }
  | { type: 'log'; stamps: { id: string; at: number }[]; gcAt: number }
  | { type: 'record'; fields: Record<string, string>; attempts: number; expiresAt: number; gcAt: number }

/**
 * The in-process store used when REDIS_URL is unset. Every method runs to completion
 * without awaiting in between, so each one is atomic on Node's single thread, which is
 * what the Redis scripts give across processes. One process only: limits are not shared.
 */
export function createMemoryStore(options: { sweepMs?: number } = {}): Store {
  const entries = new Map<string, Entry>()

  // Garbage collection by wall time, like Redis TTLs; the logical `now` decides rules.
  const live = <T extends Entry['type']>(key: string, type: T): Extract<Entry, { type: T }> | undefined => {
    const e = entries.get(key)
    if (!e) return undefined
    if (e.gcAt <= Date.now()) {
      entries.delete(key)
      return undefined
    }
    return e.type === type ? (e as Extract<Entry, { type: T }>) : undefined
  }

  const sweeper = setInterval(() => {
    const t = Date.now()
    for (const [k, e] of entries) if (e.gcAt <= t) entries.delete(k)
  }, options.sweepMs ?? 30_000)
  sweeper.unref()

  const prune = (key: string, windowMs: number, now: number) => {
    const log = live(key, 'log')
    if (!log) return []
    log.stamps = log.stamps.filter((s) => s.at > now - windowMs)
    return log.stamps
  }

  const append = (key: string, id: string, now: number, windowMs: number) => {
    const log = live(key, 'log')
    const gcAt = Date.now() + windowMs
    if (log) {
      log.stamps.push({ id, at: now })
      log.gcAt = gcAt
    } else {
      entries.set(key, { type: 'log', stamps: [{ id, at: now }], gcAt })
    }
  }

  return {
    kind: 'memory',

    async set(key, value, ttlMs) {
      entries.set(key, { type: 'value', value, gcAt: Date.now() + ttlMs })
    },
    async take(key) {
      const e = live(key, 'value')
      if (!e) return null
      entries.delete(key)
      return e.value
    },

    async reserve(id, windows, now): Promise<Reservation> {
      let blocked: { retryAfterMs: number; key: string } | undefined
      for (const w of windows) {
        if (w.windowMs <= 0) continue
        const stamps = prune(w.key, w.windowMs, now)
        if (stamps.length >= w.limit) {
          // The slot frees when the (count - limit + 1)-th oldest reservation leaves the window.
          const freeing = stamps[stamps.length - w.limit]!
          const retryAfterMs = freeing.at + w.windowMs - now
          if (!blocked || retryAfterMs > blocked.retryAfterMs) blocked = { retryAfterMs, key: w.key }
        }
      }
      if (blocked) return { ok: false, ...blocked }
      for (const w of windows) if (w.windowMs > 0) append(w.key, id, now, w.windowMs)
      return { ok: true }
    },
    async release(id, keys) {
      for (const key of keys) {
        const log = live(key, 'log')
        if (log) log.stamps = log.stamps.filter((s) => s.id !== id)
      }
    },
    async clear(keys) {
      for (const key of keys) entries.delete(key)
    },

    async gate(id, g, captchaSolved, now): Promise<GateResult> {
      const stamps = prune(g.key, g.windowMs, now)
      const n = stamps.length
      if (n >= g.lockAfter) {
        const until = Math.max(...stamps.map((s) => s.at)) + g.lockMs
        if (until > now) return { ok: false, reason: 'locked', retryAfterMs: until - now }
      }
      if (n >= g.captchaAfter && !captchaSolved) return { ok: false, reason: 'captcha' }
      append(g.key, id, now, g.windowMs)
      return { ok: true, count: n + 1 }
    },

    async putRecord(key, fields, expiresAt, ttlMs) {
      entries.set(key, { type: 'record', fields: { ...fields }, attempts: 0, expiresAt, gcAt: Date.now() + ttlMs })
    },
    async attempt(key, maxAttempts, now) {
      const r = live(key, 'record')
      if (!r) return null
      if (r.expiresAt <= now) {
        entries.delete(key)
        return null
      }
      r.attempts += 1
      if (r.attempts > maxAttempts) {
        entries.delete(key)
        return null
      }
      return { ...r.fields }
    },
    async deleteIf(key, field, value) {
      const r = live(key, 'record')
      if (!r || r.fields[field] !== value) return false
      entries.delete(key)
      return true
    },

    async ping() {
      return true
    },
    async close() {
      clearInterval(sweeper)
      entries.clear()
    },
  }
}
