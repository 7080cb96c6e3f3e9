import { createConnection, createServer, type Server, type Socket } from 'node:net'

/**
 * A TCP proxy on a loopback port of its own, between the app and a real server, that a
 * test can cut and restore to play an outage:
 * - `forward`: bytes pass both ways (the normal state);
 * - `cut()`: every connection is reset and the port refuses new ones (the server is gone);
 * - `blackhole()`: connections, old and new, stay open but nothing passes either way
 *   (a hung server or a silent network partition).
 * `restore()` forwards again; connections that were blackholed are reset, since bytes
 * they swallowed can never be delivered.
 */
export interface TcpProxy {
  host: string
  port: number
  /** Connections open through the proxy right now. */
  readonly connections: number
  cut(): Promise<void>
  blackhole(): void
  restore(): Promise<void>
  close(): Promise<void>
}

interface Pair {
  client: Socket
  upstream: Socket | undefined
  swallowed: boolean
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const host = '127.0.0.1'
  let mode: 'forward' | 'blackhole' | 'cut' = 'forward'
  const pairs = new Set<Pair>()
  let port = 0

  const reset = (pair: Pair) => {
    pairs.delete(pair)
    pair.client.resetAndDestroy()
    pair.upstream?.resetAndDestroy()
  }

  const swallow = (pair: Pair) => {
    pair.swallowed = true
    pair.client.unpipe()
    pair.upstream?.unpipe()
    // Read and drop, so the sender never sees back-pressure either.
    pair.client.removeAllListeners('data').on('data', () => {})
    pair.upstream?.removeAllListeners('data').on('data', () => {})
  }

  const onConnection = (client: Socket) => {
    const pair: Pair = { client, upstream: undefined, swallowed: false }
    pairs.add(pair)
    client.on('error', () => {})
    client.on('close', () => {
      pairs.delete(pair)
      pair.upstream?.destroy()
    })
    if (mode === 'blackhole') {
      swallow(pair)
      return
    }
    const upstream = createConnection(target)
    pair.upstream = upstream
    upstream.on('error', () => {})
    upstream.on('close', () => {
      pairs.delete(pair)
      client.destroy()
    })
    client.pipe(upstream)
    upstream.pipe(client)
  }

  const listen = (server: Server, p: number) =>
    new Promise<number>((resolve, reject) => {
      server.once('error', reject)
      server.listen(p, host, () => {
        server.off('error', reject)
        const address = server.address()
        resolve(typeof address === 'object' && address ? address.port : p)
      })
    })
  const closeServer = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()))

  let server: Server | undefined = createServer(onConnection)
  port = await listen(server, 0)

  const cut = async () => {
    mode = 'cut'
    const s = server
    server = undefined
    for (const pair of [...pairs]) reset(pair)
    if (s) await closeServer(s)
  }

  return {
    host,
    get port() {
      return port
    },
    get connections() {
      return pairs.size
    },
    cut,
    blackhole() {
      mode = 'blackhole'
      for (const pair of pairs) swallow(pair)
    },
    async restore() {
      for (const pair of [...pairs]) if (pair.swallowed) reset(pair)
      mode = 'forward'
      if (!server) {
        // The same port again: the app's connection string names it.
        const s = createServer(onConnection)
        await listen(s, port)
        server = s
      }
    },
    close: cut,
  }
}
