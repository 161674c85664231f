// Startup: what tracing adds to a process that does nothing (`node -e 0`), on every Node version
// memtrace supports (scripts/nodes.mjs; this Node alone off Linux x64): the loader hooks alone
// (`--require memtrace/register`), the hooks and a profiler started and stopped, and `memtrace run`
// (its own process, the traced one, and reading the log). Wall time, rounds interleaved, medians;
// then, where valgrind is installed, instructions, which repeat from run to run (see instructions.mjs).
//
//   node bench/startup.bench.mjs [--rounds 15] [--quick] [--node 20,24]
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { minimist } from 'zx'

import { nodesToTest } from '../scripts/nodes.mjs'
import { canCount, instructions } from './instructions.mjs'

const argv = minimist(process.argv.slice(2), { boolean: ['quick'], string: ['node'] })
const rounds = Number(argv.rounds ?? (argv.quick ? 3 : 15))
const root = join(fileURLToPath(new URL('.', import.meta.url)), '..')
const register = join(root, 'dist', 'register.js')
const cli = join(root, 'dist', 'cli', 'main.js')
const index = join(root, 'dist', 'index.js')
const dir = mkdtempSync(join(tmpdir(), 'memtrace-startup-bench-'))
const nodes = nodesToTest(argv.node?.split(','), (text) => process.stderr.write(`${text}\n`))

/** The commands, for one `node`; `slowSampler`: a sampler that stays asleep, for counting instructions. */
const cases = (node, slowSampler = false) => ({
  bare: [node, ['-e', '0']],
  register: [node, ['--require', register, '-e', '0']],
  profiler: [node, ['--require', register, '-e', `require(${JSON.stringify(index)}).profile({ logDir: ${JSON.stringify(dir)}${slowSampler ? ', rssPeriodUs: 10000000' : ''} }).stop()`]],
  run: [node, [cli, 'run', '--log-dir', dir, '--', node, '-e', '0']],
})
const LABELS = {
  bare: '`node -e 0`',
  register: '`--require memtrace/register`',
  profiler: 'register + `profile().stop()`',
  run: '`memtrace run -- node -e 0`',
}

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1]
const timed = {}
try {
  for (const { version, binary } of nodes) {
    const times = Object.fromEntries(Object.keys(LABELS).map((name) => [name, []]))
    for (let round = 0; round < rounds; round++) {
      for (const [name, [command, args]] of Object.entries(cases(binary))) {
        const start = process.hrtime.bigint()
        const result = spawnSync(command, args, { stdio: 'ignore' })
        times[name].push(Number(process.hrtime.bigint() - start) / 1e6)
        if (result.status !== 0) throw new Error(`${name} on Node ${version}: exit code ${result.status}`)
      }
      process.stderr.write(`\rNode ${version}: round ${round + 1}/${rounds}`)
    }
    timed[version] = Object.fromEntries(Object.entries(times).map(([name, values]) => [name, median(values)]))
    process.stderr.write('\n')
  }
  const added = (value, bare, digits) => `${value.toFixed(digits)} (+${(value - bare).toFixed(digits)})`
  console.log(`\n#### Startup of a process that does nothing: milliseconds, median of ${rounds} runs (added to bare)\n`)
  console.log(`| Node | ${Object.values(LABELS).join(' | ')} |`)
  console.log(`| --- | ${Object.keys(LABELS).map(() => '---:').join(' | ')} |`)
  for (const [version, t] of Object.entries(timed)) {
    console.log(`| ${version} | ${t.bare.toFixed(0)} | ${added(t.register, t.bare, 0)} | ${added(t.profiler, t.bare, 0)} | ${added(t.run, t.bare, 0)} |`)
  }
  if (canCount()) {
    // memtrace run is two processes: its count would be theirs summed, which the two columns before tell.
    const counted = ['bare', 'register', 'profiler']
    console.log('\n#### The same in instructions: millions, under valgrind (the same from run to run; added to bare)\n')
    console.log(`| Node | ${counted.map((name) => LABELS[name]).join(' | ')} |`)
    console.log(`| --- | ${counted.map(() => '---:').join(' | ')} |`)
    for (const { version, binary } of nodes) {
      process.stderr.write(`counting instructions on Node ${version}\n`)
      const commands = cases(binary, true)
      const count = Object.fromEntries(counted.map((name) => [name, instructions(...commands[name]) / 1e6]))
      console.log(`| ${version} | ${count.bare.toFixed(1)} | ${added(count.register, count.bare, 1)} | ${added(count.profiler, count.bare, 1)} |`)
    }
  } else {
    console.log('\n(valgrind is not installed: no instruction counts)')
  }
} finally {
  rmSync(dir, { recursive: true, force: true })
}
