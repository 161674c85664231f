// The seed's benchmark table, for Node: one realistic program (the LAS summariser, see
// workloads/las.mjs) and markdown-it, each run untraced and under every profiler configuration,
// side by side in one invocation. Configurations alternate in rounds so that a noisy machine
// spreads its noise over all of them; each row reports the median of its rounds.
//
//   node bench/profile.bench.mjs [--rounds 3] [--workload las|markdown] [--only drss,gc] [--quick]
//
// --quick: one round of about a quarter of the input, for CI on every OS.
// --only: these configurations (and the untraced runs they compare with), for a quick look.
import { spawnSync } from 'node:child_process'
import { mkdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { minimist } from 'zx'

const argv = minimist(process.argv.slice(2), { boolean: ['quick'] })
const here = fileURLToPath(new URL('.', import.meta.url))
const register = join(here, '..', 'dist', 'register.js')
const quick = argv.quick
const rounds = Number(argv.rounds ?? (quick ? 1 : 3))
const base = join(tmpdir(), 'memtrace-bench')

const WORKLOADS = {
  las: {
    title: quick ? 'LAS summariser (12 files of well logs → HTML pages)' : 'LAS summariser (48 files, 13 MB of well logs → HTML pages)',
    async prepare() {
      const { generate } = await import('./workloads/las.mjs')
      const [files, small] = quick ? [12, 2] : [48, 5]
      generate(join(base, `las-in-${files}`), { files })
      generate(join(base, `las-in-${small}`), { files: small })
      return {
        full: [join(base, `las-in-${files}`), join(base, 'las-out')],
        small: [join(base, `las-in-${small}`), join(base, 'las-out-small')],
      }
    },
  },
  markdown: {
    title: quick ? 'markdown-it (every README.md under node_modules, once)' : 'markdown-it (every README.md under node_modules, 3 times)',
    async prepare() {
      const modules = join(here, '..', 'node_modules')
      // Rounds over the pages, and the share of the pages rendered (1: all, 10: a tenth).
      return quick ? { full: [modules, '1:3'], small: [modules, '1:30'] } : { full: [modules, '3:1'], small: [modules, '1:10'] }
    },
  },
}

// What the code is instrumented with is chosen as it loads, by the environment: native calls
// (C_CALL/C_RETURN) are on unless MEMTRACE_NATIVE_CALLS=0, LINE events off unless MEMTRACE_LINES=1.
const NO_NATIVE_CALLS = { MEMTRACE_NATIVE_CALLS: '0' }
const LINES = { MEMTRACE_LINES: '1' }
const ALL_ROWS = [
  ['untraced', 'untraced', 'full'],
  ['hooks attached, nothing computed', 'count', 'full'],
  ['RSS computed, nothing logged', 'rss', 'full'],
  ['everything computed, nothing logged', 'filter', 'full'],
  ['dRSS ≥ 4096 logged', 'drss', 'full'],
  ['stacks off, dRSS ≥ 4096 logged', 'nostacks', 'full'],
  ['GC rows too, dRSS ≥ 4096 logged', 'gc', 'full'],
  ['heap sampler too (--heap), dRSS ≥ 4096 logged', 'heap', 'full'],
  ['heap sampler alone (--heap --no-calls): nothing instrumented', 'heaponly', 'full'],
  ['dRSS ≥ 4096 and previous event logged', 'previous', 'full'],
  ['every event logged', 'every', 'full'],
  ['every event logged, binary log', 'everybinary', 'full'],
  ['native calls off, dRSS ≥ 4096 logged', 'drss', 'full', NO_NATIVE_CALLS],
  ['LINE events too, dRSS ≥ 4096 logged', 'lines', 'full', LINES],
  ['LINE events too, native calls off, dRSS ≥ 4096 logged', 'lines', 'full', { ...LINES, ...NO_NATIVE_CALLS }],
  ["rss: 'exact', dRSS ≥ 4096 logged", 'exact', 'full'],
  ['untraced (a smaller input)', 'untraced', 'small'],
  ['naive JS tracer: memoryUsage.rss() + writeSync per event (the smaller input, no native calls)', 'naive', 'small', NO_NATIVE_CALLS],
]

const only = argv.only ? String(argv.only).split(',') : null
const ROWS = only ? ALL_ROWS.filter(([, config, scale]) => only.includes(config) || (config === 'untraced' && scale === 'full')) : ALL_ROWS

function runOnce(workload, config, args, extraEnv = {}) {
  const preload = config === 'untraced' || config === 'heaponly' ? [] : ['--require', config === 'naive' ? join(here, 'naive-register.cjs') : register]
  const env = { ...process.env, ...extraEnv }
  const result = spawnSync(process.execPath, [...preload, join(here, 'trace-one.mjs'), workload, config, ...args], { encoding: 'utf8', env })
  if (result.status !== 0) throw new Error(`${workload}, ${config}: exit code ${result.status}\n${result.stderr}`)
  return JSON.parse(result.stdout.trim().split('\n').pop())
}

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1]
const fmt = (n, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

mkdirSync(base, { recursive: true })
const chosen = argv.workload ? [argv.workload] : Object.keys(WORKLOADS)
for (const name of chosen) {
  const workload = WORKLOADS[name]
  const inputs = await workload.prepare()
  const results = ROWS.map(() => [])
  for (let round = 0; round < rounds; round++) {
    for (const [i, [, config, scale, env]] of ROWS.entries()) {
      results[i].push(runOnce(name, config, inputs[scale], env))
      process.stderr.write(`\r${name}: round ${round + 1}/${rounds}, ${i + 1}/${ROWS.length} configurations`)
    }
  }
  process.stderr.write('\n')
  // Each traced run counts its own events (native calls and LINE events add to them).
  console.log(`\n#### ${workload.title}\n`)
  console.log('| configuration | time (ms, median) | ratio | events | rows logged | events/s | ns added per event |')
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const [i, [label, , scale]] of ROWS.entries()) {
    const ms = median(results[i].map((r) => r.ms))
    const baseline = median(results[ROWS.findIndex(([, c, s]) => c === 'untraced' && s === scale)].map((r) => r.ms))
    const events = results[i][0].events == null ? null : median(results[i].map((r) => r.events))
    const rows = results[i][0].rows
    const added = ((ms - baseline) * 1e6) / events
    console.log(
      `| ${label} | ${fmt(ms)} | x${fmt(ms / baseline, 2)} | ${events == null ? '–' : fmt(events)} | ${rows == null ? '–' : fmt(rows)} | ${events == null ? '–' : `${fmt(events / (ms / 1000) / 1e6, 1)} M`} | ${events == null ? '–' : fmt(added, 1)} |`,
    )
  }
}
rmSync(base, { recursive: true, force: true })
