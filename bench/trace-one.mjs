// One configuration of the seed's benchmark, in a process of its own: imports a workload, starts
// the profiler as the configuration says, times the workload's run, and prints what happened
// as one JSON line. Run by profile.bench.mjs; not meant to be run by hand.
import { rmSync, mkdtempSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const [workloadName, config, input, output] = process.argv.slice(2)
const require = createRequire(import.meta.url)
const { profile } = require('../dist/index.js')
const { DEFAULT_HEAP_INTERVAL, HeapSampler } = require('../dist/profile/heap.js')

/** The configurations, as profile() options; null: no profiler. */
export const CONFIGS = {
  untraced: null,
  naive: null,
  instrumented: null,
  count: { record: 'count' },
  rss: { record: 'rss' },
  filter: { record: 'filter' },
  drss: {},
  nostacks: { stacks: false },
  heap: { heap: true },
  heaponly: null,
  gc: { gc: true },
  previous: { previous: true },
  every: { dRssTrigger: 0 },
  everybinary: { dRssTrigger: 0, logFormat: 'binary' },
  lines: { lines: true },
  exact: { rss: 'exact' },
}

const workload = await import(`./workloads/${workloadName}.mjs`)
const logDir = mkdtempSync(join(tmpdir(), 'memtrace-bench-'))
const options = CONFIGS[config]
const profiler = options ? profile({ ...options, logDir }) : null
// --heap --no-calls: no instrumentation, the heap sampler alone.
const sampler = config === 'heaponly' ? new HeapSampler(null, DEFAULT_HEAP_INTERVAL) : null
const start = process.hrtime.bigint()
workload.run(input, output)
const ms = Number(process.hrtime.bigint() - start) / 1e6
sampler?.stop()
const summary = profiler?.stop()
const events = profiler ? profiler.eventCount : (globalThis.__naiveEvents ?? null)
console.log(JSON.stringify({ ms, events, rows: summary?.rows ?? null, logBytes: null }))
rmSync(logDir, { recursive: true, force: true })
