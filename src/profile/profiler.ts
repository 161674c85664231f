/**
 * `profile()`: start recording the RSS at every function event of this thread into a log.
 *
 * The native side (`crates/core/src/profiler.rs`) owns the log, the ring, the sampler and the
 * writer; this side owns the hot-path state, nesting and the ends of the log (FRST, LAST, MSG),
 * and makes sure every log ends however the process does (`./exit.ts`).
 */
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { getEnvironmentData, isMainThread, setEnvironmentData, threadId } from 'node:worker_threads'

import { native, type Binding } from '../native.js'
import {
  checkObject,
  invalid,
  optionalBoolean,
  optionalChoice,
  optionalInteger,
  optionalString,
} from '../options.js'
import { installExitHandlers } from './exit.js'
import { DEFAULT_HEAP_INTERVAL, HeapSampler, type HeapSummary } from './heap.js'
import { StackTable } from './stacks.js'
import {
  eventCount,
  globalsInstalled,
  shareStart,
  Stage,
  switchTo,
  withLines,
  withNativeCalls,
  writeFirst,
  writeLast,
  writeMessage,
  type Recording,
} from './hotpath.js'

export interface ProfileOptions {
  /** Write the log to this file (created, or truncated if it exists). Default: a new file in `logDir`. */
  logPath?: string
  /** Directory for a new log named `YYYYMMDD_HHMMSS_<pid>.log` (UTC), created if need be. Default: the working directory. */
  logDir?: string
  /** A line written at the top of the log, before `SOF`. */
  message?: string
  /** Log an event when RSS has moved by at least this many bytes since the last logged event. 0 logs every event. Default: one page (4096). */
  dRssTrigger?: number
  /** Also log the event just before each logged one, as a `PREV:` row. Default: false. */
  previous?: boolean
  /**
   * Where an event's RSS comes from. `'sampled'` (default): a sampler thread keeps it fresh every
   * `rssPeriodUs`, so an event costs a few ns and its RSS is at most that old. `'exact'`: read
   * from the kernel at every event (~1 µs each), as cPyMemTrace does.
   */
  rss?: 'sampled' | 'exact'
  /** Sampler period in microseconds; 0 polls without sleeping (one CPU core). Default: 100. */
  rssPeriodUs?: number
  /** Records the ring between this thread and the writer holds (rounded up to a power of two). Default: 65536 (2 MiB). */
  ringSize?: number
  /**
   * Also record a LINE event at each statement, so that growth is seen line by line (as
   * cPyMemTrace's Trace). Needs the code instrumented with them: run with `MEMTRACE_LINES=1`
   * (`memtrace run --lines` sets it). Default: false.
   */
  lines?: boolean
  /**
   * Also record C_CALL and C_RETURN (C_EXCEPT when it throws) around each call of a function
   * that is not instrumented JavaScript (`JSON.parse`, `fs.readFileSync`, an addon, an excluded
   * file), so that growth inside it is its own. Needs the code instrumented with them, which is
   * the default (`MEMTRACE_NATIVE_CALLS=0` or `memtrace run --no-native-calls` turns it off).
   * Default: true when the code has them.
   */
  nativeCalls?: boolean
  /**
   * How much each event does, for measuring the tracer itself: `'count'` (count only), `'rss'`
   * (and read RSS), `'filter'` (and apply the filter, write nothing), `'log'` (default: all).
   */
  record?: 'count' | 'rss' | 'filter' | 'log'
  /**
   * Also record each worker thread started while this profiler runs (and the workers they
   * start), each into a log of its own beside this one, `YYYYMMDD_HHMMSS_<pid>_<threadId>.log`,
   * with these options. The worker needs the loader hooks too, which it inherits from
   * `node --import memtrace/register`. Default: false.
   */
  workers?: boolean
  /**
   * Also record each garbage collection of this thread as a GC row (its kind and duration, when
   * it started, how RSS moved while it ran), and V8's heap after it as a HEAP row. Default: false.
   */
  gc?: boolean
  /**
   * Name the call stack of each logged row (the instrumented functions running, outermost
   * first), defined once each in STCK rows, so that `memtrace report` can tell growth by stack
   * and put growth seen as a function was called down to its caller. Default: true.
   */
  stacks?: boolean
  /**
   * Also run V8's sampling heap profiler on this thread, and at stop write the JavaScript
   * allocations still alive, by stack, as a `.heapprofile` beside the log (Chrome DevTools'
   * Memory panel loads it; `memtrace report` reads it). One profiler of a thread at a time.
   * Default: false.
   */
  heap?: boolean
  /** With `heap`: the average bytes allocated between two samples. Default: 262144. */
  heapInterval?: number
  /**
   * `'text'` (default): the seed's text log. `'binary'`: the same rows as records of about a
   * dozen bytes instead of about two hundred, for logging every event (`dRssTrigger: 0`), where
   * writing the text bounds the speed. `memtrace report` reads either; `memtrace report --text`
   * prints a binary log as its text.
   */
  logFormat?: 'text' | 'binary'
}

const OPTIONS = [
  'logPath',
  'logDir',
  'message',
  'dRssTrigger',
  'previous',
  'rss',
  'rssPeriodUs',
  'ringSize',
  'record',
  'lines',
  'nativeCalls',
  'workers',
  'gc',
  'stacks',
  'heap',
  'heapInterval',
  'logFormat',
] as const

const STAGES = { count: Stage.Count, rss: Stage.Rss, filter: Stage.Filter, log: Stage.Log } as const

/** The default sampler period: ~5% of a core while memory is still (see the README's "RSS staleness"). */
export const DEFAULT_RSS_PERIOD_US = 100
export const DEFAULT_RING_SIZE = 65536

/** How the error of profile() begins when this thread's code is not instrumented (and why follows). */
export const CANNOT_TRACE = 'memtrace cannot trace: '

/** Why a thread cannot be traced when code froze `globalThis` before memtrace/register ran. */
export const UNTRACEABLE =
  'globalThis was frozen or sealed before memtrace/register ran, so the functions that instrumented code calls cannot be defined; load memtrace/register first'

/**
 * What a worker thread started now is to record, as JSON `WorkerSettings`, in Node's environment
 * data, which each worker copies from its parent as it starts (whatever `env` it is given).
 */
export const WORKER_SETTINGS = 'memtrace.workers'

/** What a worker thread records: `profile` into its own log; under `memtrace run`, noted in `manifest`. */
export interface WorkerSettings {
  profile: ProfileOptions
  manifest?: string
}

/** Profilers of this thread, innermost last. */
const stack: Profiler[] = []

/** A summary of a finished log. */
export interface ProfileSummary {
  logPath: string | null
  events: number
  rows: number
  peakRss: number
  /**
   * The function whose logged rows add up to the largest RSS growth. `atEntry`: the growth was
   * seen as it was called (or resumed), so it was made just before, by its caller.
   */
  topFunction: { file: string; line: number; name: string; atEntry: boolean; growth: number } | null
  /** With `heap`: the `.heapprofile` written, its samples still alive and the bytes they stand for. */
  heapProfile: HeapSummary | null
}

export class Profiler {
  readonly #native: InstanceType<Binding['NativeProfiler']>
  readonly #recording: Recording
  #summary: ProfileSummary | null = null
  #failure: string | null = null
  /** Events once stopped, when the ring is gone. */
  #finalEvents: number | null = null
  readonly #memory: ArrayBuffer
  /** With `workers`: what workers were to record before this profiler started, put back at stop. */
  readonly #workersBefore: unknown
  readonly #heap: HeapSampler | null

  /** @internal Use `profile()`. */
  constructor(
    native: InstanceType<Binding['NativeProfiler']>,
    recording: Recording,
    memory: ArrayBuffer,
    workers: WorkerSettings | undefined,
    heap: HeapSampler | null,
  ) {
    this.#native = native
    this.#recording = recording
    this.#memory = memory
    this.#heap = heap
    this.#workersBefore = getEnvironmentData(WORKER_SETTINGS)
    if (workers) setEnvironmentData(WORKER_SETTINGS, JSON.stringify(workers))
  }

  /** The log file, or null when the log is discarded. */
  get logPath(): string | null {
    return this.#native.path ?? null
  }

  /** With `heap`, where the heap profile goes (null: nowhere, the log is discarded); else undefined. */
  get heapProfilePath(): string | null | undefined {
    return this.#heap === null ? undefined : this.#heap.path
  }

  /** Events seen so far, logged or not. */
  get eventCount(): number {
    return this.#finalEvents ?? eventCount(this.#recording)
  }

  /** Whether the log has been ended. */
  get stopped(): boolean {
    return this.#summary !== null || this.#failure !== null
  }

  /** Writes a `MSG:` row with `text` at the current event. */
  message(text: string): void {
    if (typeof text !== 'string') throw invalid('message text', 'a string', text)
    if (this.stopped) throw new Error(`this profiler has stopped; its log ${this.logPath} is ${this.#failure ? 'unfinished' : 'complete'}`)
    this.#native.message(text)
    this.#within(writeMessage)
  }

  /** Ends the log with `LAST:` and `EOF`. Profilers started after this one are stopped first. Idempotent. */
  stop(): ProfileSummary {
    return this.#stop(callSite(this.stop))
  }

  /** `stop()`, for `using`; the LAST row names the block's end in the user's code. */
  [Symbol.dispose](): void {
    this.#stop(callSite(this[Symbol.dispose]))
  }

  /** @internal */
  #stop(site: number): ProfileSummary {
    if (this.#summary) return this.#summary
    if (this.#failure) throw new Error(this.#failureMessage())
    const at = stack.indexOf(this)
    for (const inner of stack.slice(at + 1).reverse()) {
      try {
        inner.#stop(site)
      } catch {
        // Its failure is its own (see `failure`); this log is still to be finished.
      }
    }
    this.#within(() => writeLast(site))
    setEnvironmentData(WORKER_SETTINGS, this.#workersBefore as string | undefined)
    const result = this.#native.stop()
    this.#failure = result.failure ?? null
    stack.splice(at, 1)
    const outer = stack[stack.length - 1]
    switchTo(outer ? outer.#recording : null)
    if (outer && at === stack.length) outer.#reattached()
    // The ring is freed now, not at a garbage collection: nothing reads it any more.
    this.#finalEvents = eventCount(this.#recording)
    this.#native.release(this.#memory)
    let heapProfile: HeapSummary | null = null
    try {
      heapProfile = this.#heap?.stop() ?? null
    } catch (error) {
      this.#failure ??= `cannot write the heap profile ${this.#heap!.path}: ${(error as Error).message}`
    }
    if (this.#failure) throw new Error(this.#failureMessage())
    const top = result.topFunction == null ? null : native.functionInfo(result.topFunction)
    this.#summary = {
      logPath: this.logPath,
      events: result.events,
      rows: result.rows,
      peakRss: result.peakRss,
      topFunction: top
        ? { file: top.file, line: top.line, name: top.name, atEntry: result.topAtEntry ?? false, growth: result.topGrowth ?? 0 }
        : null,
      heapProfile,
    }
    return this.#summary
  }

  #failureMessage(): string {
    return `memtrace could not finish the log ${this.logPath}: ${this.#failure}`
  }

  /**
   * Why the log could not be finished (the writer said so on stderr when it happened), or null;
   * `stop()` then throws an Error that says so.
   */
  get failure(): string | null {
    return this.#failure
  }

  /**
   * @internal Ends every log because the process is exiting. One that cannot be finished (a
   * full disk) keeps its `failure`; the others are still finished.
   */
  static stopAll(reason: string): void {
    const site = native.registerSite('<exit>', 0, 0, reason)
    for (const profiler of [...stack].reverse()) {
      try {
        profiler.#stop(site)
      } catch {
        // Said on stderr when writing stopped; kept in `failure`.
      }
    }
  }

  /** Runs `write` with this profiler's ring as the hot path's, then switches back. */
  #within(write: () => void): void {
    const active = stack[stack.length - 1]
    if (active === this) return write()
    switchTo(this.#recording)
    write()
    switchTo(active ? active.#recording : null)
  }

  /**
   * @internal Another profiler is starting on this thread: the innermost one says so in its log
   * and is suspended (it costs nothing) until that one stops.
   */
  static suspendInnermost(next: string): void {
    const outer = stack.at(-1)
    if (!outer) return
    outer.message(`Detaching this profile. New file: ${next}`)
    outer.#native.suspend()
  }

  #reattached(): void {
    this.#native.resume()
    this.#native.message('Re-attaching this profile.')
    this.#within(writeMessage)
  }
}

/** How many profilers are running on this thread (nested ones included). */
export function profileDepth(): number {
  return stack.length
}

/**
 * Starts recording the RSS at every call and return of instrumented code on this thread.
 *
 * Needs the loader hooks: run with `node --import memtrace/register` (or `memtrace run`). When a
 * profiler is already running, it is suspended (with a `MSG:` row naming the new log) until the
 * new one stops.
 *
 * @throws TypeError for an invalid option; Error when the hooks are not installed or the log
 * cannot be created.
 */
export function profile(options?: ProfileOptions): Profiler {
  return start(options, { caller: profile })
}

/** Where a profiler is started from, when not by user code calling `profile()`. */
export interface Origin {
  /** The registered call site of the FRST row; without it, where user code called `caller`. */
  site?: number
  caller?: Function
  /** Under `memtrace run`: the file where each traced thread notes its log, passed on to workers. */
  manifest?: string
}

/** @internal `profile()`, started from `origin`. (Site ids start at 0: none is taken to mean "no site".) */
export function start(options: ProfileOptions | undefined, origin: Origin = {}): Profiler {
  const recorder = (globalThis as { __mt$start?: typeof start }).__mt$start
  if (recorder && recorder !== start) return recorder(options, origin)
  const o = checkObject('profile() options', options, OPTIONS)
  const logPath = optionalString('logPath', o.logPath)
  const logDir = optionalString('logDir', o.logDir)
  if (logPath !== undefined && logDir !== undefined) {
    throw new TypeError('logPath and logDir cannot both be given: logPath names the file, logDir a directory for a new one')
  }
  const message = o.message === undefined ? undefined : o.message
  if (message !== undefined && typeof message !== 'string') throw invalid('message', 'a string', message)
  const trigger = optionalInteger('dRssTrigger', o.dRssTrigger, native.pageSize(), 0, Number.MAX_SAFE_INTEGER)
  const previous = optionalBoolean('previous', o.previous, false)
  const rss = optionalChoice('rss', o.rss, ['sampled', 'exact'], 'sampled')
  const rssPeriodUs = optionalInteger('rssPeriodUs', o.rssPeriodUs, DEFAULT_RSS_PERIOD_US, 0, 10_000_000)
  const ringSize = optionalInteger('ringSize', o.ringSize, DEFAULT_RING_SIZE, 2, 1 << 24)
  const stage = STAGES[optionalChoice('record', o.record, ['count', 'rss', 'filter', 'log'], 'log')]
  const lines = optionalBoolean('lines', o.lines, false)
  const nativeCalls = optionalBoolean('nativeCalls', o.nativeCalls, withNativeCalls())
  const workers = optionalBoolean('workers', o.workers, false)
  const gc = optionalBoolean('gc', o.gc, false)
  const stacks = optionalBoolean('stacks', o.stacks, true)
  const heap = optionalBoolean('heap', o.heap, false)
  const heapInterval = optionalInteger('heapInterval', o.heapInterval, DEFAULT_HEAP_INTERVAL, 1, 1 << 30)
  const logFormat = optionalChoice('logFormat', o.logFormat, ['text', 'binary'], 'text')
  if (heap && stack.some((p) => p.heapProfilePath !== undefined)) {
    throw new Error(`heap: V8 samples a thread's heap for one profiler at a time, and ${stack.find((p) => p.heapProfilePath !== undefined)!.logPath} does`)
  }
  const triggerPages = Math.ceil(trigger / native.pageSize())

  if (!globalsInstalled()) {
    throw new Error(
      Object.isExtensible(globalThis)
        ? `${CANNOT_TRACE}its loader hooks are not installed in this thread. ` +
            'Run the program with `node --import memtrace/register app.js` (or `memtrace run app.js`), ' +
            'so that the code it loads is instrumented.'
        : `${CANNOT_TRACE}${UNTRACEABLE}.`,
    )
  }
  if (lines && !withLines()) {
    throw new Error(
      'profile({ lines: true }) needs code instrumented with a LINE event at each statement: ' +
        'run with MEMTRACE_LINES=1 in the environment (`memtrace run --lines` sets it), so that the code it loads gets them.',
    )
  }
  if (nativeCalls && !withNativeCalls()) {
    throw new Error(
      'profile({ nativeCalls: true }) needs code instrumented with C_CALL and C_RETURN around its calls: ' +
        'run without MEMTRACE_NATIVE_CALLS=0 in the environment (`memtrace run --no-native-calls` sets it), so that the code it loads gets them.',
    )
  }
  const profiler = new native.NativeProfiler({
    logFile: logPath === undefined ? undefined : resolve(logPath),
    logDir: logDir === undefined ? undefined : resolve(logDir),
    message,
    capacity: ringSize,
    rssPeriodUs,
    thread: isMainThread ? undefined : threadId,
    gc,
    triggerPages,
    binary: logFormat === 'binary',
    // node:v8 only when asked for: it loads Node's streams, which a process may never need.
    heapLimit: gc ? (require('node:v8') as typeof import('node:v8')).getHeapStatistics().heap_size_limit : undefined,
    // Read last, so that nothing allocates an ArrayBuffer between this and the native check.
    arrayBuffers: gc ? process.memoryUsage().arrayBuffers : undefined,
  })
  const memory = profiler.memory()
  const recording: Recording = {
    ints: new Int32Array(memory),
    floats: new Float64Array(memory),
    capacity: profiler.capacity,
    stage,
    triggerPages,
    previous,
    exact: rss === 'exact',
    lines,
    nativeCalls,
    stacks: stacks ? new StackTable() : null,
    waitForSpace: () => profiler.waitForSpace(),
  }
  const logsBeside = logPath === undefined ? resolve(logDir ?? '.') : dirname(resolve(logPath))
  const forWorkers: WorkerSettings | undefined = workers
    ? { profile: { ...o, logPath: undefined, logDir: logsBeside, message: undefined }, manifest: origin.manifest }
    : undefined
  const written = profiler.path ?? null
  const sampler = heap ? new HeapSampler(written === null ? null : written.replace(/(\.log)?$/, '.heapprofile'), heapInterval) : null
  // Before this log records: finding the site may run instrumented code (a bundler's or test
  // runner's Error.prepareStackTrace), whose events come before FRST otherwise.
  const site = origin.site ?? callSite(origin.caller ?? start)
  const created = new Profiler(profiler, recording, memory, forWorkers, sampler)
  Profiler.suspendInnermost(created.logPath ?? '<discarded>')
  installExitHandlers(() => Profiler.stopAll('<exit>'))
  stack.push(created)
  switchTo(recording)
  writeFirst(site)
  // Which thread of which process, when the process started (pids repeat, in containers above
  // all) and its uptime now: what `memtrace report` joins the logs of one process by, on one
  // timeline.
  if (!isMainThread || workers) {
    const thread = isMainThread ? 'main thread' : `thread ${threadId}`
    const uptime = process.uptime()
    const started = new Date(Date.now() - uptime * 1000).toISOString()
    created.message(`${thread} of process ${process.pid} (started ${started}, uptime ${uptime.toFixed(6)} s)`)
  }
  if (profiler.noGcRows) {
    created.message(`no GC rows: ${profiler.noGcRows}`)
    process.stderr.write(`memtrace: no GC rows in ${created.logPath ?? 'the log'}: ${profiler.noGcRows}\n`)
  }

  return created
}

shareStart(start)

/** Registers where user code called `fn` (the first frame outside memtrace) as a call site. */
function callSite(fn: Function): number {
  const holder: { stack?: string } = {}
  const limit = Error.stackTraceLimit
  Error.stackTraceLimit = 1
  Error.captureStackTrace(holder, fn)
  Error.stackTraceLimit = limit
  const frame = (holder.stack ?? '').split('\n')[1] ?? ''
  // "    at name (file:line:column)" or "    at file:line:column"
  const match = /^\s*at (?:(.*?) \()?(.*?):(\d+):(\d+)\)?$/.exec(frame)
  if (!match) return native.registerSite('<unknown>', 0, 0, '<unknown>')
  const [, name, location, line, column] = match
  // The File column spells a file as a path, as the instrumenter does, whether the frame is of
  // an ES module (a file: URL) or of CommonJS.
  const file = location.startsWith('file:') ? fileURLToPath(location) : location
  return native.registerSite(file, Number(line), Number(column), name ?? '<top level>')
}
