#!/usr/bin/env node
// Runs the benchmarks side by side and prints their tables.
//   npm run bench                     every bench/*.bench.mjs
//   npm run bench -- rss              only bench/rss.bench.mjs
//   npm run bench -- --readme [names] also writes each table into README.md, between
//                                     <!-- bench:NAME --> and <!-- /bench:NAME -->
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import os from 'node:os'

import { $, minimist, path } from 'zx'

const argv = minimist(process.argv.slice(2), { boolean: ['readme'] })
const here = path.dirname(new URL(import.meta.url).pathname)
const readmePath = path.join(here, '..', 'README.md')
const all = readdirSync(here).filter((f) => f.endsWith('.bench.mjs')).map((f) => f.slice(0, -'.bench.mjs'.length))
const names = argv._.length ? argv._.map(String) : all
for (const name of names) {
  if (!all.includes(name)) throw new Error(`'${name}' is not a benchmark; there are: ${all.join(', ')}`)
}

const machine = `${os.cpus().length} × ${os.cpus()[0].model.trim()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node ${process.version}`
const stamp = `Measured ${new Date().toISOString().slice(0, 10)} on ${machine}.`
$.verbose = false

for (const name of names) {
  console.log(`\n## ${name}\n`)
  // The table comes on stdout; progress goes straight to the terminal.
  const out = (await $({ stdio: ['inherit', 'pipe', 'inherit'] })`node ${path.join(here, `${name}.bench.mjs`)}`).stdout
  process.stdout.write(out)
  const table = out.split('\n').filter((line) => line.startsWith('|')).join('\n')
  console.log(`\n${stamp}`)
  if (argv.readme) {
    const readme = readFileSync(readmePath, 'utf8')
    const open = `<!-- bench:${name} -->`
    const close = `<!-- /bench:${name} -->`
    const start = readme.indexOf(open)
    const end = readme.indexOf(close)
    if (start < 0 || end < start) throw new Error(`README.md has no ${open} … ${close} section`)
    writeFileSync(readmePath, `${readme.slice(0, start + open.length)}\n${stamp}\n\n${table}\n${readme.slice(end)}`)
  }
}
