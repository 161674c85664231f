// The tracer a user would write by hand, as the baseline: at every event, ask Node for the RSS
// and append a line to a file with fs.writeSync. It takes the place of memtrace's hot path
// (memtrace/register keeps globals that are already defined), so it sees the same events.
const { openSync, writeSync } = require('node:fs')
const { tmpdir } = require('node:os')
const { join } = require('node:path')

const fd = openSync(join(tmpdir(), `memtrace-naive-${process.pid}.log`), 'w')
globalThis.__naiveEvents = 0
const record = (what) => (id) => {
  globalThis.__naiveEvents++
  writeSync(fd, `${what} ${id} ${process.memoryUsage.rss()}\n`)
}
const call = record('CALL')
const ret = record('RETURN')
const except = record('EXCEPT')
const suspend = record('YIELD')
const resume = record('RESUME')
// A function's state, as the instrumenter counts it (`Piece::parts`): it starts at 0 here, where
// no depth is kept; a normal completion adds 1 (2 in a function that suspends, where 1 means
// suspended).
Object.assign(globalThis, {
  __mt$c: (id) => (call(id), 0),
  __mt$b: (id) => (call(id), 0),
  __mt$h: (value) => value,
  __mt$r: ret,
  __mt$x: except,
  __mt$e: except,
  __mt$w: (id, state) => (state < 2 ? except(id) : ret(id)),
  __mt$g: (id, state) => ((state & 3) === 0 ? except(id) : ret(id)),
  __mt$p: (id, value) => (ret(id), value),
  __mt$y: (id, value) => (suspend(id), value),
  __mt$u: (id, value) => (resume(id), value),
  __mt$k: (id, state) => ((state & 1) !== 0 && resume(id), state & ~1),
  __mt$i: (_id, iterable) => iterable,
  __mt$l: record('LINE'),
})
process.on('exit', () => require('node:fs').rmSync(join(tmpdir(), `memtrace-naive-${process.pid}.log`), { force: true }))
require('../dist/register.js')
