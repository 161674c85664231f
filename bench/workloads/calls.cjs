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
// The loop runs in a function, as code does: a loop at a module's top level runs in code V8
// optimises differently from one build of memtrace to the next (the module's wrapper).
function run(count) {
  let x = 1
  for (let i = 0; i < count; i++) x = step(x)
  return x
}

const x = run(Number(n))
profiler?.stop()
if (x < 0) console.log(x)
