// The instrumenter's cost: throughput on typescript.js (9 MB in one file) and on every file
// under node_modules, with and without the plan cache; and what it adds to loading a real
// program (the TypeScript compiler) when traced, against the same load untraced.
//
//   node bench/instrument.bench.mjs [--quick]     --quick: one round of each, three loads
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { minimist } from 'zx'

const quick = minimist(process.argv.slice(2), { boolean: ['quick'] }).quick
const rounds = quick ? 1 : 5
const loads = quick ? 3 : 7
const root = join(fileURLToPath(new URL('.', import.meta.url)), '..')
const require = createRequire(import.meta.url)
const native = require('../index.js')
const median = (values) => [...values].sort((a, b) => a - b)[values.length >> 1]

function* files(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) yield* files(path)
    else if (/\.(js|mjs|cjs)$/.test(entry.name)) yield path
  }
}

/** Median seconds to instrument every source, over `rounds`, with the given cache and events. */
function timeAll(sources, cacheDir, rounds, { lines, nativeCalls }) {
  const times = []
  for (let r = 0; r < rounds; r++) {
    const start = process.hrtime.bigint()
    for (const { code, path, kind } of sources) {
      const result = native.instrument(code, path, kind, { lines, nativeCalls, sourceMap: false, cacheDir, acceptsUsing: true })
      if (result.error && kind === 'commonjs') native.instrument(code, path, 'module', { lines, nativeCalls, sourceMap: false, cacheDir, acceptsUsing: true })
    }
    times.push(Number(process.hrtime.bigint() - start) / 1e9)
  }
  return median(times)
}

const typescript = join(root, 'node_modules', 'typescript', 'lib', 'typescript.js')
const sets = {
  'typescript.js (one 9 MB file)': [{ code: readFileSync(typescript, 'utf8'), path: typescript, kind: 'commonjs' }],
  [`node_modules (every .js, .mjs, .cjs)`]: [...files(join(root, 'node_modules'))].map((path) => ({
    code: readFileSync(path, 'utf8'),
    path,
    kind: path.endsWith('.mjs') ? 'module' : 'commonjs',
  })),
}

/** What the code reports, as the instrumenter's options. */
const EVENTS = {
  calls: { lines: false, nativeCalls: false },
  'calls and native calls (the default)': { lines: false, nativeCalls: true },
  'calls, native calls and lines': { lines: true, nativeCalls: true },
}

console.log('#### Throughput\n')
console.log('| input | events | files | MB | cold: s (median) | cold: MB/s | cached: s (median) | cached: MB/s |')
console.log('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |')
for (const [label, sources] of Object.entries(sets)) {
  for (const [events, options] of Object.entries(EVENTS)) {
    const mb = sources.reduce((sum, s) => sum + Buffer.byteLength(s.code), 0) / 1e6
    const cache = mkdtempSync(join(tmpdir(), 'memtrace-plan-cache-'))
    const cold = timeAll(sources, undefined, rounds, options)
    timeAll(sources, cache, 1, options)
    const cached = timeAll(sources, cache, rounds, options)
    rmSync(cache, { recursive: true, force: true })
    console.log(`| ${label} | ${events} | ${sources.length} | ${mb.toFixed(1)} | ${cold.toFixed(3)} | ${(mb / cold).toFixed(0)} | ${cached.toFixed(3)} | ${(mb / cached).toFixed(0)} |`)
  }
}

// Loading the TypeScript compiler: untraced, traced with a cold cache, traced with a warm one.
const cache = mkdtempSync(join(tmpdir(), 'memtrace-plan-cache-'))
const load = ['-e', `const t0 = process.hrtime.bigint(); require(${JSON.stringify(typescript)}); console.log(Number(process.hrtime.bigint() - t0) / 1e6)`]
const configs = {
  untraced: [load, {}],
  'traced, cache off': [['--require', join(root, 'dist', 'register.js'), ...load], { MEMTRACE_CACHE_DIR: 'off' }],
  'traced, warm cache': [['--require', join(root, 'dist', 'register.js'), ...load], { MEMTRACE_CACHE_DIR: cache }],
}
const times = Object.fromEntries(Object.keys(configs).map((k) => [k, []]))
for (let round = 0; round < loads; round++) {
  for (const [name, [args, env]] of Object.entries(configs)) {
    const out = spawnSync(process.execPath, args, { env: { ...process.env, ...env }, encoding: 'utf8' })
    times[name].push(Number(out.stdout.trim()))
  }
}
rmSync(cache, { recursive: true, force: true })
const base = median(times.untraced)
console.log('\n#### Loading the TypeScript compiler\n')
console.log(`| require("typescript") | ms (median of ${loads}) | added ms |`)
console.log('| --- | ---: | ---: |')
for (const name of Object.keys(configs)) {
  const ms = median(times[name])
  console.log(`| ${name} | ${ms.toFixed(0)} | ${name === 'untraced' ? '–' : `+${(ms - base).toFixed(0)}`} |`)
}
