/**
 * The asynchronous ES module loader hooks, run by Node on its loader-hooks thread
 * (`module.register`), where Node has no `module.registerHooks` (see `esm.ts`).
 *
 * Hooks chain last-registered-first, so to see what other loaders produce (tsx compiling
 * TypeScript, say) ours must be registered after them. `esm.ts` registers these hooks again
 * whenever another loader registers, each time as a new generation (`?generation=N`, a new
 * module instance); only the newest generation instruments, the older ones pass through.
 */
import { createRequire } from 'node:module'

import type { HooksData } from './config.js'
import type { LoadResult } from './esm.js'
import type { Transformer } from './transform.js'

// memtrace's CommonJS modules through require, not import: imported, each goes through the ES
// module loader on this thread, which costs a traced process's start about as much again as
// Node's own hooks thread does (bench/startup.bench.mjs).
const require = createRequire(import.meta.url)
const { installGlobals } = require('../profile/hotpath.js') as typeof import('../profile/hotpath.js')
const { instrumentLoaded } = require('./esm.js') as typeof import('./esm.js')
const { transformer } = require('./transform.js') as typeof import('./transform.js')

type NextLoad = (url: string, context: unknown) => Promise<LoadResult>

const shared = globalThis as { __memtraceNewestGeneration?: number }
let generation = 0
let transform: Transformer | null = null

export async function initialize(data: HooksData): Promise<void> {
  // Frozen by a preload before memtrace ran (as on the main thread, which then instruments
  // nothing): pass everything through.
  if (!Object.isExtensible(globalThis)) return
  // Other loaders' hooks modules are loaded through ours, instrumented, and run on this thread.
  // No profiler runs here, so their events go nowhere, but the functions must exist.
  installGlobals()
  generation = data.generation
  shared.__memtraceNewestGeneration = Math.max(shared.__memtraceNewestGeneration ?? 0, generation)
  transform = transformer(data.config)
}

export async function load(url: string, context: unknown, nextLoad: NextLoad): Promise<LoadResult> {
  const result = await nextLoad(url, context)
  if (!transform || generation !== shared.__memtraceNewestGeneration) return result
  // ES modules; and CommonJS only when a loader below us supplied its source, because then Node
  // compiles it without going through Module.prototype._compile (see commonjs.ts).
  return instrumentLoaded(result, url, transform, ['module', 'commonjs'])
}
