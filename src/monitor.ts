/**
 * `monitor()`: the RSS of this process at a fixed interval, with V8's heap figures and the
 * user's marks, as JSON Lines. The sampling runs on a native thread (`crates/core/src/monitor.rs`),
 * so a busy event loop does not delay it; the heap figures, which only this thread can read,
 * come from an unreferenced timer and go into the rows that follow.
 */
import { resolve } from 'node:path'

import { native, type Binding } from './native.js'
import { checkObject, invalid, optionalInteger, optionalString } from './options.js'

export interface MonitorOptions {
  /** Milliseconds between samples. Default: 250 (the seed's monitor used 0.25 s and 1 s). */
  intervalMs?: number
  /** Write the log to this file (created, or truncated if it exists). Default: a new file in `logDir`. */
  logPath?: string
  /** Directory for a new log named `YYYYMMDD_HHMMSS_<pid>.jsonl` (UTC). Default: the working directory. */
  logDir?: string
  /** A note kept in the log's header. */
  message?: string
}

const OPTIONS = ['intervalMs', 'logPath', 'logDir', 'message'] as const
export const DEFAULT_INTERVAL_MS = 250

export interface MonitorSummary {
  logPath: string
  samples: number
  peakRss: number
  /** Seconds from the start to the peak. */
  peakAt: number
}

type NativeMonitor = InstanceType<Binding['NativeMonitor']>

const running = new Set<Monitor>()
let exitHook = false

export class Monitor {
  readonly #native: NativeMonitor
  readonly #timer: NodeJS.Timeout
  #summary: MonitorSummary | null = null

  /** @internal Use `monitor()`. */
  constructor(native: NativeMonitor, intervalMs: number) {
    this.#native = native
    const heap = () => {
      const h = heapFigures()
      native.setHeap(h.used, h.total, h.external, h.arrayBuffers)
    }
    this.#timer = setInterval(heap, intervalMs).unref()
  }

  /** The log file. */
  get logPath(): string {
    return this.#native.path
  }

  /** Writes a `mark` row with `label` and the RSS now. */
  mark(label: string): void {
    if (typeof label !== 'string') throw invalid('mark label', 'a string', label)
    if (this.#summary) throw new Error(`this monitor has stopped; its log ${this.logPath} is complete`)
    this.#native.mark(label)
  }

  /** Stops sampling and ends the log. Idempotent. */
  stop(): MonitorSummary {
    if (this.#summary) return this.#summary
    clearInterval(this.#timer)
    const summary = this.#native.stop()
    running.delete(this)
    this.#summary = { logPath: this.logPath, samples: summary.samples, peakRss: summary.peakRss, peakAt: summary.peakT }
    return this.#summary
  }

  [Symbol.dispose](): void {
    this.stop()
  }
}

/** V8's heap figures now, which only this thread can read. */
function heapFigures() {
  const usage = process.memoryUsage()
  return { used: usage.heapUsed, total: usage.heapTotal, external: usage.external, arrayBuffers: usage.arrayBuffers }
}

/** The first row of a monitor log: what was watched, how, when, and with which versions. */
export function monitorHeader(fields: Record<string, unknown>): string {
  return JSON.stringify({
    type: 'header',
    format: 'memtrace-monitor',
    version: 1,
    ...fields,
    start: new Date().toISOString(),
    versions: { node: process.version, v8: process.versions.v8, memtrace: require('../package.json').version },
    platform: `${process.platform}-${process.arch}`,
  })
}

/**
 * Starts monitoring this process: a row every `intervalMs` with its RSS and V8 heap figures.
 *
 * @throws TypeError for an invalid option; Error when the log cannot be created.
 */
export function monitor(options?: MonitorOptions): Monitor {
  const o = checkObject('monitor() options', options, OPTIONS)
  const intervalMs = optionalInteger('intervalMs', o.intervalMs, DEFAULT_INTERVAL_MS, 1, 3_600_000)
  const logPath = optionalString('logPath', o.logPath)
  const logDir = optionalString('logDir', o.logDir)
  if (logPath !== undefined && logDir !== undefined) {
    throw new TypeError('logPath and logDir cannot both be given: logPath names the file, logDir a directory for a new one')
  }
  if (o.message !== undefined && typeof o.message !== 'string') throw invalid('message', 'a string', o.message)
  const header = monitorHeader({ watched: 'process', pid: process.pid, command: process.argv, intervalMs, message: o.message })
  const created = new Monitor(
    new native.NativeMonitor({
      logFile: logPath === undefined ? undefined : resolve(logPath),
      logDir: logDir === undefined ? undefined : resolve(logDir),
      intervalMs,
      header,
      heap: heapFigures(),
    }),
    intervalMs,
  )
  running.add(created)
  if (!exitHook) {
    exitHook = true
    process.once('exit', () => {
      for (const m of running) m.stop()
    })
  }
  return created
}
