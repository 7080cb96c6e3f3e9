// Bench-only preload (node --import): measures the event-loop delay of the process under
// test without touching its code. Each SIGWINCH (a signal nothing else here listens to:
// close-with-grace ends the server on SIGUSR2) writes the delay since the previous one to
// BENCH_EL_FILE and starts a new window. Delay is how late the monitor's 10 ms timer
// fired (the sampling interval itself subtracted), in milliseconds.
import { renameSync, writeFileSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'

const file = process.env.BENCH_EL_FILE
if (file) {
  const RESOLUTION_MS = 10
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  histogram.enable()
  const late = (ns) => Math.max(0, ns / 1e6 - RESOLUTION_MS)
  let window = 0
  process.on('SIGWINCH', () => {
    const snapshot = {
      window: ++window,
      samples: histogram.count,
      p50: late(histogram.percentile(50)),
      p99: late(histogram.percentile(99)),
      max: late(histogram.max),
      // where the memory is, at the end of the window
      memory: Object.fromEntries(Object.entries(process.memoryUsage()).map(([k, v]) => [k, Math.round(v / 1048576)])),
    }
    histogram.reset()
    // Written whole, then renamed: the reader never sees half a file.
    writeFileSync(`${file}.tmp`, JSON.stringify(snapshot))
    renameSync(`${file}.tmp`, file)
  })
}
