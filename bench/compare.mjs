#!/usr/bin/env node
// A/B comparison of two builds in instructions (valgrind; see instructions.mjs), which repeat
// from run to run where timings move by ±30 %: the start of a traced process, and what each
// event costs the hot path at each stage of the seed's table.
//
//   node bench/compare.mjs <base commit> [<head commit>]   (head: this working tree's tracked files)
//   node bench/compare.mjs --node <path to node> …
//
// A commit's files are copied (git archive, so that nothing is registered in this repository)
// into a directory under $MEMTRACE_COMPARE_DIR (default ~/.cache/memtrace-compare), with this
// checkout's node_modules, and built there once. The working tree is copied the same way (as
// the commit `git stash create` makes of it, which changes nothing here): a build measured where
// it was made starts in 5 % fewer instructions than the same files in a copy, which would read
// as a change.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import { homedir, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

import { minimist } from 'zx'

import { canCount, instructions } from './instructions.mjs'

const argv = minimist(process.argv.slice(2), { string: ['node', '_'] })
const root = join(fileURLToPath(new URL('.', import.meta.url)), '..')
const node = argv.node ?? process.execPath
const [baseRef, headRef] = argv._
if (!baseRef) {
  console.error('Usage: node bench/compare.mjs [--node <node>] <base commit> [<head commit>]')
  process.exit(2)
}
if (!canCount()) {
  console.error('bench/compare.mjs counts instructions with valgrind, which is not installed (apt-get install valgrind)')
  process.exit(1)
}
const work = process.env.MEMTRACE_COMPARE_DIR ?? join(homedir(), '.cache', 'memtrace-compare')

function git(...args) {
  const result = spawnSync('git', args, { cwd: root, encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`git ${args.join(' ')}: ${result.stderr}`)
  return result.stdout.trim()
}

/** A built copy of `ref`'s files, built once and kept. */
function checkout(ref) {
  const sha = git('rev-parse', '--verify', `${ref}^{commit}`)
  const dir = join(work, sha.slice(0, 12))
  if (!existsSync(join(dir, 'dist', 'register.js'))) {
    mkdirSync(work, { recursive: true })
    if (!existsSync(dir)) {
      const archive = spawnSync('git', ['archive', '--format=tar', sha], { cwd: root, maxBuffer: 1 << 30 })
      if (archive.status !== 0) throw new Error(`git archive ${sha}: ${archive.stderr}`)
      mkdirSync(dir)
      // -m: files dated now, not at their commit, so that cargo never takes another copy's build,
      // newer than them, in the shared target directory for theirs.
      const unpacked = spawnSync('tar', ['-x', '-m', '-C', dir], { input: archive.stdout })
      if (unpacked.status !== 0) throw new Error(`cannot unpack ${sha} into ${dir}: ${unpacked.stderr}`)
    }
    if (!existsSync(join(dir, 'node_modules'))) symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'))
    process.stderr.write(`building ${ref} (${sha.slice(0, 12)}) in ${dir}\n`)
    // One target directory for every checkout: cargo rebuilds only what differs.
    const build = spawnSync('npm', ['run', 'build'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, CARGO_TARGET_DIR: join(work, 'target') } })
    if (build.status !== 0) throw new Error(`cannot build ${ref}`)
  }
  return { label: `${ref} (${sha.slice(0, 12)})`, dir }
}

/** The stages of the seed's table, as calls.cjs records them: [label, record, dRssTrigger]. */
const STAGES = [
  ['hooks attached, no profiler', 'untraced', 4096],
  ['count events', 'count', 4096],
  ['read RSS', 'rss', 4096],
  ['dRSS filter (>= 4096)', 'filter', 4096],
  ['log rows that pass the filter', 'log', 4096],
  ['every event logged', 'log', 0],
]
const CALLS = [100_000, 200_000]

function measure({ dir }) {
  const register = join(dir, 'dist', 'register.js')
  const env = { MEMTRACE_INDEX: join(dir, 'dist', 'index.js'), MEMTRACE_CACHE_DIR: 'off' }
  const logDir = mkdtempSync(join(tmpdir(), 'memtrace-compare-'))
  const workload = join(root, 'bench', 'workloads', 'calls.cjs')
  try {
    const bare = instructions(node, ['-e', '0'])
    const startup = instructions(node, ['--require', register, '-e', '0']) - bare
    // Per event: what one more call (a CALL and a RETURN) costs, less what it costs untraced.
    const perCall = (preload, record, trigger) => {
      const [few, many] = CALLS.map((n) => instructions(node, [...preload, workload, String(n), record, String(trigger), join(logDir, 'log')], { env }))
      return (many - few) / (CALLS[1] - CALLS[0])
    }
    const untraced = perCall([], 'untraced', 0)
    const stages = STAGES.map(([label, record, trigger]) => {
      process.stderr.write(`  ${label}\n`)
      return [label, (perCall(['--require', register], record, trigger) - untraced) / 2]
    })
    return { startup, stages }
  } finally {
    rmSync(logDir, { recursive: true, force: true })
  }
}

const base = checkout(baseRef)
const head = headRef ? checkout(headRef) : { ...checkout(git('stash', 'create') || 'HEAD'), label: 'this working tree' }
const results = []
for (const build of [base, head]) {
  process.stderr.write(`counting ${build.label}\n`)
  results.push(measure(build))
}
const [a, b] = results
const change = (x, y) => `${y - x >= 0 ? '+' : ''}${(y - x).toFixed(1)} (${x === 0 ? 'new' : `${(((y - x) / x) * 100).toFixed(1)}%`})`
console.log(`\n#### Instructions (valgrind), ${base.label} → ${head.label}, Node ${spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim()}\n`)
console.log('| measure | base | head | change |')
console.log('| --- | ---: | ---: | ---: |')
console.log(`| start: \`--require memtrace/register -e 0\`, millions over bare node | ${(a.startup / 1e6).toFixed(1)} | ${(b.startup / 1e6).toFixed(1)} | ${change(a.startup / 1e6, b.startup / 1e6)} |`)
a.stages.forEach(([label, x], i) => {
  const y = b.stages[i][1]
  console.log(`| per event, ${label} | ${x.toFixed(1)} | ${y.toFixed(1)} | ${change(x, y)} |`)
})
