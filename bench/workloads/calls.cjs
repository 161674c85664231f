// `n` calls of a small function under a profiler recording as `record` says ('untraced': no
// profiler, the hooks alone), for bench/compare.mjs: instructions per event are what two values
// of `n` differ by. The sampler stays asleep, so that no thread's work depends on the clock.
//
//   node --require memtrace/register calls.cjs <n> <record> <dRssTrigger> <log>
const [n, record, trigger, log] = process.argv.slice(2)

function step(x) {
  return (x * 31 + 7) % 1000003
}

const profiler =
  record === 'untraced'
    ? null
    : require(process.env.MEMTRACE_INDEX).profile({ logPath: log, record, dRssTrigger: Number(trigger), rssPeriodUs: 10_000_000 })
let x = 1
for (let i = 0; i < Number(n); i++) x = step(x)
profiler?.stop()
if (x < 0) console.log(x)
