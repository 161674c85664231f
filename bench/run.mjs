#!/usr/bin/env node
// Runs the benchmarks side by side and prints their tables.
//   npm run bench                     every bench/*.bench.mjs
//   npm run bench -- rss              only bench/rss.bench.mjs
//   npm run bench -- --quick          one round of smaller inputs: a few minutes, for CI on
//                                     every OS (the numbers are rougher)
//   npm run bench -- --readme [names] also writes each benchmark's tables into README.md,
//                                     between <!-- bench:NAME --> and <!-- /bench:NAME -->
// Each benchmark runs in a Node process of its own, started directly (no shell), so this runs
// the same on Linux, macOS and Windows.
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import { fileURLToPath } from 'node:url'

import { minimist, path } from 'zx'

const argv = minimist(process.argv.slice(2), { boolean: ['readme', 'quick'] })
const here = path.dirname(fileURLToPath(import.meta.url))
const readmePath = path.join(here, '..', 'README.md')
const all = readdirSync(here).filter((f) => f.endsWith('.bench.mjs')).map((f) => f.slice(0, -'.bench.mjs'.length))
const names = argv._.length ? argv._.map(String) : all
for (const name of names) {
  if (!all.includes(name)) throw new Error(`'${name}' is not a benchmark; there are: ${all.join(', ')}`)
}

const machine = `${os.cpus().length} × ${os.cpus()[0].model.trim()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`
const stamp = `Measured ${new Date().toISOString().slice(0, 10)} on ${machine}${argv.quick ? ' (--quick: one round, smaller inputs)' : ''}.`

/**
 * The markdown of a benchmark's output: its `####` titles and its tables, each table kept whole
 * with its own header, a blank line between blocks.
 */
function markdown(out) {
  const kept = out.split('\n').filter((line) => line.startsWith('|') || line.startsWith('#### '))
  return kept.map((line, i) => (i > 0 && !(line.startsWith('|') && kept[i - 1].startsWith('|')) ? `\n${line}` : line)).join('\n')
}

let failed = false
for (const name of names) {
  console.log(`\n## ${name}\n`)
  // The tables come on stdout; progress goes straight to the terminal.
  const args = [path.join(here, `${name}.bench.mjs`), ...(argv.quick ? ['--quick'] : [])]
  const result = spawnSync(process.execPath, args, { stdio: ['inherit', 'pipe', 'inherit'], encoding: 'utf8', maxBuffer: 64 << 20 })
  if (result.status !== 0) {
    console.log(`${name} failed (exit code ${result.status}, signal ${result.signal})`)
    failed = true
    continue
  }
  const tables = markdown(result.stdout)
  console.log(`${tables}\n\n${stamp}`)
  if (argv.readme) {
    const readme = readFileSync(readmePath, 'utf8')
    const open = `<!-- bench:${name} -->`
    const close = `<!-- /bench:${name} -->`
    const start = readme.indexOf(open)
    const end = readme.indexOf(close)
    if (start < 0 || end < start) throw new Error(`README.md has no ${open} … ${close} section`)
    writeFileSync(readmePath, `${readme.slice(0, start + open.length)}\n${stamp}\n\n${tables}\n${readme.slice(end)}`)
  }
}
process.exitCode = failed ? 1 : 0
