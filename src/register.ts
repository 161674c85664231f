/**
 * `memtrace/register`: makes this thread's code traceable. Load it before the program:
 *
 *     node --import memtrace/register app.js      (ES modules and CommonJS)
 *     node --require memtrace/register app.js     (CommonJS-only setups; hooks ESM too)
 *
 * It defines the hot-path globals, instruments CommonJS by patching `Module.prototype._compile`,
 * and registers the ES module loader hooks. Under `memtrace run` it also starts the profiler of
 * this process (its settings come in `MEMTRACE_RUN`).
 */
import { appendFileSync } from 'node:fs'
import Module, { register as registerHooks, syncBuiltinESMExports } from 'node:module'
import { pathToFileURL } from 'node:url'
import { isMainThread, parentPort } from 'node:worker_threads'

import { patchCommonJs } from './instrument/commonjs.js'
import { configFromEnv, type HooksData, type InstrumentConfig } from './instrument/config.js'
import { restoreFunctionSources } from './instrument/source.js'
import { transformer } from './instrument/transform.js'
import { native } from './native.js'
import { installGlobals } from './profile/hotpath.js'
import { start, type ProfileOptions } from './profile/profiler.js'

/** What `memtrace run` passes each process it traces, as JSON in `MEMTRACE_RUN`. */
export interface RunSettings {
  profile: ProfileOptions
  /** A file to which each traced process appends one JSON line naming its log. */
  manifest: string
}

const REGISTERED = Symbol.for('memtrace.registered')

function registerEsmHooks(config: InstrumentConfig): void {
  const hooks = pathToFileURL(`${__dirname}/instrument/hooks.mjs`).href
  let generation = 0
  const original = registerHooks as (specifier: string, options: { data: HooksData }) => void
  const add = () => {
    generation += 1
    const data: HooksData = { generation, config }
    original(`${hooks}?generation=${generation}`, { data })
  }
  add()
  // Stay on top of loaders registered after us, so we instrument their output (see hooks.mts).
  const builtin = Module as unknown as { register: (...args: unknown[]) => void }
  builtin.register = function register(this: unknown, ...args: unknown[]) {
    ;(original as (...args: unknown[]) => void).apply(this, args)
    add()
  }
  syncBuiltinESMExports()
}

/**
 * Starts this process's profiler under `memtrace run`. A process can outlive the run that
 * started it (a daemon, say) and find its manifest gone; it then runs untraced, with one line
 * saying so, rather than failing.
 */
function startRunProfiler(json: string): void {
  try {
    const settings = JSON.parse(json) as RunSettings
    appendFileSync(settings.manifest, '')
    const site = native.registerSite(process.argv[1] ?? process.execPath, 1, 1, '<memtrace run>')
    const profiler = start(settings.profile, site)
    appendFileSync(settings.manifest, `${JSON.stringify({ pid: process.pid, argv: process.argv, log: profiler.logPath })}\n`)
  } catch (error) {
    process.stderr.write(`memtrace: not tracing process ${process.pid}: ${(error as Error).message}\n`)
  }
}

function main(): void {
  // Node runs --require preloads on its loader-hooks thread too (the one thread that is neither
  // main nor a worker with a parent port); the hooks themselves are all that belongs there.
  if (!isMainThread && parentPort === null) return
  const scope = globalThis as { [REGISTERED]?: boolean }
  if (scope[REGISTERED]) return
  scope[REGISTERED] = true

  let config: InstrumentConfig
  try {
    config = configFromEnv()
  } catch (error) {
    // A bad MEMTRACE_INCLUDE or MEMTRACE_EXCLUDE: the program cannot be traced as asked.
    process.stderr.write(`memtrace: ${(error as Error).message}\n`)
    process.exit(1)
  }
  installGlobals()
  restoreFunctionSources()
  patchCommonJs(transformer(config))
  registerEsmHooks(config)
  const run = process.env.MEMTRACE_RUN
  if (run && isMainThread) startRunProfiler(run)
}

main()
