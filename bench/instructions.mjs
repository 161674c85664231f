// Instructions instead of time: what a command costs as counted by valgrind's cachegrind, the
// same from run to run (to a few parts in a million) on a machine whose timings move by ±30 %.
// V8 runs with --predictable, fixed seeds and no background threads, and address-space
// randomisation is off, so that nothing but the code decides the count.
//
//   import { instructions, canCount } from './instructions.mjs'
//   instructions(node, ['-e', '0'])    → instructions executed by every thread of that process
//
// Also a command of its own, for A/B comparisons of the hot path and of startup between two
// builds: see bench/compare.mjs.
import { spawnSync } from 'node:child_process'

/** Whether valgrind is here to count with. */
export function canCount() {
  return spawnSync('valgrind', ['--version'], { stdio: 'ignore' }).status === 0
}

/** V8's flags that make a run repeat itself. */
const PREDICTABLE = ['--single-threaded', '--predictable', '--random-seed=1', '--hash-seed=1']

/** Instructions that `node args…` executes, all its threads together; throws if it fails. */
export function instructions(node, args, { env = {}, cwd } = {}) {
  const valgrind = ['valgrind', '--tool=cachegrind', '--cache-sim=no', '--cachegrind-out-file=/dev/null', '--smc-check=all-non-file', node, ...PREDICTABLE, ...args]
  // setarch -R: no address-space randomisation (hash tables keyed by address iterate the same).
  const result = spawnSync('setarch', ['-R', ...valgrind], { encoding: 'utf8', env: { ...process.env, ...env }, cwd, maxBuffer: 64 << 20 })
  const refs = /I\s+refs:\s+([\d,]+)/.exec(result.stderr)
  if (result.status !== 0 || !refs) throw new Error(`valgrind ${args.join(' ')}: exit code ${result.status}\n${result.stderr.slice(-2000)}`)
  return Number(refs[1].replaceAll(',', ''))
}
