/**
 * The hot path: the functions that instrumented code calls at every function event.
 *
 * Instrumented code calls globals (`__mt$c(7)` and friends, see
 * `crates/core/src/instrument/mod.rs`), defined here once per thread as read-only properties of
 * `globalThis`, so that V8 treats them as constants and inlines them into the caller. Each event
 * counts itself, reads the RSS the sampler thread keeps fresh in shared memory (a typed-array
 * load, no native call), applies the dRSS filter, and only for an event that passes writes a
 * four-number record into the ring. No allocation, no native call, no clock read on that path;
 * the rare cases (ring full) are functions of their own.
 *
 * State is module-level `let`s, switched as a whole when profilers nest (`Recording`). Those
 * that hold doubles live in a Float64Array instead: V8 (11, in Node 20) boxes a double stored
 * in a module-level `let`, an allocation per event.
 */
import { native } from '../native.js'
import { StackTable } from './stacks.js'

/** How much of the work an event does: the stages of the seed's benchmark table. */
export const enum Stage {
  /** Count events only. */
  Count = 0,
  /** Count and read RSS. */
  Rss = 1,
  /** Everything but writing: RSS, filter, previous-event bookkeeping. */
  Filter = 2,
  /** Everything. */
  Log = 3,
}

/** What a profiler hands the hot path: views over its ring and its settings. */
export interface Recording {
  ints: Int32Array
  floats: Float64Array
  capacity: number
  stage: Stage
  triggerPages: number
  previous: boolean
  exact: boolean
  /** Whether LINE events (statements, when the code was instrumented with them) are recorded. */
  lines: boolean
  /** Whether C_CALL, C_RETURN and C_EXCEPT (when the code was instrumented with them) are recorded. */
  nativeCalls: boolean
  /** The stacks of this recording's log; null: its rows name no stack. */
  stacks: StackTable | null
  waitForSpace(): void
  /** Hot-path state of this recording, kept while another one is active. */
  saved?: Saved
}

interface Saved {
  head: number
  tailSeen: number
  refPages: number
  refEvent: number
  prevCode: number
  prevPages: number
  prevClock: number
  prevCount: number
  prevTop: number
}

const layout = native.ringLayout()

/** A code of a record's (`id * 128 + row + what`), as `crates/core/src/ring.rs` gives it. */
function code(codes: Record<string, number>, name: string): number {
  const value = codes[name]
  if (typeof value !== 'number') throw new Error(`memtrace's native binding gives no code for ${name}: it is of another version`)
  return value
}
const CALL = code(layout.what, 'CALL')
const RETURN = code(layout.what, 'RETURN')
const EXCEPT = code(layout.what, 'EXCEPT')
const YIELD = code(layout.what, 'YIELD')
const RESUME = code(layout.what, 'RESUME')
const C_CALL = code(layout.what, 'C_CALL')
const C_RETURN = code(layout.what, 'C_RETURN')
const C_EXCEPT = code(layout.what, 'C_EXCEPT')
const LINE = code(layout.what, 'LINE')
const PREV_ROW = code(layout.row, 'PREV')
const FIRST_ROW = code(layout.row, 'FRST')
const LAST_ROW = code(layout.row, 'LAST')
const MESSAGE_ROW = code(layout.row, 'MSG')
const STACK_ROW = code(layout.row, 'STCK')
/** A record's stack when the log has none. */
const NO_STACK = -1

const HEAD = layout.head
const TAIL = layout.tail
const RSS = layout.rssPages
const CLOSED = layout.closed
const CLOCK = layout.clock
const EVENTS = layout.events
const RECORDS = layout.records
const FIELDS = layout.recordFields

let current: Recording | null = null
let on = false
let stage = Stage.Log
let ints: Int32Array<ArrayBufferLike> = new Int32Array(64)
let floats: Float64Array<ArrayBufferLike> = new Float64Array(32)
let capacity = 0
let mask = 0
let head = 0
let tailSeen = 0
let triggerPages = 1
let previous = false
let exact = false
let lines = false
let nativeCalls = false
let stacks: StackTable | null = null
/** stage is Log, RSS is sampled and there are no PREV rows: the default, and the fast path. */
let plain = false
/** RSS (pages) of the last FRST/NEXT row: the filter's reference. */
let refPages = 0
/** The event before the current one, for PREV rows. */
let prevCode = 0
let prevPages = 0
/** Its stack: `prevCount` frames, the top one `prevTop`. */
let prevCount = 0
let prevTop = 0
/** Doubles: the event number of the last FRST/NEXT row, and the clock of the previous event. */
const doubles = new Float64Array(2)
const REF_EVENT = 0
const PREV_CLOCK = 1
/** Set by EXCEPT in a `catch` (generators, async functions) so that the RETURN from the same
 * `finally` is not reported too. */
let excepted = false
/** Where Stage.Rss puts the RSS it reads, so that the read is not optimised away. */
export let rssSink = 0

/**
 * One event of function (or site) `id`, in a stack of `count` frames (see `frames`): the top one
 * is the function itself for CALL, RETURN, EXCEPT, YIELD and RESUME, the one the site is in for
 * the others.
 */
function event(what: number, id: number, count: number): void {
  const n = floats[EVENTS] + 1
  floats[EVENTS] = n
  if (plain) {
    // The default (log, sampled RSS, no PREV rows), kept this small so that V8 inlines it.
    const pages = ints[RSS]
    const d = pages - refPages
    if (d >= triggerPages || -d >= triggerPages) passed(n, pages, id * 128 + what, count)
  } else if (stage !== Stage.Count) {
    otherEvent(what, id, n, count)
  }
}

/** The other settings: RSS read at every event, PREV rows, and the benchmark stages. */
function otherEvent(what: number, id: number, n: number, count: number): void {
  const pages = exact ? native.rssPages() || ints[RSS] : ints[RSS]
  if (stage === Stage.Rss) {
    rssSink = pages
    return
  }
  const d = pages - refPages
  if (d >= triggerPages || -d >= triggerPages) passed(n, pages, id * 128 + what, count)
  if (previous) {
    prevCode = id * 128 + what
    prevPages = pages
    prevCount = count
    prevTop = frames[count - 1]
    doubles[PREV_CLOCK] = floats[CLOCK]
  }
}

/** An event passed the filter: log it (and the one before it), and make it the reference. */
function passed(n: number, pages: number, code: number, count: number): void {
  if (previous && n - 1 > doubles[REF_EVENT]) {
    record(n - 1, doubles[PREV_CLOCK], prevPages, prevCode + PREV_ROW, stackOf(prevCount, prevTop))
  }
  if (stage === Stage.Log) record(n, floats[CLOCK], pages, code, stackOf(count, frames[count - 1]))
  refPages = pages
  doubles[REF_EVENT] = n
}

/** The id of the stack of `count` frames with `top` on top, in the log's table (or none). */
function stackOf(count: number, top: number): number {
  return stacks === null ? NO_STACK : stacks.intern(frames, count, top, defineStack)
}

/** A STCK record: stack `id` is stack `parent` with function `frame` on top. */
function defineStack(id: number, parent: number, frame: number): void {
  record(parent, 0, 0, frame * 128 + STACK_ROW, id)
}

/** Writes one record into the ring and publishes it. */
function record(eventNumber: number, clock: number, pages: number, code: number, stack: number): void {
  if (((head - tailSeen) | 0) >= capacity) waitForSpace()
  const at = RECORDS + (head & mask) * FIELDS
  floats[at] = eventNumber
  floats[at + 1] = clock
  floats[at + 2] = pages
  floats[at + 3] = code
  floats[at + 4] = stack
  head = (head + 1) | 0
  Atomics.store(ints, HEAD, head)
}

/** The ring looked full: see how far the writer got, and wait for it if need be. */
function waitForSpace(): void {
  tailSeen = Atomics.load(ints, TAIL)
  while (((head - tailSeen) | 0) >= capacity) {
    if (Atomics.load(ints, CLOSED) === 1) {
      // The log was ended under us (a signal): nothing more can be written.
      on = false
      tailSeen = head - capacity
      return
    }
    current!.waitForSpace()
    tailSeen = Atomics.load(ints, TAIL)
  }
}

/**
 * The shadow call stack: the ids of the instrumented functions running on this thread,
 * outermost first (suspended ones not counted), `depth` of them. Kept whether a profiler
 * records or not, so that one started deep in a program knows the stack it started in; only a
 * logged row copies it (see `stacks.ts`). A native call belongs to the function at the depth
 * where it was made.
 *
 * When the stack overflows, a RangeError can come from the hooks: where `depth` changes around
 * the event keeps it right when the event throws. CALL is reported before the function's
 * `try`, so a CALL that throws leaves `depth` as it was; the others are reported inside it, so
 * `depth` already counts their change as they report. A `finally` that cannot even call its
 * hook leaves a frame on: a function that never suspends holds the depth it was called at
 * (CALL returns it) and goes back to it as it exits (`leaveAt`), so its caller's exit puts the
 * stack right.
 */
let frames = new Int32Array(1024)
let depth = 0

/**
 * CALL; returns the function's `$mt$d`: four times the depth it was called at, to which its
 * code adds one at each normal completion (see `Piece::parts` in the instrumenter).
 */
function call(id: number): number {
  const d = depth
  if (d >= frames.length) frames = grown(frames, d * 2)
  frames[d] = id
  if (on) event(CALL, id, d + 1)
  depth = d + 1
  return d << 2
}

/** CALL of a function that suspends, which keeps no depth: returns its `$mt$s`, 0 (not suspended, not completed). */
function callSuspending(id: number): 0 {
  call(id)
  return 0
}

/** The `finally` of a function that never suspends (`state`: its `$mt$d`): RETURN, or EXCEPT when it did not complete. */
function leaveAt(id: number, state: number): void {
  const d = state >> 2
  if (open !== 0) unwind(d + 1)
  depth = d
  if (on) event((state & 3) === 0 ? EXCEPT : RETURN, id, d + 1)
}

function ret(id: number): void {
  if (excepted) {
    excepted = false
    return
  }
  const d = depth
  if (open !== 0) unwind(d)
  depth = d - 1
  if (on) event(RETURN, id, d)
}

/** EXCEPT from a `catch` that re-throws: the `finally` after it must not report RETURN. */
function except(id: number): void {
  excepted = true
  exceptFinally(id)
}

/** EXCEPT from a `finally` that knows the function did not complete normally. */
function exceptFinally(id: number): void {
  const d = depth
  if (open !== 0) unwind(d)
  depth = d - 1
  if (on) event(EXCEPT, id, d)
}

/** The `finally` of an async function (`state`: its `$mt$s`, two or more once it completed). */
function leave(id: number, state: number): void {
  if (state < 2) exceptFinally(id)
  else ret(id)
}

/** A value on its way (a `return`'s, an arrow's body's), given back as it is. */
function pass<T>(value: T): T {
  return value
}

/** A class field's initialiser has its value: RETURN, and the value. */
function fieldValue<T>(id: number, value: T): T {
  ret(id)
  return value
}

function suspend<T>(id: number, value: T): T {
  yieldFrame(id)
  return value
}

/** A function suspends: YIELD, its frame off the stack. */
function yieldFrame(id: number): void {
  const d = depth
  depth = d - 1
  if (on) event(YIELD, id, d)
}

function resume<T>(id: number, value: T): T {
  enter(id)
  return value
}

/** A function resumes: its frame goes back on the stack, then RESUME. */
function enter(id: number): void {
  const d = depth
  if (d >= frames.length) frames = grown(frames, d * 2)
  frames[d] = id
  depth = d + 1
  if (on) event(RESUME, id, d + 1)
}

/** A statement is about to run (code instrumented with MEMTRACE_LINES=1). */
function line(id: number): void {
  if (on && lines) event(LINE, id, depth)
}

/** RESUME reported from a `catch` or `finally` if the function was suspended (`state`, its `$mt$s`, is odd); returns its new `$mt$s`. */
function resumeAbruptly(id: number, state: number): number {
  if ((state & 1) !== 0) enter(id)
  return state & ~1
}

/*
 * Native calls (code instrumented with MEMTRACE_NATIVE_CALLS=1; see `Collector::call` in
 * `crates/core/src/instrument/collect.rs` for the code around a call). A call's callee is
 * looked at once per site and callee: it is native unless its source holds the CALL hook,
 * which every instrumented function's does. The native calls under way form a stack; one that
 * throws is taken off it, as C_EXCEPT, where its function goes on: at a `catch`, or as the
 * function returns or throws.
 */

/** Node's own `Function.prototype.toString`, taken before `source.ts` replaces it. */
const sourceOf = Function.prototype.toString
/** The CALL hooks: of a function that never suspends, and of one that does. */
const INSTRUMENTED = /__mt\$[bc]\(/
/**
 * What each callee seen is, held weakly: memtrace must keep nothing alive (a callee's closure
 * can hold the program's memory). NATIVE: not instrumented; CONSTRUCTOR: known to be one.
 */
const kinds = new WeakMap<object, number>()
const NATIVE = 1
const CONSTRUCTOR = 2
/** The native calls under way: site and depth of each. */
let nativeSites = new Int32Array(64)
let nativeDepths = new Int32Array(64)
let open = 0

/** Right before a call (its arguments evaluated) at `site` (`~site`: a `new`): C_CALL if `callee` is native. */
function nativeCall<T>(site: number, callee: unknown, value: T): T {
  beforeCall(site, callee, nativeCall)
  return value
}

/** {@link nativeCall} for a call without arguments: returns the callee. */
function nativeCallee(site: number, callee: unknown): unknown {
  beforeCall(site, callee, nativeCallee)
  return callee
}

/** `caller`: the hot-path function the instrumented code called, where a TypeError's stack starts. */
function beforeCall(site: number, callee: unknown, caller: Function): void {
  let kind = kinds.get(callee as object)
  if (kind === undefined || (site < 0 && kind < CONSTRUCTOR)) kind = lookAt(site, callee, caller)
  if (on && nativeCalls && (kind & NATIVE) !== 0) enterNative(site < 0 ? ~site : site)
}

/** Right after the call at `site`: C_RETURN if it was native. */
function nativeReturn<T>(site: number, value: T): T {
  if (open !== 0 && nativeDepths[open - 1] === depth) {
    if (nativeSites[open - 1] === site) {
      open--
      if (on) event(C_RETURN, site, depth)
    } else {
      returnTo(site)
    }
  }
  return value
}

/** At the start of a `catch`: the native calls of this function that threw. */
function caught(): void {
  if (open !== 0) unwind(depth)
}

function enterNative(site: number): void {
  if (open === nativeSites.length) {
    nativeSites = grown(nativeSites, open * 2)
    nativeDepths = grown(nativeDepths, open * 2)
  }
  nativeSites[open] = site
  nativeDepths[open] = depth
  open++
  event(C_CALL, site, depth)
}

/** C_EXCEPT for the native calls under way at `level` (the current function's depth) or deeper: they threw. */
function unwind(level: number): void {
  while (open !== 0 && nativeDepths[open - 1] >= level) {
    open--
    if (on) event(C_EXCEPT, nativeSites[open], depth)
  }
}

/** A call returned, but other native calls of its function are above it: they threw, and were caught where no `catch` of ours saw it. */
function returnTo(site: number): void {
  for (let i = open - 1; i >= 0 && nativeDepths[i] === depth; i--) {
    if (nativeSites[i] !== site) continue
    while (open - 1 > i) {
      open--
      if (on) event(C_EXCEPT, nativeSites[open], depth)
    }
    open--
    if (on) event(C_RETURN, site, depth)
    return
  }
}

/** memtrace's own API, and its classes' methods: calls of them are not the program's native calls. */
const OWN = new WeakSet<Function>()

export function ownCode(...functions: Function[]): void {
  for (const f of functions) {
    OWN.add(f)
    for (const holder of [f, f.prototype as object | undefined]) {
      if (holder == null) continue
      for (const key of Object.getOwnPropertyNames(holder)) {
        const { value, get, set } = Object.getOwnPropertyDescriptor(holder, key)!
        for (const method of [value, get, set]) if (typeof method === 'function' && method !== f) OWN.add(method)
      }
    }
  }
}

/** What `callee` is (see `kinds`), once per callee; throws what V8 would for one that cannot be called (`site < 0`: with `new`). */
function lookAt(site: number, callee: unknown, caller: Function): number {
  const isNew = site < 0
  if (typeof callee !== 'function' || (isNew && !isConstructor(callee))) throw notCallable(isNew ? ~site : site, isNew, caller)
  let kind = kinds.get(callee)
  if (kind === undefined) kind = OWN.has(callee) || INSTRUMENTED.test(sourceOf.call(callee)) ? 0 : NATIVE
  if (isNew) kind |= CONSTRUCTOR
  kinds.set(callee, kind)
  return kind
}

function grown<T extends Int32Array | Uint8Array>(array: T, length: number): T {
  const bigger = new (array.constructor as new (length: number) => T)(length)
  bigger.set(array)
  return bigger
}

/** Whether `f` can be called with `new`, found without calling it or reading any of its properties. */
function isConstructor(f: Function): boolean {
  try {
    Reflect.construct(new Proxy(f, { construct: () => ({}) }), [])
    return true
  } catch {
    return false
  }
}

/** The TypeError V8 throws for calling what is not a function: "o.m is not a function". */
function notCallable(site: number, isNew: boolean, caller: Function): TypeError {
  const name = (native.functionInfo(site)?.name ?? '(intermediate value)').replace(/^new /, '')
  const error = new TypeError(`${name} is not a ${isNew ? 'constructor' : 'function'}`)
  Error.captureStackTrace(error, caller)
  return error
}

/** `f.call(self, ...args)` through no property of `f`: a method called with its receiver. */
const callWith = Function.prototype.call.bind(Function.prototype.call)
const NO_ARGUMENTS: readonly never[] = Object.freeze([])

/**
 * `for await (x of iterable)`: the loop suspends inside its own machinery, right after calling
 * `next()` (or `return()` when it ends early). The wrapper reports YIELD there and sets the
 * function's `$mt$s`; everything else passes through to the iterable's own iterator, got at the
 * same moment the loop would have got it.
 */
function forAwait(id: number, iterable: unknown, suspended: () => void): object {
  const source = iterable as Record<symbol, () => object>
  const wrap = (iterator: Record<string, (...args: unknown[]) => unknown>) => {
    const next = iterator.next
    return {
      next(...args: unknown[]) {
        yieldFrame(id)
        suspended()
        return next.apply(iterator, args)
      },
      get return() {
        const close = iterator.return
        if (close === undefined || close === null) return close
        return (...args: unknown[]) => {
          yieldFrame(id)
          suspended()
          return close.apply(iterator, args)
        }
      },
    }
  }
  // An async iterable stays one; a sync one stays sync, so the loop still awaits its values.
  if (source != null && source[Symbol.asyncIterator] != null) {
    return { [Symbol.asyncIterator]: () => wrap(source[Symbol.asyncIterator]() as never) }
  }
  return { [Symbol.iterator]: () => wrap((source as Record<symbol, () => object>)[Symbol.iterator]() as never) }
}

const GLOBALS: Record<string, unknown> = {
  __mt$c: call,
  __mt$b: callSuspending,
  __mt$h: pass,
  __mt$r: ret,
  __mt$x: except,
  __mt$e: exceptFinally,
  __mt$w: leave,
  __mt$g: leaveAt,
  __mt$p: fieldValue,
  __mt$y: suspend,
  __mt$u: resume,
  __mt$k: resumeAbruptly,
  __mt$i: forAwait,
  __mt$l: line,
  __mt$n: nativeCall,
  __mt$f: nativeCallee,
  __mt$q: nativeReturn,
  __mt$z: caught,
  __mt$a: callWith,
  __mt$0: NO_ARGUMENTS,
}

/**
 * The profiler that records, as every realm reaches it (`__mt$start`): Jest evaluates a copy of
 * memtrace for each test file in a context of its own, whose instrumented code still calls this
 * copy's hot path, so a profiler started by that copy must be one of this copy's.
 */
export function shareStart(start: Function): void {
  GLOBALS.__mt$start = start
}

/**
 * Defines the hot-path functions on `global`, the global object of a realm whose code is
 * instrumented (once; not at all where it cannot be extended).
 */
export function defineGlobals(global: object): void {
  if (Object.prototype.hasOwnProperty.call(global, '__mt$c') || !Object.isExtensible(global)) return
  for (const [name, value] of Object.entries(GLOBALS)) {
    Object.defineProperty(global, name, { value, writable: false, enumerable: false, configurable: false })
  }
}

/** What this thread's code is instrumented with besides CALL and RETURN. */
const instrumented = { lines: false, nativeCalls: false }

/**
 * Defines the hot-path globals on this thread; `lines`, `nativeCalls`: its code reports
 * statements, native calls too.
 */
export function installGlobals(options: { lines: boolean; nativeCalls: boolean } = { lines: false, nativeCalls: false }): void {
  instrumented.lines ||= options.lines
  instrumented.nativeCalls ||= options.nativeCalls
  defineGlobals(globalThis)
}

/** Whether this thread's code reports LINE events (`MEMTRACE_LINES=1`). */
export function withLines(): boolean {
  return instrumented.lines
}

/** Whether this thread's code reports native calls (`MEMTRACE_NATIVE_CALLS=1`). */
export function withNativeCalls(): boolean {
  return instrumented.nativeCalls
}

export function globalsInstalled(): boolean {
  return (globalThis as Record<string, unknown>).__mt$c === call
}

/** Makes `recording` the one events go to (null: none), keeping the state of the one before. */
export function switchTo(recording: Recording | null): void {
  if (current) {
    current.saved = {
      head,
      tailSeen,
      refPages,
      refEvent: doubles[REF_EVENT],
      prevCode,
      prevPages,
      prevClock: doubles[PREV_CLOCK],
      prevCount,
      prevTop,
    }
  }
  current = recording
  on = recording !== null
  if (!recording) return
  ints = recording.ints
  floats = recording.floats
  capacity = recording.capacity
  mask = recording.capacity - 1
  stage = recording.stage
  triggerPages = recording.triggerPages
  previous = recording.previous
  exact = recording.exact
  lines = recording.lines
  nativeCalls = recording.nativeCalls
  stacks = recording.stacks
  plain = stage === Stage.Log && !exact && !previous
  const saved = recording.saved
  head = saved ? saved.head : Atomics.load(ints, HEAD)
  tailSeen = saved ? saved.tailSeen : Atomics.load(ints, TAIL)
  refPages = saved ? saved.refPages : 0
  doubles[REF_EVENT] = saved ? saved.refEvent : 0
  prevCode = saved ? saved.prevCode : 0
  prevPages = saved ? saved.prevPages : 0
  doubles[PREV_CLOCK] = saved ? saved.prevClock : 0
  prevCount = saved ? saved.prevCount : 0
  prevTop = saved ? saved.prevTop : 0
}

export function eventCount(recording: Recording): number {
  return recording.floats[EVENTS]
}

/** Writes the FRST row of the current recording (event 0) and makes it the filter's reference. */
export function writeFirst(siteId: number): void {
  const pages = exact ? native.rssPages() || ints[RSS] : ints[RSS]
  record(0, floats[CLOCK], pages, siteId * 128 + FIRST_ROW + LINE, stackOf(depth, frames[depth - 1]))
  refPages = pages
  doubles[REF_EVENT] = 0
}

/** Writes the LAST row of the current recording: one past the last event. */
export function writeLast(siteId: number): void {
  const pages = exact ? native.rssPages() || ints[RSS] : ints[RSS]
  record(floats[EVENTS] + 1, floats[CLOCK], pages, siteId * 128 + LAST_ROW + LINE, stackOf(depth, frames[depth - 1]))
}

/** Writes a MSG row at the current event (the text goes to the writer separately). */
export function writeMessage(): void {
  record(floats[EVENTS], floats[CLOCK], 0, MESSAGE_ROW + LINE, NO_STACK)
}
