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

/** Milliseconds from spawn to exit of `node args`, traced by `memtrace run` or not. */
function timed(node, args, traced) {
  const logs = join(work, 'logs')
  const command = traced ? [cli, 'run', '--log-dir', logs, '--', node, ...args] : args
  const start = process.hrtime.bigint()
  const result = spawnSync(node, command, { stdio: 'ignore' })
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  if (result.status !== 0) throw new Error(`${args.join(' ')}${traced ? ' under memtrace run' : ''}: exit code ${result.status}`)
  rmSync(logs, { recursive: true, force: true })
  return ms
}

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1]
try {
  console.log(`\n#### Whole processes, untraced and under \`memtrace run\` (defaults, plan cache warm): ms, median of ${rounds}\n`)
  console.log('| Node | program | untraced | `memtrace run` | ratio |')
  console.log('| --- | --- | ---: | ---: | ---: |')
  for (const { version, binary } of nodes) {
    for (const [name, [workload, ...inputs]] of Object.entries(PROGRAMS)) {
      const args = [join(here, 'trace-one.mjs'), workload, 'untraced', ...inputs]
      timed(binary, args, true) // fills the plan cache
      const times = { plain: [], traced: [] }
      for (let round = 0; round < rounds; round++) {
        times.plain.push(timed(binary, args, false))
        times.traced.push(timed(binary, args, true))
        process.stderr.write(`\rNode ${version}, ${name}: round ${round + 1}/${rounds}`)
      }
      process.stderr.write('\n')
      const [plain, traced] = [median(times.plain), median(times.traced)]
      console.log(`| ${version} | ${name} | ${plain.toFixed(0)} | ${traced.toFixed(0)} | x${(traced / plain).toFixed(2)} |`)
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true })
}
