/**
 * `memtrace/testing`: a leak check for test suites. `checkLeak` calls a function again and again,
 * collects garbage after each call, reads what memory is held, and fits a line through those
 * readings: its slope is what each call keeps. Two readings, because neither sees every leak:
 * RSS sees native memory, but not what a call keeps of memory the allocator had already been
 * given back (glibc's malloc reuses freed chunks without the kernel knowing); V8's figures (JS
 * heap used, and the memory outside it that JS objects hold, Buffers among it) see exactly what
 * JS keeps, but not native memory. The calls are recorded by a profiler where the loader hooks
 * are installed, so that a leak comes with the functions that grew memory.
 */
import { AssertionError } from 'node:assert'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

import { native } from './native.js'
import { checkObject, invalid, optionalInteger, optionalString } from './options.js'
import { ownCode } from './profile/hotpath.js'
import { CANNOT_TRACE, start, type Profiler } from './profile/profiler.js'
import { bytes } from './reports/appearance.js'
import { readProfileLog } from './reports/logs.js'
import { describeGrowth, whereGrown, type Growth } from './reports/stacks.js'
import { parseSize, SIZE_FORMS } from './size.js'

export interface LeakOptions {
  /** Calls measured (default 20). */
  iterations?: number
  /** Calls made first and not measured, so that caches and compiled code settle (default 5). */
  warmup?: number
  /** Memory a call may keep, in bytes or as a size (`'64KiB'`), before it counts as a leak (default 128 KiB). */
  maxGrowthPerIteration?: number | string
  /** Keep the profiler's log in this directory (default: a temporary one, removed). */
  logDir?: string
}

export interface LeakReport {
  /** Memory each call keeps, in bytes: the larger of `rssPerIteration` and `heapPerIteration`. */
  growthPerIteration: number
  /** The slope of RSS (after a collection) against calls. */
  rssPerIteration: number
  /** The slope of V8's heap used plus its external memory (after a collection) against calls. */
  heapPerIteration: number
  /** Whether that is more than `maxGrowthPerIteration`. */
  leaked: boolean
  maxGrowthPerIteration: number
  iterations: number
  warmup: number
  /** The largest RSS seen, in bytes. */
  peak: number
  /** Where RSS grew most during the measured calls, most first (empty without the loader hooks). */
  topFunctions: Growth[]
  /** How garbage was collected between calls: `gc()` from `--expose-gc`, one memtrace switched on, or none. */
  gc: 'exposed' | 'enabled' | 'unavailable'
  /** What the figures rest on, where it is not the usual: no collections, no function names. */
  notes: string[]
  /** The profiler's log, when `logDir` was given. */
  logPath: string | null
}

const OPTIONS = ['iterations', 'warmup', 'maxGrowthPerIteration', 'logDir'] as const
const DEFAULT_MAX_GROWTH = 128 << 10
const TOP = 5

/** Functions named in an assertion's message. */
const NAMED = 3

/**
 * Calls `fn` (sync or async) `warmup` times, then `iterations` times measured, and reports the
 * memory each call keeps. Garbage is collected after every call: with `global.gc` where Node runs
 * with `--expose-gc`, else memtrace switches `gc()` on itself (and says so in `notes`).
 */
export async function checkLeak(fn: () => unknown, options?: LeakOptions): Promise<LeakReport> {
  if (typeof fn !== 'function') throw invalid('checkLeak(fn)', 'a function', fn)
  const own = checkObject('checkLeak options', options, OPTIONS)
  const iterations = optionalInteger('iterations', own.iterations, 20, 3, 1_000_000)
  const warmup = optionalInteger('warmup', own.warmup, 5, 0, 1_000_000)
  const maxGrowthPerIteration = sizeValue('maxGrowthPerIteration', own.maxGrowthPerIteration, DEFAULT_MAX_GROWTH)
  const logDir = optionalString('logDir', own.logDir)
  const notes: string[] = []
  const { collect, gc } = collector(notes)

  for (let i = 0; i < warmup; i++) {
    await fn()
    collect()
  }
  const rss: number[] = []
  const heap: number[] = []
  const read = () => {
    const { heapUsed, external } = process.memoryUsage()
    rss.push(native.rss())
    heap.push(heapUsed + external)
  }
  let peak = 0
  let topFunctions: Growth[] = []
  let logPath: string | null = null
  const dir = logDir ?? mkdtempSync(join(tmpdir(), 'memtrace-leak-'))
  try {
    const profiler = profilerIn(dir, notes)
    try {
      collect()
      read()
      for (let i = 0; i < iterations; i++) {
        await fn()
        peak = Math.max(peak, native.rss())
        collect()
        read()
      }
    } finally {
      profiler?.stop()
    }
    if (profiler?.logPath) topFunctions = whereGrown(readProfileLog(profiler.logPath), TOP)
    if (logDir) logPath = profiler?.logPath ?? null
  } finally {
    if (!logDir) rmSync(dir, { recursive: true, force: true })
  }
  const rssPerIteration = Math.round(slope(rss))
  const heapPerIteration = Math.round(slope(heap))
  const growthPerIteration = Math.max(rssPerIteration, heapPerIteration)
  return {
    growthPerIteration,
    rssPerIteration,
    heapPerIteration,
    leaked: growthPerIteration > maxGrowthPerIteration,
    maxGrowthPerIteration,
    iterations,
    warmup,
    peak: Math.max(peak, ...rss),
    topFunctions,
    gc,
    notes,
    logPath,
  }
}

/** {@link checkLeak}, throwing an AssertionError that names the growth per call and where it grew when `fn` leaks. */
export async function assertNoLeak(fn: () => unknown, options?: LeakOptions): Promise<LeakReport> {
  const report = await checkLeak(fn, options)
  if (report.leaked) {
    const where = report.topFunctions.slice(0, NAMED).map((g) => `  ${bytes(g.growth, true)}  ${describeGrowth(g)}`)
    throw new AssertionError({
      message:
        `${fn.name || 'the function'} keeps ${bytes(report.growthPerIteration)} per call ` +
        `(${bytes(report.rssPerIteration)} of RSS, ${bytes(report.heapPerIteration)} of JS heap and external memory) ` +
        `where at most ${bytes(report.maxGrowthPerIteration)} is allowed, over ${report.iterations} calls after ${report.warmup} to warm up` +
        (where.length > 0 ? `; RSS grew most in:\n${where.join('\n')}` : '') +
        (report.notes.length > 0 ? `\n${report.notes.join('\n')}` : ''),
      actual: report.growthPerIteration,
      expected: report.maxGrowthPerIteration,
      operator: '<=',
    })
  }
  return report
}

ownCode(checkLeak, assertNoLeak)

function sizeValue(option: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  const size = typeof value === 'number' ? value : typeof value === 'string' ? parseSize(value) : undefined
  if (size === undefined || !Number.isSafeInteger(size) || size < 0) throw invalid(option, `a whole number of bytes, or a size: ${SIZE_FORMS}`, value)
  return size
}

/** What collects garbage between calls, and which way it was found. */
function collector(notes: string[]): { collect: () => void; gc: LeakReport['gc'] } {
  const exposed = (globalThis as { gc?: () => void }).gc
  if (typeof exposed === 'function') return { collect: exposed, gc: 'exposed' }
  try {
    // The flag makes V8 put `gc` on contexts made from now on; this one is only asked for it.
    setFlagsFromString('--expose-gc')
    const enabled = runInNewContext('gc') as () => void
    notes.push('gc() was not exposed (node --expose-gc); memtrace switched it on to collect garbage between calls')
    return { collect: enabled, gc: 'enabled' }
  } catch {
    notes.push('garbage could not be collected between calls (run node with --expose-gc): growth may include garbage not yet collected')
    return { collect: () => {}, gc: 'unavailable' }
  }
}

/**
 * A profiler of the measured calls, logging into `dir`; null (and a note) where code is not
 * instrumented. A log that cannot be written is an error, before any call is measured.
 */
function profilerIn(dir: string, notes: string[]): Profiler | null {
  try {
    return start({ logDir: dir }, { caller: checkLeak })
  } catch (error) {
    if (!(error instanceof Error) || !error.message.startsWith(CANNOT_TRACE)) throw error
    notes.push(`functions are not named: ${error.message}`)
    return null
  }
}

/** The least-squares slope of `values` against their index. */
function slope(values: number[]): number {
  const n = values.length
  const meanX = (n - 1) / 2
  const meanY = values.reduce((sum, v) => sum + v, 0) / n
  let covariance = 0
  let variance = 0
  values.forEach((y, x) => {
    covariance += (x - meanX) * (y - meanY)
    variance += (x - meanX) ** 2
  })
  return covariance / variance
}
