/**
 * What `memtrace/register` does on a thread that runs the program (see `register.ts`): defines
 * the hot-path globals, instruments CommonJS by patching `Module.prototype._compile` and code
 * compiled through `node:vm`, and registers the ES module loader hooks (`instrument/esm.ts`).
 * Under `memtrace run` it also starts the profiler of this process (its settings come in
 * `MEMTRACE_RUN`), and in a worker thread started while a profiler records workers, the
 * worker's (see `WORKER_SETTINGS`).
 */
import { appendFileSync, existsSync, writeSync } from 'node:fs'
import { getEnvironmentData, isMainThread, setEnvironmentData, threadId } from 'node:worker_threads'

import { patchCommonJs } from './instrument/commonjs.js'
import { configFromEnv, type InstrumentConfig } from './instrument/config.js'
import { registerEsmHooks } from './instrument/esm.js'
import { patchVm } from './instrument/vm.js'
import { restoreFunctionSources } from './instrument/source.js'
import { mapFrames } from './instrument/traces.js'
import { transformer } from './instrument/transform.js'
import { native } from './native.js'
import { DEFAULT_HEAP_INTERVAL, HeapSampler } from './profile/heap.js'
import { installGlobals } from './profile/hotpath.js'
import { start, UNTRACEABLE, WORKER_SETTINGS, type Profiler, type WorkerSettings } from './profile/profiler.js'

/**
 * What `memtrace run` passes each process it traces, as JSON in `MEMTRACE_RUN`. `calls: false`
 * (`--heap --no-calls`): no instrumentation, V8's heap sampler alone.
 */
export type RunSettings = Required<WorkerSettings> & { calls?: boolean }

const REGISTERED = Symbol.for('memtrace.registered')

/**
 * Starts this thread's profiler with `json` (`WorkerSettings`): in a process under `memtrace
 * run`, or in a worker thread started while a profiler that records workers runs. Under `memtrace
 * run`, the log is noted in the run's manifest; a process started after the run has ended (by a
 * daemon, say) finds the manifest gone and runs untraced, with one line saying so, rather than
 * failing.
 */
function startProfiler(json: string): void {
  const who = isMainThread ? `process ${process.pid}` : `thread ${threadId} of process ${process.pid}`
  let settings: WorkerSettings
  let profiler: Profiler
  try {
    settings = JSON.parse(json) as WorkerSettings
    if (settings.manifest !== undefined && !existsSync(settings.manifest)) {
      process.stderr.write(`memtrace: not tracing ${who}: its memtrace run has ended\n`)
      return
    }
    // A worker's script is not known yet while its preloads run (its argv[1] is node's).
    const site = isMainThread
      ? native.registerSite(process.argv[1] ?? process.execPath, 1, 1, '<memtrace run>')
      : native.registerSite('<worker>', 0, 0, `<thread ${threadId}>`)
    profiler = start(settings.profile, { site, manifest: settings.manifest })
  } catch (error) {
    process.stderr.write(`memtrace: not tracing ${who}: ${(error as Error).message}\n`)
    return
  }
  const manifest = settings.manifest
  if (manifest === undefined) return
  const note = (entry: object) => {
    try {
      appendFileSync(manifest, `${JSON.stringify({ pid: process.pid, thread: threadId, log: profiler.logPath, ...entry })}\n`)
    } catch {
      // The run has ended (this process outlives it): the log is written all the same, unlisted.
    }
  }
  note({ argv: process.argv })
  // After the profilers have stopped (their listener came first): why this log is unfinished.
  process.once('exit', () => profiler.failure && note({ failure: profiler.failure }))
}

/**
 * `memtrace run --heap --no-calls`: nothing instrumented, this thread's heap sampled into a
 * `.heapprofile` of its own in the log directory, written as it exits; workers it starts do the
 * same (they get the settings as a profiler's workers do).
 */
function sampleHeapOnly(json: string): void {
  const who = isMainThread ? `process ${process.pid}` : `thread ${threadId} of process ${process.pid}`
  try {
    const settings = JSON.parse(json) as RunSettings
    if (!existsSync(settings.manifest)) {
      process.stderr.write(`memtrace: not sampling ${who}: its memtrace run has ended\n`)
      return
    }
    if (isMainThread) setEnvironmentData(WORKER_SETTINGS, json)
    const subject = isMainThread ? `${process.pid}` : `${process.pid}_${threadId}`
    const path = native.createLogFile(settings.profile.logDir ?? '.', subject, 'heapprofile')
    const sampler = new HeapSampler(path, settings.profile.heapInterval ?? DEFAULT_HEAP_INTERVAL)
    appendFileSync(settings.manifest, `${JSON.stringify({ pid: process.pid, thread: threadId, log: null, heap: path })}\n`)
    process.once('exit', () => {
      try {
        sampler.stop()
      } catch (error) {
        process.stderr.write(`memtrace: cannot write the heap profile ${path}: ${(error as Error).message}\n`)
      }
    })
  } catch (error) {
    process.stderr.write(`memtrace: not sampling ${who}: ${(error as Error).message}\n`)
  }
}

/** Makes this thread traceable, once. */
export function install(): void {
  const scope = globalThis as { [REGISTERED]?: boolean }
  if (scope[REGISTERED]) return
  if (!Object.isExtensible(globalThis)) {
    // Frozen or sealed before memtrace ran: instrumented code would call functions that cannot
    // be defined, so nothing is instrumented.
    process.stderr.write(`memtrace: not tracing process ${process.pid}: ${UNTRACEABLE}\n`)
    return
  }
  scope[REGISTERED] = true

  const settings = isMainThread ? process.env.MEMTRACE_RUN : getEnvironmentData(WORKER_SETTINGS)
  if (typeof settings === 'string' && /"calls":false/.test(settings)) {
    sampleHeapOnly(settings)
    return
  }

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
  if (!native.mapStackTraces(mapFrames) && config.debug) {
    writeSync(2, 'memtrace: this runtime does not let memtrace see stack traces: columns of instrumented code are where they run\n')
  }
  const transform = transformer(config)
  patchCommonJs(transform)
  patchVm(transform)
  registerEsmHooks(config)
  if (typeof settings === 'string') startProfiler(settings)
}
