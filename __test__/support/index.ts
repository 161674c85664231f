// What the tests share: paths, running real processes, and a strict reader of memtrace logs
// written independently of the Rust one (crates/core/src/format), so each checks the other.
import { spawn, spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process'
import { mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { pathToFileURL } from 'node:url'

export const root = join(import.meta.dirname, '..', '..')
export const fixtures = join(root, '__test__', 'fixtures')
export const registerPath = join(root, 'dist', 'register.js')
export const registerUrl = pathToFileURL(registerPath).href
export const cliPath = join(root, 'dist', 'cli', 'main.js')

export function tempDir(name: string): string {
  return mkdtempSync(join(tmpdir(), `memtrace-${name}-`))
}

export interface Ran {
  status: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

function ran(result: SpawnSyncReturns<string>): Ran {
  if (result.error) throw result.error
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr }
}

/** Runs `node …args` to the end. */
export function node(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string | Buffer } = {}): Ran {
  return ran(
    spawnSync(process.execPath, args, {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      input: options.input,
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    }),
  )
}

/** Runs `node --import memtrace/register …args`. */
export function traced(args: string[], options: Parameters<typeof node>[1] = {}): Ran {
  return node(['--import', registerUrl, ...args], options)
}

/** Runs the `memtrace` command. */
export function cli(args: string[], options: Parameters<typeof node>[1] = {}): Ran {
  return node([cliPath, ...args], options)
}

/** A process running in the background, with what it has printed so far. */
export interface Running {
  child: ChildProcess
  readonly stdout: string
  readonly stderr: string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>
}

/** Starts `command …args` in the background (default: `node …args`). */
export function spawned(args: string[], { env = {}, command = process.execPath }: { env?: NodeJS.ProcessEnv; command?: string } = {}): Running {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (chunk) => (stdout += chunk))
  child.stderr!.on('data', (chunk) => (stderr += chunk))
  const exited = new Promise<Awaited<Running['exited']>>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
  )
  return {
    child,
    get stdout() {
      return stdout
    },
    get stderr() {
      return stderr
    },
    exited,
  }
}

/**
 * Waits until `done()` holds, looking every 20 ms. Tests share a loaded two-core machine, so
 * they wait for states, never for lengths of time; the deadline only ends a wait that would
 * otherwise never end, and is generous.
 */
export async function until(what: string, done: () => boolean, seconds = 60): Promise<void> {
  const deadline = Date.now() + seconds * 1000
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`gave up after ${seconds} s waiting for ${what}`)
    await sleep(20)
  }
}

/** Starts `node …args`, resolving once its stdout has printed `line`. */
export async function started(args: string[], line: string, env: NodeJS.ProcessEnv = {}): Promise<Running> {
  const running = spawned(args, { env })
  let exited = false
  void running.exited.then(() => (exited = true))
  await until(`${line} from node ${args.join(' ')}`, () => {
    if (running.stdout.includes(line)) return true
    if (exited) throw new Error(`exited before printing ${line}: ${running.stderr}`)
    return false
  })
  return running
}

/** The logs in `dir`: profiler logs (`.log`), or monitor logs with `extension` `.jsonl`. */
export function logsIn(dir: string, extension = '.log'): string[] {
  return readdirSync(dir)
    .filter((name) => name.endsWith(extension))
    .sort()
    .map((name) => join(dir, name))
}

export const WHATS = ['CALL', 'RETURN', 'EXCEPT', 'YIELD', 'RESUME', 'C_CALL', 'C_RETURN', 'C_EXCEPT', 'LINE', 'GC']

export interface EventRow {
  kind: 'FRST' | 'NEXT' | 'PREV' | 'LAST'
  event: number
  dEvent: number
  clock: number
  what: string
  file: string
  line: number
  func: string
  rss: number
  dRss: number
  /** The stack it happened in (logs with stacks), defined by a STCK row above it. */
  stack: number | null
}

export interface MessageRow {
  kind: 'MSG'
  event: number
  dEvent: number
  clock: number
  text: string
}

/** V8's heap after a garbage collection (logs made with `gc`). */
export interface HeapRow {
  kind: 'HEAP'
  event: number
  dEvent: number
  clock: number
  used: number
  total: number
  external: number
  /** Part of external: ArrayBuffers' bytes, where the runtime let them be read. */
  arrayBuffers: number | null
}

export type Row = EventRow | MessageRow | HeapRow

/** A STCK row: stack `id` is stack `parent` with `func` called on top. */
export interface StackDef {
  parent: number
  file: string
  line: number
  func: string
}

export interface Log {
  message: string | null
  rows: Row[]
  complete: boolean
  /** The stacks its STCK rows define, by id (0, the empty stack, is not among them). */
  stacks: Map<number, StackDef>
}

/** The functions of stack `id`, outermost first. */
export function framesOf(log: Log, id: number | null): string[] {
  const frames: string[] = []
  for (let at = id ?? 0; at !== 0; at = log.stacks.get(at)!.parent) frames.push(log.stacks.get(at)!.func)
  return frames.reverse()
}

/** The width of a row whose values all fit their columns: `%-12u +%-6d %-12.6f %-8s %-80s#%4d %-32s %12u %12d`. */
export const ROW_WIDTH = 6 + 13 + 8 + 13 + 9 + 80 + 5 + 1 + 33 + 12 + 1 + 12

const EVENT_ROW =
  /^(FRST|NEXT|PREV|LAST): (\d+) +\+(\d+) +(\d+\.\d{6}) +([A-Z_]+) +(.*?) *#( *\d+) (.*?) +(\d+) +(-?\d+)(?: @(\d+))?$/
const STACK_ROW = /^STCK: @(\d+) +@(\d+) +(.*?) *#( *\d+) (.*)$/
const MESSAGE_ROW = /^MSG: {2}(\d+) +\+(\d+) +(\d+\.\d{6}) +#(?: (.*))?$/
const HEAP_ROW = /^HEAP: (\d+) +\+(\d+) +(\d+\.\d{6}) +# used (\d+) total (\d+) external (\d+)(?: arrayBuffers (\d+))?$/

/** User text as the log writes it (see crates/core/src/format/text.rs), back to the string it was. */
export function unescapeText(text: string): string {
  return text.replace(/\\(?:u([0-9A-F]{4})|([\\nrt]))|\\/g, (_escape, hex: string | undefined, short: string | undefined) => {
    if (hex) return String.fromCharCode(parseInt(hex, 16))
    if (short) return { '\\': '\\', n: '\n', r: '\r', t: '\t' }[short]!
    throw new Error(`a broken escape in ${JSON.stringify(text)}`)
  })
}

/**
 * Reads a log strictly: `[message] SOF HEDR STCK* FRST (NEXT|PREV|MSG|HEAP|STCK)* LAST EOF`, every
 * row in its exact format, fixed-width where the values fit; a stack defined once, before the
 * first row that names it, on a stack defined before it; rows all with a stack or all without. A log cut short (no LAST/EOF) is accepted
 * only with `allowIncomplete`, and then every line it has must still be whole.
 */
export function parseLog(text: string, { allowIncomplete = false } = {}): Log {
  if (!text.endsWith('\n')) throw new Error('the log does not end with a line break: its last line is torn')
  // Rows may end in spaces, which keep every row within one page of the file.
  const lines = text.slice(0, -1).split('\n').map((line) => line.trimEnd())
  let at = 0
  let message: string | null = null
  if (lines[0] !== 'SOF') message = unescapeText(lines[at++])
  const expect = (ok: boolean, what: string) => {
    if (!ok) throw new Error(`line ${at + 1}: ${what}: ${JSON.stringify(lines[at])}`)
  }
  expect(lines[at] === 'SOF', 'expected SOF')
  at++
  expect(lines[at]?.startsWith('HEDR: Event        dEvent  Clock        What     File') && lines[at].length === ROW_WIDTH, 'expected the HEDR row')
  at++
  const rows: Row[] = []
  let complete = false
  let events = 0
  let ended = false
  const stacks = new Map<number, StackDef>()
  let withStacks: boolean | null = null
  for (; at < lines.length; at++) {
    const line = lines[at]
    if (line === 'EOF') {
      expect(at === lines.length - 1, 'EOF must be the last line')
      expect(rows.at(-1)?.kind === 'LAST', 'EOF must follow LAST')
      complete = true
      break
    }
    const m = MESSAGE_ROW.exec(line)
    if (m) {
      rows.push({ kind: 'MSG', event: Number(m[1]), dEvent: Number(m[2]), clock: Number(m[3]), text: unescapeText(m[4] ?? '') })
      continue
    }
    const h = HEAP_ROW.exec(line)
    if (h) {
      expect(events > 0 && !ended, 'a HEAP row comes between FRST and LAST')
      const [event, dEvent, clock, used, total, external] = h.slice(1, 7).map(Number)
      rows.push({ kind: 'HEAP', event, dEvent, clock, used, total, external, arrayBuffers: h[7] === undefined ? null : Number(h[7]) })
      continue
    }
    const st = STACK_ROW.exec(line)
    if (st) {
      const [id, parent] = [Number(st[1]), Number(st[2])]
      expect(id !== 0 && !stacks.has(id), 'a stack is defined once, and @0 is the empty one')
      expect(parent === 0 || stacks.has(parent), 'a stack\'s parent is defined before it')
      expect(!ended, 'nothing but EOF follows LAST')
      stacks.set(id, { parent, file: st[3], line: Number(st[4]), func: st[5] })
      continue
    }
    const e = EVENT_ROW.exec(line)
    expect(e !== null, 'not a row')
    const row: EventRow = {
      kind: e![1] as EventRow['kind'],
      event: Number(e![2]),
      dEvent: Number(e![3]),
      clock: Number(e![4]),
      what: e![5],
      file: e![6],
      line: Number(e![7]),
      func: e![8],
      rss: Number(e![9]),
      dRss: Number(e![10]),
      stack: e![11] === undefined ? null : Number(e![11]),
    }
    if (row.what === 'GC') {
      expect(row.stack === null, 'a GC row names no stack')
    } else if (row.file.startsWith('<') && row.line === 0) {
      // A LAST row at a place that is no file: <exit> names its stack, the writer's own at a
      // signal or after a terminated thread (<signal>, <terminated>) cannot.
    } else {
      withStacks ??= row.stack !== null
      expect(withStacks === (row.stack !== null), 'rows all name a stack, or none does')
    }
    expect(row.stack === null || row.stack === 0 || stacks.has(row.stack), 'a row names a stack defined above it')
    expect(WHATS.includes(row.what), 'unknown What')
    const fits =
      row.event < 1e12 &&
      row.dEvent < 1e6 &&
      Buffer.byteLength(row.file) <= 80 &&
      row.line < 1e4 &&
      Buffer.byteLength(row.func) <= 32 &&
      row.rss < 1e12
    // Widths are in bytes, as printf pads.
    const width = ROW_WIDTH + (row.stack === null ? 0 : ` @${row.stack}`.length)
    expect(!fits || Buffer.byteLength(line) === width, `a row of fitting values must be ${width} bytes wide`)
    expect((row.kind === 'FRST') === (events === 0), 'FRST comes first, once')
    expect(!ended, 'nothing but EOF follows LAST')
    events++
    ended = row.kind === 'LAST'
    rows.push(row)
  }
  if (!allowIncomplete) expect(complete, 'the log has no EOF')
  return { message, rows, complete, stacks }
}

export const eventRows = (log: Log) => log.rows.filter((r): r is EventRow => r.kind !== 'MSG' && r.kind !== 'HEAP')

/** What is wrong with the arithmetic of the rows (what the seed's format promises); [] if nothing. */
export function arithmetic(log: Log, trigger: number): string[] {
  const problems: string[] = []
  const fail = (what: string) => problems.length < 10 && problems.push(what)
  let refEvent = 0
  let refRss = 0
  let lastEvent = -1
  log.rows.forEach((row, i) => {
    const at = `row ${i} (${row.kind} ${row.event})`
    if (row.event < lastEvent) fail(`${at}: event number went back`)
    lastEvent = row.event
    if (row.dEvent !== row.event - refEvent) fail(`${at}: dEvent ${row.dEvent}, expected ${row.event - refEvent}`)
    if (row.kind === 'MSG' || row.kind === 'HEAP') return
    if (row.what === 'GC') {
      // What RSS moved during the collection: no reference for the rows after it.
      if (Math.abs(row.dRss) < trigger) fail(`${at}: a GC row that moved only ${row.dRss}`)
      return
    }
    if (row.kind === 'FRST' && (row.event !== 0 || row.dRss !== row.rss)) fail(`${at}: FRST must be event 0 with dRSS = RSS`)
    if (row.kind !== 'FRST' && row.dRss !== row.rss - refRss) fail(`${at}: dRSS ${row.dRss}, expected ${row.rss - refRss}`)
    if (row.kind === 'NEXT' && Math.abs(row.dRss) < trigger) fail(`${at}: a NEXT row that moved only ${row.dRss}`)
    if (row.kind === 'PREV') {
      const next = log.rows[i + 1]
      if (next?.kind !== 'NEXT' || row.event !== next.event - 1) fail(`${at}: not the event just before a NEXT`)
      if (row.event <= refEvent) fail(`${at}: a PREV for an event already logged`)
      if (trigger > 0 && Math.abs(row.dRss) >= trigger) fail(`${at}: a PREV row that passed the filter itself`)
    }
    if (row.kind === 'FRST' || row.kind === 'NEXT') {
      refEvent = row.event
      refRss = row.rss
    }
  })
  return problems
}
