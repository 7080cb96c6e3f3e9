import type { Clock } from '../../src/lib/clock.js'

export interface FakeClock extends Clock {
  advance(ms: number): void
  set(ms: number): void
}

/** Time that moves only when a test says so. */
export function createFakeClock(start = Date.now()): FakeClock {
  let t = start
  return {
    now: () => t,
    advance: (ms) => {
      t += ms
    },
    set: (ms) => {
      t = ms
    },
  }
}
