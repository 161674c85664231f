#!/usr/bin/env node
// `npm test`: every test. The ava suite runs once per supported Node version, then `cargo test`.
//
//   node scripts/test.mjs                 every Node version below, then the Rust tests
//   node scripts/test.mjs --node 24       only Node 24 (a comma-separated list of majors)
//   node scripts/test.mjs -- <ava args>   passed to ava (a file, --match '*rss*', …)
//
// On Linux x64 the versions are pinned in scripts/nodes.mjs, fetched from the npm registry once.
// Elsewhere the suite runs on this Node only, and CI's matrix brings the other versions. It uses
// nothing but Node's own modules, as bootstrap does.
import { spawnSync } from 'node:child_process'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

import { NODES, nodesToTest } from './nodes.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const { values, positionals } = parseArgs({
  options: { node: { type: 'string' }, help: { type: 'boolean' } },
  allowPositionals: true,
})
if (values.help) {
  console.log('Usage: node scripts/test.mjs [--node <majors>] [-- <ava arguments>]')
  process.exit(0)
}
const majors = values.node?.split(',').map((m) => m.trim())
const known = NODES.map((n) => n.version.split('.')[0])
for (const major of majors ?? []) {
  if (!known.includes(major)) {
    console.error(`memtrace test: --node must name majors from ${known.join(', ')}, got ${JSON.stringify(major)}`)
    process.exit(2)
  }
}

const say = (text) => console.error(`memtrace test: ${text}`)

function run(what, command, args, env = {}) {
  say(what)
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } })
  return result.status === 0
}

const nodes = nodesToTest(majors, say)

const ava = join(root, 'node_modules', 'ava', 'entrypoints', 'cli.mjs')
const outcomes = []
for (const [i, { version, binary }] of nodes.entries()) {
  // Tests start `node` and `npm` by name too: they must find this version first. Tests of
  // native code alone that take long (a log of gigabytes) run with the first version only.
  const PATH = `${dirname(binary)}${delimiter}${process.env.PATH}`
  const env = { PATH, MEMTRACE_LONG_TESTS: i === 0 ? '1' : '0' }
  outcomes.push([`JavaScript tests on Node ${version}`, run(`ava on Node ${version}`, binary, [ava, ...positionals], env)])
}
if (!positionals.length) {
  outcomes.push(['Rust tests', run('cargo test', 'cargo', ['test', '--locked', '--workspace'])])
}

console.error('')
for (const [what, passed] of outcomes) say(`${passed ? 'passed' : 'FAILED'}: ${what}`)
process.exit(outcomes.every(([, passed]) => passed) ? 0 : 1)
