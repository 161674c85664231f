// The process `memtrace attach` looks into, for attach.bench.mjs: an event loop kept busy with
// small tasks, whose delays it measures; over IPC, 'reset' starts a window and 'report' sends
// its largest and 99th-percentile delays in milliseconds.
const { monitorEventLoopDelay } = require('node:perf_hooks')

const delays = monitorEventLoopDelay({ resolution: 1 })
delays.enable()
const kept = []
setInterval(() => {
  for (let i = 0; i < 200; i++) kept.push(JSON.stringify({ i, at: Date.now() }))
  if (kept.length > 100_000) kept.length = 0
}, 1)
process.on('message', (message) => {
  if (message === 'reset') delays.reset()
  if (message === 'report') process.send({ max: delays.max / 1e6, p99: delays.percentile(99) / 1e6 })
})
process.send('ready')
