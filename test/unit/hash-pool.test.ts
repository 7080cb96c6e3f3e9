import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import bcrypt from 'bcrypt'
import { createHashPool } from '../../src/modules/accounts/hash-pool.js'

// Field 19 of /proc/<pid>/task/<tid>/stat is the thread's nice value (after the
// parenthesised command name, which may itself contain spaces).
const niceValues = () =>
  readdirSync('/proc/self/task').map((tid) => {
    const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16])
  })

t.test('hashes and compares like bcrypt, on threads of lower priority', async (t) => {
  const pool = createHashPool({ threads: 2, nice: 7 })
  t.teardown(() => pool.close())
  const hash = await pool.hash('secret', 4)
  t.equal(await bcrypt.compare('secret', hash), true, 'a standard bcrypt hash')
  t.equal(await pool.compare('secret', hash), true)
  t.equal(await pool.compare('other', hash), false)
  const results = await Promise.all(Array.from({ length: 10 }, (_, i) => pool.compare(i === 3 ? 'secret' : 'x', hash)))
  t.same(results.map((r, i) => (r ? i : -1)).filter((i) => i >= 0), [3], 'queued jobs get their own answers')
  const nices = niceValues()
  t.equal(nices.filter((n) => n === 7).length, 2, 'two hashing threads at nice 7')
  t.equal(nices[0], 0, 'the main thread keeps its priority')
})

t.test('a failing job rejects and the pool goes on', async (t) => {
  const pool = createHashPool({ threads: 1 })
  t.teardown(() => pool.close())
  await t.rejects(pool.hash('x', 'not a cost' as unknown as number))
  t.equal(await pool.compare('a', await pool.hash('a', 4)), true)
})
