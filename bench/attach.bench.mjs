// How long a running process stalls when `memtrace attach` looks into it: the largest delay of
// its event loop over a window with an attach (SIGUSR1, inspector session, samples, a heap
// profile, inspector closed), against a window of the same length without. Rounds alternate.
//
//   node bench/attach.bench.mjs [--rounds 5] [--quick]
import { fork, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { minimist } from 'zx'

const argv = minimist(process.argv.slice(2), { boolean: ['quick'] })
const rounds = Number(argv.rounds ?? (argv.quick ? 1 : 5))
const here = fileURLToPath(new URL('.', import.meta.url))
const cli = join(here, '..', 'dist', 'cli', 'main.js')
const SECONDS = 2

const target = fork(join(here, 'attach-target.cjs'), [], { execArgv: ['--inspect-port=0'] })
await once(target, 'message')
const window = async (work) => {
  target.send('reset')
  await work()
  target.send('report')
  const [delays] = await once(target, 'message')
  return delays
}
const sleep = (ms) => new Promise((done) => setTimeout(done, ms))
const results = { without: [], plain: [], heap: [] }
const dir = mkdtempSync(join(tmpdir(), 'memtrace-attach-bench-'))
try {
  for (let round = 0; round < rounds; round++) {
    results.without.push(await window(() => sleep(SECONDS * 1000 + 500)))
    for (const [name, extra] of [['plain', []], ['heap', ['--heap']]]) {
      results[name].push(
        await window(async () => {
          const run = spawnSync(process.execPath, [cli, 'attach', '--duration', String(SECONDS), ...extra, '--log-dir', dir, String(target.pid)], { encoding: 'utf8' })
          if (run.status !== 0) throw new Error(`attach: exit code ${run.status}\n${run.stderr}`)
        }),
      )
    }
    process.stderr.write(`\rround ${round + 1}/${rounds}`)
  }
} finally {
  target.kill()
  rmSync(dir, { recursive: true, force: true })
}
process.stderr.write('\n')
const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1]
console.log(`\n#### Event-loop delay of a busy target over ${SECONDS} s, with and without an attach\n`)
console.log('| window | largest delay (ms, median) | 99th percentile (ms, median) |')
console.log('| --- | ---: | ---: |')
for (const [label, name] of [['no attach', 'without'], ['memtrace attach', 'plain'], ['memtrace attach --heap', 'heap']]) {
  console.log(`| ${label} | ${median(results[name].map((r) => r.max)).toFixed(1)} | ${median(results[name].map((r) => r.p99)).toFixed(1)} |`)
}
