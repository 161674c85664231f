// The seed's benchmark table, for Node: one realistic program (the LAS summariser, see
// workloads/las.mjs) and markdown-it, each run untraced and under every profiler configuration,
// side by side in one invocation. Configurations alternate in rounds so that a noisy machine
// spreads its noise over all of them; each row reports the median of its rounds.
//
//   node bench/profile.bench.mjs [--rounds 3] [--workload las|markdown]
import { mkdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { $, argv } from 'zx'

const here = new URL('.', import.meta.url).pathname
const register = join(here, '..', 'dist', 'register.js')
const rounds = Number(argv.rounds ?? 3)
const base = join(tmpdir(), 'memtrace-bench')

const WORKLOADS = {
  las: {
    title: 'LAS summariser (48 files, 13 MB of well logs → HTML pages)',
    async prepare() {
      const { generate } = await import('./workloads/las.mjs')
      generate(join(base, 'las-in'))
      generate(join(base, 'las-in-small'), { files: 5 })
      return { full: [join(base, 'las-in'), join(base, 'las-out')], small: [join(base, 'las-in-small'), join(base, 'las-out-small')] }
    },
  },
  markdown: {
    title: 'markdown-it (every README.md under node_modules, 3 times)',
    async prepare() {
      const modules = join(here, '..', 'node_modules')
      return { full: [modules, 'full'], small: [modules, 'small'] }
    },
  },
}

const ROWS = [
  ['untraced', 'untraced', 'full'],
  ['hooks attached, nothing computed', 'count', 'full'],
  ['RSS computed, nothing logged', 'rss', 'full'],
  ['everything computed, nothing logged', 'filter', 'full'],
  ['dRSS ≥ 4096 logged', 'drss', 'full'],
  ['dRSS ≥ 4096 and previous event logged', 'previous', 'full'],
  ['every event logged', 'every', 'full'],
  ["rss: 'exact', dRSS ≥ 4096 logged", 'exact', 'full'],
  ['untraced (a tenth of the input)', 'untraced', 'small'],
  ['naive JS tracer: memoryUsage.rss() + writeSync per event (a tenth of the input)', 'naive', 'small'],
]

async function runOnce(workload, config, args) {
  const preload = config === 'untraced' ? [] : ['--require', config === 'naive' ? join(here, 'naive-register.cjs') : register]
  const out = await $`node ${preload} ${join(here, 'trace-one.mjs')} ${workload} ${config} ${args}`
  return JSON.parse(out.stdout.trim().split('\n').pop())
}

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1]
const fmt = (n, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })

$.verbose = false
mkdirSync(base, { recursive: true })
const chosen = argv.workload ? [argv.workload] : Object.keys(WORKLOADS)
for (const name of chosen) {
  const workload = WORKLOADS[name]
  const inputs = await workload.prepare()
  const results = ROWS.map(() => [])
  for (let round = 0; round < rounds; round++) {
    for (const [i, [, config, scale]] of ROWS.entries()) {
      results[i].push(await runOnce(name, config, inputs[scale]))
      process.stderr.write(`\r${name}: round ${round + 1}/${rounds}, ${i + 1}/${ROWS.length} configurations`)
    }
  }
  process.stderr.write('\n')
  // Events come from the runs that count them; untraced runs see the same events uncounted.
  const eventsOf = (scale) => median(results.filter((_, i) => ROWS[i][2] === scale && results[i][0].events != null).map((r) => r[0].events))
  console.log(`\n### ${workload.title}\n`)
  console.log('| configuration | time (ms, median) | ratio | events | rows logged | events/s | ns added per event |')
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |')
  for (const [i, [label, , scale]] of ROWS.entries()) {
    const ms = median(results[i].map((r) => r.ms))
    const baseline = median(results[ROWS.findIndex(([, c, s]) => c === 'untraced' && s === scale)].map((r) => r.ms))
    const events = eventsOf(scale)
    const rows = results[i][0].rows
    const added = ((ms - baseline) * 1e6) / events
    console.log(
      `| ${label} | ${fmt(ms)} | x${fmt(ms / baseline, 2)} | ${fmt(events)} | ${rows == null ? '–' : fmt(rows)} | ${fmt(events / (ms / 1000) / 1e6, 1)} M | ${ROWS[i][1] === 'untraced' ? '–' : fmt(added, 1)} |`,
    )
  }
}
rmSync(base, { recursive: true, force: true })
