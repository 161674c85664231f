// End to end: the seed's two programs as a user runs them, whole processes, untraced and under
// `memtrace run` with its defaults (instrumentation included, its plan cache warm, the log read
// for the summary at the end), on every Node version memtrace supports (scripts/nodes.mjs).
// Wall time from spawn to exit, rounds interleaved, medians.
//
//   node bench/endtoend.bench.mjs [--rounds 7] [--quick] [--node 24]
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { minimist } from 'zx'

import { nodesToTest } from '../scripts/nodes.mjs'
import { generate } from './workloads/las.mjs'

const argv = minimist(process.argv.slice(2), { boolean: ['quick'], string: ['node'] })
const rounds = Number(argv.rounds ?? (argv.quick ? 1 : 7))
const here = fileURLToPath(new URL('.', import.meta.url))
const cli = join(here, '..', 'dist', 'cli', 'main.js')
const work = mkdtempSync(join(tmpdir(), 'memtrace-endtoend-'))
const nodes = nodesToTest(argv.node?.split(','), (text) => process.stderr.write(`${text}\n`))

const lasInput = join(work, 'las-in')
generate(lasInput, { files: argv.quick ? 6 : 24 })
mkdirSync(join(work, 'las-out'))
const PROGRAMS = {
  'LAS summariser': ['las', lasInput, join(work, 'las-out')],
  'markdown-it': ['markdown', join(here, '..', 'node_modules'), argv.quick ? '1:4' : '1:1'],
}

/** Milliseconds from spawn to exit of `node args`, untraced or under `memtrace run` with `options`. */
function timed(node, args, options) {
  const logs = join(work, 'logs')
  const command = options ? [cli, 'run', ...options, '--log-dir', logs, '--', node, ...args] : args
  const start = process.hrtime.bigint()
  const result = spawnSync(node, command, { stdio: 'ignore' })
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  if (result.status !== 0) throw new Error(`${args.join(' ')}${options ? ' under memtrace run' : ''}: exit code ${result.status}`)
  rmSync(logs, { recursive: true, force: true })
  return ms
}

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1]
try {
  console.log(`\n#### Whole processes, untraced and under \`memtrace run\` (defaults, plan cache warm): ms, median of ${rounds}\n`)
  console.log('| Node | program | untraced | `memtrace run` | ratio | `--no-native-calls` | ratio |')
  console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: |')
  for (const { version, binary } of nodes) {
    for (const [name, [workload, ...inputs]] of Object.entries(PROGRAMS)) {
      const args = [join(here, 'trace-one.mjs'), workload, 'untraced', ...inputs]
      // Fill the plan cache (a plan per file and set of events).
      timed(binary, args, [])
      timed(binary, args, ['--no-native-calls'])
      const times = { plain: [], traced: [], withoutNative: [] }
      for (let round = 0; round < rounds; round++) {
        times.plain.push(timed(binary, args, null))
        times.traced.push(timed(binary, args, []))
        times.withoutNative.push(timed(binary, args, ['--no-native-calls']))
        process.stderr.write(`\rNode ${version}, ${name}: round ${round + 1}/${rounds}`)
      }
      process.stderr.write('\n')
      const [plain, traced, withoutNative] = [median(times.plain), median(times.traced), median(times.withoutNative)]
      const ratio = (ms) => `${ms.toFixed(0)} | x${(ms / plain).toFixed(2)}`
      console.log(`| ${version} | ${name} | ${plain.toFixed(0)} | ${ratio(traced)} | ${ratio(withoutNative)} |`)
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true })
}
