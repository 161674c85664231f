// Cost of one RSS read: memtrace's rss() against what a Node user has without it.
// benny gives ops/s per case; a batched hrtime loop cross-checks the ns-scale figures,
// because benchmark.js's per-sample overhead blurs calls that take ~1 µs or less.
//
//   node bench/rss.bench.mjs [--quick]     --quick: fewer and shorter samples
import { closeSync, openSync, readFileSync, readSync } from 'node:fs'
import { createRequire } from 'node:module'

import b from 'benny'
import { minimist } from 'zx'

const quick = minimist(process.argv.slice(2), { boolean: ['quick'] }).quick
const { rss, pageSize } = createRequire(import.meta.url)('../dist/index.js')
const PAGE = pageSize()

const cases = {
  'memtrace rss()': () => rss(),
  'process.memoryUsage.rss()': () => process.memoryUsage.rss(),
}
// The hand-written ways to read RSS from the kernel exist on Linux only (/proc).
const statmFd = process.platform === 'linux' ? openSync('/proc/self/statm', 'r') : null
if (statmFd !== null) {
  const statmBuf = Buffer.alloc(128)
  cases['JS: readFileSync /proc/self/statm'] = () => Number(readFileSync('/proc/self/statm', 'latin1').split(' ')[1]) * PAGE
  cases['JS: readSync on a kept statm fd'] = () => {
    const n = readSync(statmFd, statmBuf, 0, 128, 0)
    return Number(statmBuf.latin1Slice(0, n).split(' ')[1]) * PAGE
  }
} else {
  console.error(`rss: the /proc/self/statm rows are left out on ${process.platform} (Linux only)`)
}

let sink = 0
const summary = await b.suite(
  'one RSS read',
  ...Object.entries(cases).map(([name, fn]) => b.add(name, () => { sink += fn() })),
  b.configure({ cases: quick ? { minSamples: 5, maxTime: 0.5 } : { minSamples: 20, maxTime: 2 } }),
)

/** Median ns per call of `fn` over `rounds` batches of `n` calls. */
function batched(fn, n = 20_000, rounds = quick ? 3 : 9) {
  const times = []
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < n; i++) sink += fn()
    times.push(Number(process.hrtime.bigint() - start) / n)
  }
  return times.sort((x, y) => x - y)[rounds >> 1]
}

const rows = summary.results.map((result) => ({
  name: result.name,
  bennyNs: 1e9 / result.ops,
  batchedNs: batched(cases[result.name]),
}))
if (statmFd !== null) closeSync(statmFd)
const base = rows[0]
console.log('\n| read | ns/call (benny) | ns/call (batched loop, median) | x memtrace rss() |')
console.log('| --- | ---: | ---: | ---: |')
for (const row of rows) {
  const ratio = (row.batchedNs / base.batchedNs).toFixed(1)
  console.log(`| ${row.name} | ${row.bennyNs.toFixed(0)} | ${row.batchedNs.toFixed(0)} | x${ratio} |`)
}
if (!Number.isFinite(sink)) console.log(sink)
