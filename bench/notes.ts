// Why a goal can be missed on this machine and what would reach it: printed in the
// report's closing note for each goal a run misses, with that run's own figures. The
// explanations come from measurements (CPU profiles of the server under W1, and A/B runs
// of candidate changes; bench/README.md keeps their record).

export type GoalId =
  | 'W1-apollo'
  | 'W1-yoga'
  | 'W1-plain'
  | 'W1-p99'
  | 'W2-apollo'
  | 'W2-yoga'
  | 'W2-plain'
  | 'W2-p99'
  | 'W3-bcrypt'
  | 'W3-storm-w1'
  | 'W3-storm-el'
  | 'W4-captcha'
  | 'rss-peak'
  | 'rss-growth'

/** Figures of the run a note may quote, already formatted. */
export type Facts = Record<string, string>

const shared =
  'every request spends most of its time in what all four servers share: HTTP and the security layer (helmet, CORS, ' +
  'the request budget in Redis), pino writing two request log lines, the field budget in Redis and the PostgreSQL lookup ' +
  'through Prisma; a CPU profile of our server under W1 puts GraphQL parsing, validation and execution (graphql + ' +
  'mercurius) at about 4 % of its time and garbage collection at about 20 %'

const framework = (peer: string, key: string, w: string, target: number) => (f: Facts) => {
  const head =
    `Our ratio to ${peer} can be at most the plain-Fastify ceiling's, ${f[`${w}.plainVs${key}`]} in this run ` +
    `(${peer} reached ${f[`${w}.${key}VsPlain`]} of the ceiling, ours ${f[`${w}.oursVsPlain`]}).`
  if (Number(f[`${w}.plainVs${key}Value`]) < target) {
    return (
      `${head} So it is not reachable by tuning ours: ${shared}. ${peer} would have to spend as long in GraphQL ` +
      'as the whole plain route takes. Cheaper shared work (see the p99 note) widens the gap only as far as the ' +
      'frameworks\' own costs differ.'
    )
  }
  return (
    `${head} So it is within reach but close to the ceiling: ${shared}. The rest is mercurius's own work per ` +
    'request and run-to-run noise (about ±10 % between two starts of one server on this machine).'
  )
}

const p99 = (w: string) => (f: Facts) =>
  `At 100 connections latency is queueing: 100 requests over ${f[`${w}.rps`]} req/s is about ${f[`${w}.meanMs`]} ms on average, ` +
  'and the tail adds garbage-collection pauses on the server\'s single core. What would reach 25 ms is more requests per ' +
  'second of CPU: measured on W1, dropping Fastify\'s two per-request log lines (`disableRequestLogging`, keeping ' +
  'error logs) gave about +20 % req/s and a young generation of 64 MB (`--max-semi-space-size=64`) about +13 % but ' +
  '+60-120 MB RSS; or a second core for the server, which the bench gives to the load generator.'

export const missNotes: Record<GoalId, (f: Facts) => string> = {
  'W1-apollo': framework('Apollo Server 5', 'apollo', 'W1', 2),
  'W1-yoga': framework('GraphQL Yoga 5', 'yoga', 'W1', 1.5),
  'W1-plain': (f) => `Ours reached ${f['W1.oursVsPlain']} of the plain route; ${shared}.`,
  'W1-p99': p99('W1'),
  'W2-apollo': framework('Apollo Server 5', 'apollo', 'W2', 2),
  'W2-yoga': framework('GraphQL Yoga 5', 'yoga', 'W2', 1.5),
  'W2-plain': (f) => `Ours reached ${f['W2.oursVsPlain']} of the plain route; ${shared}.`,
  'W2-p99': p99('W2'),
  'W3-bcrypt': () =>
    'bcrypt runs on the libuv pool: its 4 threads and the event loop share the server\'s one core, and the switching ' +
    'between them costs part of it. Measured: hashing on one worker thread per core (a bounded queue in front) ' +
    'reached 1.07x of the ceiling.',
  'W3-storm-w1': () =>
    'bcrypt on the libuv pool runs on threads the kernel weighs the same as the event loop: with 4 hashes in flight ' +
    'on the server\'s one core, the event loop gets about a fifth of it. Measured fix: hashes on one worker thread per ' +
    'core at nice 10 (Linux sets a thread\'s nice value per thread, so the event loop keeps 0) behind a bounded queue: ' +
    'W1 kept about 0.95x of its solo rate, event-loop p99 about 10 ms, logins alone 1.07x of the ceiling. The price: ' +
    'while other requests keep the core busy, logins get what the event loop leaves (about 0.4/s in the storm; nice 5 ' +
    'gave 1.1 logins/s but W1 only 0.68x; nice 19 starved logins completely).',
  'W3-storm-el': () =>
    'The event loop waits for the CPU behind 4 bcrypt threads of equal weight on one core. The same fix as for W1 ' +
    'during the storm (hashing on worker threads at nice 10) measured an event-loop p99 of about 10 ms.',
  'W4-captcha': (f) =>
    `The ceiling is the captcha work alone; every request also pays for HTTP, the security layer, the two budget ` +
    `checks in Redis and two log lines. The plain Fastify route doing the same reached ${f['W4.plainVsCeiling']} of the ceiling, ` +
    'so no framework reaches 0.7x here. What would: fewer round trips per request (one Redis script for both budgets, or ' +
    'no per-request log lines) and cheaper drawing (svg-captcha renders each glyph and noise line as a path).',
  'rss-peak': () =>
    'Before any request the server already holds about 265 MB: node itself (about 40 MB of its binary), tsx compiling ' +
    'TypeScript at run time with its loader thread (about 56 MB; compiled JavaScript started with plain node idles at ' +
    'about 210 MB), Prisma 7\'s WebAssembly query compiler (about 50 MB) and the Alibaba Cloud SDK, imported even when ' +
    'SMS_PROVIDER is not aliyun (about 26 MB). Under load V8 lets its heap grow to about 250 MB between major collections. ' +
    'See bench/README.md for the measured effect of heap limits, a lazily imported SDK and compiled JavaScript.',
  'rss-growth': () =>
    'RSS after the first run still includes heap growth that V8 makes as it adapts its limits to the load; compare ' +
    'heapUsed in the raw JSON (`memory` of each run) to tell growth of live objects from a larger heap.',
}
