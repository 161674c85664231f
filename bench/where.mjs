// Where the time that tracing adds goes: one of the seed's programs untraced and under one
// configuration of its table, each sampled by `perf` on every thread, the samples sorted into
// what ran (the program's JavaScript as V8 optimised it or not, V8's compilers, the garbage
// collector, memtrace's native code, the kernel). A measurement to read beside the seed's
// table, not part of `npm run bench`: it needs Linux's perf.
//
//   node bench/where.mjs [--workload las|markdown] [--config drss] [--rounds 3]
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { minimist } from 'zx'

import { generate } from './workloads/las.mjs'

const argv = minimist(process.argv.slice(2), { string: ['workload', 'config'] })
const workload = argv.workload ?? 'markdown'
const config = argv.config ?? 'drss'
const rounds = Number(argv.rounds ?? 3)
const here = fileURLToPath(new URL('.', import.meta.url))
const register = join(here, '..', 'dist', 'register.js')
const work = mkdtempSync(join(tmpdir(), 'memtrace-where-'))
const FREQUENCY = 2000

if (spawnSync('perf', ['--version']).status !== 0) {
  console.error('bench/where.mjs needs Linux perf (Debian: apt-get install linux-perf)')
  process.exit(2)
}

let inputs
if (workload === 'las') {
  generate(join(work, 'in'), { files: 12 })
  mkdirSync(join(work, 'out'))
  inputs = [join(work, 'in'), join(work, 'out')]
} else {
  inputs = [join(here, '..', 'node_modules'), '1:2']
}

/** What a sample is of, from its thread, its object and its symbol. */
function category(thread, dso, symbol) {
  if (thread.startsWith('memtrace')) return 'memtrace threads (sampler, writer, I/O)'
  if (dso.includes('memtrace')) return 'memtrace native code on the JS thread'
  if (dso === '[kernel.kallsyms]') return 'kernel'
  if (/^(JS|LazyCompile|Function):\*/.test(symbol)) return 'JavaScript, optimised (TurboFan)'
  if (/^(JS|LazyCompile|Function):[+]/.test(symbol)) return 'JavaScript, optimised (Maglev)'
  if (/^(JS|LazyCompile|Function):[~^]/.test(symbol) || /^Builtins_(Interpreter|BaselineOutOfLine|.*Bytecode)/.test(symbol)) {
    return 'JavaScript, interpreted or baseline'
  }
  if (/compiler::|maglev::|turboshaft|Compile|Parser|Bytecode|Turbofan|Sparkplug|baseline::/i.test(symbol)) return "V8's compilers and parser"
  if (/Heap|Scaveng|MarkCompact|Sweep|GC|Marking|Evacuat|Concurrent/i.test(symbol) || thread.startsWith('V8 Dedicated') || thread.startsWith('V8 Worker')) {
    return 'garbage collector and V8 helper threads'
  }
  if (symbol.startsWith('Builtins_')) return "V8's built-ins"
  return 'other native code (Node, V8 runtime, libc)'
}

/** Milliseconds of CPU by category in one run of `config` ('untraced' for none). */
function sampled(name) {
  const data = join(work, `${name}.perf`)
  const preload = name === 'untraced' ? [] : ['--require', register]
  const args = ['record', '-q', '-F', String(FREQUENCY), '-o', data, '--', process.execPath, '--perf-basic-prof', ...preload, join(here, 'trace-one.mjs'), workload, name, ...inputs]
  const recorded = spawnSync('perf', args, { encoding: 'utf8', cwd: work })
  if (recorded.status !== 0) throw new Error(`perf record ${name}: ${recorded.stderr}`)
  const report = spawnSync('perf', ['report', '-i', data, '--stdio', '--no-children', '-g', 'none', '-F', 'sample,comm,dso,sym', '--sort', 'comm,dso,sym', '-t', '|'], {
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  })
  const ms = {}
  for (const line of report.stdout.split('\n')) {
    const fields = line.split('|').map((field) => field.trim())
    if (fields.length !== 4 || !/^\d+$/.test(fields[0])) continue
    const [samples, thread, dso, symbol] = fields
    const what = category(thread, dso, symbol.replace(/^\[.\] /, ''))
    ms[what] = (ms[what] ?? 0) + (Number(samples) * 1000) / FREQUENCY
  }
  rmSync(data, { force: true })
  return ms
}

const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1]
try {
  const runs = { untraced: [], [config]: [] }
  for (let round = 0; round < rounds; round++) {
    for (const name of Object.keys(runs)) runs[name].push(sampled(name))
    process.stderr.write(`\rround ${round + 1}/${rounds}`)
  }
  process.stderr.write('\n')
  const categories = [...new Set(Object.values(runs).flat().flatMap((ms) => Object.keys(ms)))]
  const of = (name, what) => median(runs[name].map((ms) => ms[what] ?? 0))
  const rows = categories.map((what) => [what, of('untraced', what), of(config, what)]).sort((a, b) => b[2] - b[1] - (a[2] - a[1]))
  console.log(`\n#### ${workload}: CPU time by what ran, untraced and ${config} (ms, all threads, median of ${rounds})\n`)
  console.log('| what ran | untraced | traced | added |')
  console.log('| --- | ---: | ---: | ---: |')
  for (const [what, plain, traced] of rows) console.log(`| ${what} | ${plain.toFixed(0)} | ${traced.toFixed(0)} | ${(traced - plain >= 0 ? '+' : '') + (traced - plain).toFixed(0)} |`)
  const total = (name) => categories.reduce((sum, what) => sum + of(name, what), 0)
  console.log(`| all | ${total('untraced').toFixed(0)} | ${total(config).toFixed(0)} | +${(total(config) - total('untraced')).toFixed(0)} |`)
} finally {
  rmSync(work, { recursive: true, force: true })
}
