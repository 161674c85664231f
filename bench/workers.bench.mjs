// Worker threads: the LAS summariser over four directories of well logs, in one thread and split
// over two and four worker threads, untraced and traced (`profile({ workers: true })`: a log per
// thread), side by side in one invocation. Configurations alternate in rounds; each row is the
// median of its rounds. The ns added per event should be no worse with four threads than with
// one: each thread has its own ring and writer, and one sampler serves them all.
//
//   node bench/workers.bench.mjs [--rounds 3] [--quick]
import { spawnSync } from 'node:child_process'
import { mkdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { minimist } from 'zx'

import { generate } from './workloads/las.mjs'

const argv = minimist(process.argv.slice(2), { boolean: ['quick'] })
const here = fileURLToPath(new URL('.', import.meta.url))
const rounds = Number(argv.rounds ?? (argv.quick ? 1 : 3))
const files = argv.quick ? 3 : 12
const base = join(tmpdir(), 'memtrace-bench-workers')
mkdirSync(base, { recursive: true })
const dirs = [0, 1, 2, 3].map((i) => {
  const dir = join(base, `las-${files}-${i}`)
  generate(dir, { files, seed: 5862 + i })
  return dir
})

const ROWS = [
  ['one thread, untraced', '0', 'untraced'],
  ['one thread, traced', '0', 'traced'],
  ['two worker threads, untraced', '2', 'untraced'],
  ['two worker threads, traced (a log per thread)', '2', 'traced'],
  ['four worker threads, untraced', '4', 'untraced'],
  ['four worker threads, traced (a log per thread)', '4', 'traced'],
]
const results = ROWS.map(() => [])
for (let round = 0; round < rounds; round++) {
  for (const [i, [, workers, traced]] of ROWS.entries()) {
    const preload = traced === 'traced' ? ['--require', join(here, '..', 'dist', 'register.js')] : []
    const result = spawnSync(process.execPath, [...preload, join(here, 'pool-one.mjs'), workers, traced, ...dirs], { encoding: 'utf8' })
    if (result.status !== 0) throw new Error(`${workers} workers, ${traced}: exit code ${result.status}\n${result.stderr}`)
    results[i].push(JSON.parse(result.stdout))
    process.stderr.write(`\rworkers: round ${round + 1}/${rounds}, ${i + 1}/${ROWS.length} configurations`)
  }
}
process.stderr.write('\n')

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1]
const fmt = (n, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
console.log(`\n#### LAS summariser, ${4 * files} files in four directories: one thread, two and four worker threads\n`)
console.log('| configuration | time (ms, median) | ratio | logs | events | ns added per event |')
console.log('| --- | ---: | ---: | ---: | ---: | ---: |')
for (const [i, [label, workers]] of ROWS.entries()) {
  const ms = median(results[i].map((r) => r.ms))
  const untraced = median(results[ROWS.findIndex(([, s, t]) => s === workers && t === 'untraced')].map((r) => r.ms))
  const events = results[i][0].events == null ? null : median(results[i].map((r) => r.events))
  const logs = events == null ? '–' : String(results[i][0].logs)
  const added = events == null ? '–' : fmt(((ms - untraced) * 1e6) / events, 1)
  console.log(`| ${label} | ${fmt(ms)} | x${fmt(ms / untraced, 2)} | ${logs} | ${events == null ? '–' : fmt(events)} | ${added} |`)
}
rmSync(base, { recursive: true, force: true })
