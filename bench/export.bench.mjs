// How fast `memtrace report` reads a log and writes each export, and in how much memory: a log
// of 1 GiB and one of 64 MiB (a quarter and a sixteenth with --quick), each step in a process of
// its own, side by side in rounds. Memory that stays flat as the log grows is what lets a
// multi-gigabyte log be read on a laptop.
//
//   node bench/export.bench.mjs [--rounds 3] [--quick]
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { minimist } from 'zx'

import { writeLog } from './workloads/log.mjs'

const argv = minimist(process.argv.slice(2), { boolean: ['quick'] })
const rounds = Number(argv.rounds ?? (argv.quick ? 1 : 3))
const here = fileURLToPath(new URL('.', import.meta.url))
const MiB = 2 ** 20
const STEPS = [
  ['report (totals, tables, stacks)', 'report'],
  ['--chrome-trace', 'chrome-trace'],
  ['--pprof', 'pprof'],
  ['--speedscope', 'speedscope'],
  ['--collapsed', 'collapsed'],
]

const dir = mkdtempSync(join(tmpdir(), 'memtrace-export-bench-'))
try {
  const sizes = argv.quick ? [4 * MiB, 256 * MiB] : [64 * MiB, 1024 * MiB]
  const logs = sizes.map((bytes, i) => {
    process.stderr.write(`writing a log of ${bytes / MiB} MiB\n`)
    const path = join(dir, `log-${i}.log`)
    return { path, bytes: writeLog(path, bytes) }
  })
  const results = STEPS.map(() => logs.map(() => []))
  for (let round = 0; round < rounds; round++) {
    for (const [s, [, what]] of STEPS.entries()) {
      for (const [l, log] of logs.entries()) {
        const run = spawnSync(process.execPath, [join(here, 'export-one.mjs'), what, log.path], { encoding: 'utf8' })
        if (run.status !== 0) throw new Error(`${what}: exit code ${run.status}\n${run.stderr}`)
        results[s][l].push(JSON.parse(run.stdout))
      }
      process.stderr.write(`\rround ${round + 1}/${rounds}, ${s + 1}/${STEPS.length} steps`)
    }
  }
  process.stderr.write('\n')
  const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1]
  const [small, large] = logs
  console.log(`\n#### Reading a log of ${(large.bytes / MiB).toFixed(0)} MiB, and one of ${(small.bytes / MiB).toFixed(0)} MiB\n`)
  console.log('| step | s per GiB (median) | MB/s | peak RSS, large log | peak RSS, small log |')
  console.log('| --- | ---: | ---: | ---: | ---: |')
  for (const [s, [label]] of STEPS.entries()) {
    const ms = median(results[s][1].map((r) => r.ms))
    const rss = (l) => `${(median(results[s][l].map((r) => r.maxRss)) / MiB).toFixed(0)} MiB`
    console.log(`| ${label} | ${((ms / 1000) * (2 ** 30 / large.bytes)).toFixed(2)} | ${(large.bytes / 1e6 / (ms / 1000)).toFixed(0)} | ${rss(1)} | ${rss(0)} |`)
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
