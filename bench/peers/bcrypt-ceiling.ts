// The physical limit for logins: `concurrency` bcrypt.compare at the configured cost kept
// in flight on the libuv pool for `seconds`, nothing else. Prints compares per second.
// Run by bench/run.ts on the server's core, with the server's start flags and environment
// (UV_THREADPOOL_SIZE included).
import { createHash } from 'node:crypto'
import bcrypt from 'bcrypt'
import { runFor } from './ceiling-loop.js'
import { loadConfig } from '../../src/config.js'

const seconds = Number(process.argv[2] ?? 10)
const concurrency = Number(process.argv[3] ?? 16)
const { BCRYPT_COST } = loadConfig()
// What our hasher hands bcrypt: the password's SHA-256 in base64 (44 bytes).
const input = createHash('sha256').update('correct horse battery staple').digest('base64')
const hash = await bcrypt.hash(input, BCRYPT_COST)
// A first compare outside the clock, as a warm-up.
await bcrypt.compare(input, hash)

const result = await runFor(seconds, concurrency, async () => {
  if (!(await bcrypt.compare(input, hash))) throw new Error('compare failed')
})
console.log(JSON.stringify({ ...result, cost: BCRYPT_COST }))
