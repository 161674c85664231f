/**
 * `memtrace/register`: makes this thread's code traceable. Load it before the program:
 *
 *     node --import memtrace/register app.js      (ES modules and CommonJS)
 *     node --require memtrace/register app.js     (CommonJS-only setups; hooks ESM too)
 *
 * It defines the hot-path globals, instruments CommonJS by patching `Module.prototype._compile`,
 * and registers the ES module loader hooks (`instrument/esm.ts`). Under `memtrace run` it also starts the profiler of
 * this process (its settings come in `MEMTRACE_RUN`).
 */
import { appendFileSync, existsSync, writeSync } from 'node:fs'
import { isMainThread, parentPort } from 'node:worker_threads'

import { patchCommonJs } from './instrument/commonjs.js'
import { configFromEnv, type InstrumentConfig } from './instrument/config.js'
import { registerEsmHooks } from './instrument/esm.js'
import { patchVm } from './instrument/vm.js'
import { restoreFunctionSources } from './instrument/source.js'
import { transformer } from './instrument/transform.js'
import { native } from './native.js'
import { installGlobals } from './profile/hotpath.js'
import { start, UNTRACEABLE, type ProfileOptions, type Profiler } from './profile/profiler.js'

/** What `memtrace run` passes each process it traces, as JSON in `MEMTRACE_RUN`. */
export interface RunSettings {
  profile: ProfileOptions
  /** A file to which each traced process appends one JSON line naming its log. */
  manifest: string
}

const REGISTERED = Symbol.for('memtrace.registered')

/**
 * Starts this process's profiler under `memtrace run`. A process started after the run has
 * ended (by a daemon, say) finds its manifest gone; it then runs untraced, with one line saying
 * so, rather than failing.
 */
function startRunProfiler(json: string): void {
  let settings: RunSettings
  let profiler: Profiler
  try {
    settings = JSON.parse(json) as RunSettings
    if (!existsSync(settings.manifest)) {
      process.stderr.write(`memtrace: not tracing process ${process.pid}: its memtrace run has ended\n`)
      return
    }
    const site = native.registerSite(process.argv[1] ?? process.execPath, 1, 1, '<memtrace run>')
    profiler = start(settings.profile, site)
  } catch (error) {
    process.stderr.write(`memtrace: not tracing process ${process.pid}: ${(error as Error).message}\n`)
    return
  }
  const note = (entry: object) => {
    try {
      appendFileSync(settings.manifest, `${JSON.stringify({ pid: process.pid, log: profiler.logPath, ...entry })}\n`)
    } catch {
      // The run has ended (this process outlives it): the log is written all the same, unlisted.
    }
  }
  note({ argv: process.argv })
  // After the profilers have stopped (their listener came first): why this log is unfinished.
  process.once('exit', () => profiler.failure && note({ failure: profiler.failure }))
}

function main(): void {
  // Node 20 runs --require preloads on its loader-hooks thread too (the one thread that is
  // neither main nor a worker with a parent port); the hooks themselves are all that belongs there.
  if (!isMainThread && parentPort === null) return
  const scope = globalThis as { [REGISTERED]?: boolean }
  if (scope[REGISTERED]) return
  if (!Object.isExtensible(globalThis)) {
    // Frozen or sealed before memtrace ran: instrumented code would call functions that cannot
    // be defined, so nothing is instrumented.
    process.stderr.write(`memtrace: not tracing process ${process.pid}: ${UNTRACEABLE}\n`)
    return
  }
  scope[REGISTERED] = true

  let config: InstrumentConfig
  try {
    config = configFromEnv()
  } catch (error) {
    // A bad MEMTRACE_INCLUDE or MEMTRACE_EXCLUDE: the program cannot be traced as asked.
    process.stderr.write(`memtrace: ${(error as Error).message}\n`)
    process.exit(1)
  }
  installGlobals(config)
  if (!restoreFunctionSources() && config.debug) {
    writeSync(2, 'memtrace: Function.prototype.toString was frozen before memtrace ran: instrumented functions show their instrumented source\n')
  }
  const transform = transformer(config)
  patchCommonJs(transform)
  patchVm(transform)
  registerEsmHooks(config)
  const run = process.env.MEMTRACE_RUN
  if (run && isMainThread) startRunProfiler(run)
}

main()
