/**
 * Heap mode: V8's sampling heap profiler of this thread, driven through an in-process
 * `node:inspector` session. V8 samples an allocation about every `interval` bytes and keeps the
 * stack it was made at while the object lives; at the end the samples still alive are the
 * live JavaScript allocations by stack, written as a `.heapprofile`, the file Chrome DevTools'
 * Memory panel loads. It sees the JavaScript heap only: the bytes behind a Buffer or an
 * ArrayBuffer live outside it (the per-call log's RSS sees them).
 *
 * Where V8 marks which samples' objects were collected (V8 14.6 and later: Node 26), the sampler
 * keeps those too (the flags `includeObjectsCollectedBy{Major,Minor}GC`) and the profile is read
 * through V8's C++ API (`native.heapProfile`, as the inspector does not pass the mark on): the
 * live samples as before, the collected ones apart, in `collectedSamples`, so that what a
 * function keeps is told from what it churns.
 *
 * An in-process session answers `post` before it returns, so the profile can be written from
 * an `exit` listener, as the log is ended there. Where no JavaScript runs at the end, the
 * profile is read and written natively (`native.HeapLastResort`): as a worker ended by
 * `terminate()` is torn down, and when a caught SIGINT or SIGTERM ends the process, on each
 * sampled thread, busy or not, before the signal goes through.
 */
import { writeFileSync } from 'node:fs'
import type { Session } from 'node:inspector'

import { native } from '../native.js'
import { catchSignals } from './exit.js'

/** What a heap profile holds when written. */
export interface HeapSummary {
  path: string | null
  /** Samples still alive at the end, and the bytes they stand for. */
  samples: number
  bytes: number
  /** Those of objects collected before the end, where V8 marks them (Node 26); else null. */
  collected: { samples: number; bytes: number } | null
}

/** What of a profile this module reads (see `reports/heapprofile.ts` for the rest). */
interface SamplingHeapProfile {
  samples?: { size: number }[]
  collectedSamples?: { size: number }[]
}

/** How many `samples` there are, and the bytes they stand for. */
const tally = (samples: { size: number }[]) => ({ samples: samples.length, bytes: samples.reduce((sum, s) => sum + s.size, 0) })

/** Whether this runtime's V8 marks the samples of collected objects (see `native.heapProfile`). */
function marksCollected(): boolean {
  const [major, minor] = process.versions.v8.split('.').map(Number)
  return major > 14 || (major === 14 && minor >= 6)
}

/**
 * The default sampling interval: the average bytes between two samples. V8's own default, 32
 * KiB, slows the seed's LAS program by 9% (measured: 128 KiB 5%, 256 KiB 3%, 512 KiB 2%); a
 * leak of megabytes still gets many samples at 256 KiB.
 */
export const DEFAULT_HEAP_INTERVAL = 262_144

/** A native writer of the profile at `path` (see the module's comment), where there is one. */
function lastResort(path: string, apart: boolean): { forget(): void } | null {
  try {
    return new native.HeapLastResort(path, apart)
  } catch {
    // A runtime without V8's C++ API (Windows): the profile is written at exit only.
    return null
  }
}

export class HeapSampler {
  // Loaded here, not with the module: node:inspector is a third of what loading memtrace costs
  // a process that never samples its heap (bench/startup.bench.mjs).
  readonly #session: Session = new (require('node:inspector') as typeof import('node:inspector')).Session()
  #summary: HeapSummary | null = null
  /** Whether the profile keeps collected objects' samples apart (see the module's comment). */
  readonly #apart: boolean
  /** What writes the profile where JavaScript cannot; null where V8's C++ API cannot be reached. */
  readonly #lastResort: { forget(): void } | null

  /** Starts sampling this thread's allocations; `path`: where `stop` writes the profile (null: nowhere). */
  constructor(
    readonly path: string | null,
    interval: number,
  ) {
    this.#session.connect()
    this.#apart = marksCollected() && this.#readable()
    this.#post('HeapProfiler.startSampling', {
      samplingInterval: interval,
      includeObjectsCollectedByMajorGC: this.#apart,
      includeObjectsCollectedByMinorGC: this.#apart,
    })
    this.#lastResort = path === null ? null : lastResort(path, this.#apart)
    catchSignals()
  }

  /** Stops sampling and writes the profile (idempotent); throws when it cannot be written. */
  stop(): HeapSummary {
    if (this.#summary) return this.#summary
    this.#lastResort?.forget()
    // Read natively as JSON, or from the inspector as an object: each is turned into the other once.
    const read = this.#apart ? native.heapProfile(true) : null
    const profile =
      read === null
        ? (this.#post('HeapProfiler.getSamplingProfile') as { profile: SamplingHeapProfile }).profile
        : (JSON.parse(read) as SamplingHeapProfile)
    this.#post('HeapProfiler.stopSampling')
    this.#session.disconnect()
    if (this.path !== null) writeFileSync(this.path, read ?? JSON.stringify(profile))
    const { samples, collectedSamples } = profile
    this.#summary = { path: this.path, ...tally(samples ?? []), collected: collectedSamples ? tally(collectedSamples) : null }
    return this.#summary
  }

  /** Whether V8's profile can be read natively here: tried on a profile just started. */
  #readable(): boolean {
    this.#post('HeapProfiler.startSampling')
    try {
      native.heapProfile(true)
      return true
    } catch {
      return false
    } finally {
      this.#post('HeapProfiler.stopSampling')
    }
  }

  /** Posts a command and returns its result: an in-process session has answered by then. */
  #post(method: string, params?: object): unknown {
    let answer: { error: Error | null; result?: unknown } | null = null
    this.#session.post(method, params, (error, result) => {
      answer = { error, result }
    })
    if (answer === null) throw new Error(`the inspector did not answer ${method} at once`)
    const { error, result } = answer as { error: Error | null; result?: unknown }
    if (error) throw new Error(`the inspector refused ${method}: ${error.message}`)
    return result
  }
}
