// The part of autocannon's API that bench/load.ts uses (the package ships no types).
declare module 'autocannon' {
  namespace autocannon {
    interface Request {
      method?: string
      path?: string
      headers?: Record<string, string>
      body?: string
      setupRequest?: (request: Request, context: Record<string, unknown>) => Request | undefined
      onResponse?: (status: number, body: string, context: Record<string, unknown>, headers: Record<string, string>) => void
    }
    interface Client {
      setRequests(requests: Request[]): void
    }
    interface Options {
      url: string
      connections?: number
      duration?: number
      timeout?: number
      setupClient?: (client: Client) => void
    }
    interface Histogram {
      p50: number
      p99: number
      average: number
      max: number
    }
    interface Result {
      latency: Histogram
      requests: Histogram
      errors: number
      timeouts: number
      non2xx: number
      mismatches: number
      start: Date
      finish: Date
      duration: number
    }
  }
  function autocannon(options: autocannon.Options, callback: (error: Error | null, result: autocannon.Result) => void): unknown
  export default autocannon
}
