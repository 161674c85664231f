// One run of the worker-pool benchmark, in a process of its own: the LAS summariser over
// directories of well logs, in the main thread (`0` workers) or dealt out to that many worker
// threads running at once, profiled with `workers: true` when `traced`. Prints one JSON line: the time and, traced, the
// events of every thread's log. Run by workers.bench.mjs; not meant to be run by hand.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'

const [workers, traced, ...dirs] = process.argv.slice(2)
const require = createRequire(import.meta.url)
const workload = new URL('./workloads/las.mjs', import.meta.url)
const output = mkdtempSync(join(tmpdir(), 'memtrace-pool-out-'))
const logDir = mkdtempSync(join(tmpdir(), 'memtrace-pool-logs-'))

const profiler = traced === 'traced' ? require('../dist/index.js').profile({ logDir, workers: true }) : null
const start = process.hrtime.bigint()
if (workers === '0') {
  const { run } = await import(workload)
  dirs.forEach((dir, i) => run(dir, join(output, String(i))))
} else {
  const source = `import { workerData } from 'node:worker_threads'
const { run } = await import(workerData.workload)
for (const [i, dir] of workerData.dirs.entries()) run(dir, workerData.out + '-' + i)`
  await Promise.all(
    Array.from({ length: Number(workers) }, (_, n) => {
      const own = dirs.filter((_, i) => i % Number(workers) === n)
      return new Promise((resolve, reject) => {
        const worker = new Worker(source, { eval: true, workerData: { workload: workload.href, dirs: own, out: join(output, String(n)) } })
        worker.once('exit', resolve)
        worker.once('error', reject)
      })
    }),
  )
}
const ms = Number(process.hrtime.bigint() - start) / 1e6
profiler?.stop()
const { native } = require('../dist/native.js')
const logs = readdirSync(logDir)
const events = profiler ? logs.reduce((sum, name) => sum + native.readLog(join(logDir, name)).events, 0) : null
console.log(JSON.stringify({ ms, events, logs: logs.length }))
rmSync(output, { recursive: true, force: true })
rmSync(logDir, { recursive: true, force: true })
