// Cost of one RSS read: memtrace's rss() against what a Node user has without it.
// benny gives ops/s per case; a batched hrtime loop cross-checks the ns-scale figures,
// because benchmark.js's per-sample overhead blurs calls that take ~1 µs or less.
import { closeSync, openSync, readFileSync, readSync } from 'node:fs'
import { createRequire } from 'node:module'

import b from 'benny'

const { rss, pageSize } = createRequire(import.meta.url)('../dist/index.js')
const PAGE = pageSize()

const statmFd = openSync('/proc/self/statm', 'r')
const statmBuf = Buffer.alloc(128)
const cases = {
  'memtrace rss()': () => rss(),
  'process.memoryUsage.rss()': () => process.memoryUsage.rss(),
  'JS: readFileSync /proc/self/statm': () => Number(readFileSync('/proc/self/statm', 'latin1').split(' ')[1]) * PAGE,
  'JS: readSync on a kept statm fd': () => {
    const n = readSync(statmFd, statmBuf, 0, 128, 0)
    return Number(statmBuf.latin1Slice(0, n).split(' ')[1]) * PAGE
  },
}

let sink = 0
const summary = await b.suite(
  'one RSS read',
  ...Object.entries(cases).map(([name, fn]) => b.add(name, () => { sink += fn() })),
  b.configure({ cases: { minSamples: 20, maxTime: 2 } }),
)

/** Median ns per call of `fn` over `rounds` batches of `n` calls. */
function batched(fn, n = 20_000, rounds = 9) {
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
closeSync(statmFd)
const base = rows[0]
console.log('\n| read | ns/call (benny) | ns/call (batched loop, median) | x memtrace rss() |')
console.log('| --- | ---: | ---: | ---: |')
for (const row of rows) {
  const ratio = (row.batchedNs / base.batchedNs).toFixed(1)
  console.log(`| ${row.name} | ${row.bennyNs.toFixed(0)} | ${row.batchedNs.toFixed(0)} | x${ratio} |`)
}
if (!Number.isFinite(sink)) console.log(sink)
