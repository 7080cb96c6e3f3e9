/** Milliseconds since the epoch. Services take a clock so that expiry is tested by moving time, not sleeping. */
export interface Clock {
  now(): number
}

export const systemClock: Clock = { now: () => Date.now() }
