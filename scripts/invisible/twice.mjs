// One command run untraced and under `memtrace run`, and what each printed: the differential
// harness's unit (test262.mjs runs many at once its own way). Nothing but Node's own modules.
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cli', 'main.js')

/** memtrace's own lines on stderr (`memtrace run`'s summary of each log). */
const OWN = /^memtrace: .*\n?/gm

/**
 * `node …args` untraced, then under `memtrace run …options`, in `cwd`: each run's exit status,
 * stdout and stderr (memtrace's summary lines taken out), and the traced run's log directory.
 * `prepare()` runs before each (to empty an output directory, say).
 */
export function twice({ node = process.execPath, args, options = [], cwd, env = {}, prepare = () => {} }) {
  const run = (command) => {
    prepare()
    const ran = spawnSync(node, command, { cwd, env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 256 << 20 })
    if (ran.error) throw ran.error
    return { status: ran.status, signal: ran.signal, stdout: ran.stdout, stderr: ran.stderr.replace(OWN, '') }
  }
  const logs = mkdtempSync(join(tmpdir(), 'memtrace-twice-'))
  try {
    const untraced = run(args)
    const traced = run([cli, 'run', '--log-dir', logs, ...options, '--', node, ...args])
    return { untraced, traced }
  } finally {
    rmSync(logs, { recursive: true, force: true })
  }
}

/** The lines of `a` and `b` that differ, as `-`/`+` pairs (at most `limit`), for a report. */
export function differences(a, b, limit = 20) {
  const left = a.split('\n')
  const right = b.split('\n')
  const out = []
  for (let i = 0; i < Math.max(left.length, right.length) && out.length < limit * 2; i++) {
    if (left[i] !== right[i]) out.push(`- ${left[i] ?? '(none)'}`, `+ ${right[i] ?? '(none)'}`)
  }
  return out.join('\n')
}
