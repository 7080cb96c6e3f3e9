/** Runs `one` from `concurrency` loops for `seconds`; prints and returns completions per second. */
export async function runFor(seconds: number, concurrency: number, one: () => Promise<void>): Promise<{ rate: number; done: number; seconds: number }> {
  let done = 0
  const started = performance.now()
  const until = started + seconds * 1000
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) {
        await one()
        done++
      }
    }),
  )
  const elapsed = (performance.now() - started) / 1000
  return { rate: done / elapsed, done, seconds: elapsed }
}
