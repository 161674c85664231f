/**
 * From a log to a `ReportModel`: a monitor's JSON Lines, or a profiler's log (text, or binary,
 * which the native reader reads as its text). The kind is told by the first line. Both are read streaming; a line that is not what it should be is an
 * error naming the line.
 */
import { closeSync, createReadStream, openSync, readSync } from 'node:fs'
import { basename } from 'node:path'

import { native } from '../native.js'
import { count, formatBytes } from './appearance.js'
import { describeHeapGrowth, growthTables, heapGrowth, named, where } from './growth.js'
import type { Annotation, Chart, Flame, Marker, ReportModel, Series } from './model.js'
import type { HeapReport } from './heapprofile.js'
import { byStack, flameTree, heapFlames, stackCells } from './stacks.js'

/** A log that cannot be read: the message names the file and, where it applies, the line. */
export class LogError extends Error {}

/**
 * Reads the profiler log in `file`, whose name for the user is `path`; a LogError if it cannot.
 * With `stopAtRss`, only up to the first row whose RSS reaches it.
 */
export function readProfileLog(file: string, path = file, stopAtRss?: number): ReturnType<typeof native.readLog> {
  try {
    return native.readLog(file, path, stopAtRss)
  } catch (error) {
    throw new LogError((error as Error).message)
  }
}

export type LogKind = 'monitor' | 'profile' | 'heap'

/** Whether a file whose first bytes are `start` is a binary profiler log. */
export function isBinaryLog(start: Buffer): boolean {
  return start.toString('latin1', 0, native.BINARY_LOG_SIGNATURE.length) === native.BINARY_LOG_SIGNATURE
}

/** Most points a chart gets; longer runs keep the highest sample of each stretch. */
const MAX_POINTS = 20_000
/** The largest jumps of a profile, annotated on its chart by function. */
export const JUMPS_SHOWN = 5

/** What kind of log `file` is (`path` to the user), from its first line. */
export function logKind(file: string, path = file): LogKind {
  let first: string
  let second: string | undefined
  try {
    const fd = openSync(file, 'r')
    const buffer = Buffer.alloc(4096)
    const read = readSync(fd, buffer, 0, buffer.length, 0)
    closeSync(fd)
    if (isBinaryLog(buffer.subarray(0, read))) return 'profile'
    ;[first, second] = buffer.toString('utf8', 0, read).split('\n')
  } catch (error) {
    const reasons: Record<string, string> = {
      ENOENT: 'no such file or directory',
      EACCES: 'permission denied',
      EISDIR: 'it is a directory',
    }
    const code = (error as NodeJS.ErrnoException).code ?? ''
    throw new LogError(`cannot open ${path}: ${reasons[code] ?? (error as Error).message}`)
  }
  // A profiler log starts with SOF, or with the user's message line and then SOF.
  if (first.trimEnd() === 'SOF' || second?.trimEnd() === 'SOF') return 'profile'
  if (first.startsWith('{')) {
    if (first.includes('"format":"memtrace-monitor"')) return 'monitor'
    // V8's sampling heap profile, as heap mode writes it and DevTools saves it.
    if (first.startsWith('{"head":')) return 'heap'
    throw new LogError(`${path} is not a readable memtrace log: line 1: a JSON header that is not a memtrace monitor's`)
  }
  return 'profile'
}

interface SampleRow {
  type: 'sample'
  t: number
  rss: number
  heap?: { used: number; total: number; external: number; arrayBuffers: number }
  processes?: { pid: number; ppid: number; rss: number; name: string }[]
}

interface MarkRow {
  type: 'mark'
  t: number
  label: string
  rss: number
}

interface EndRow {
  type: 'end'
  t: number
  exitCode: number | null
  signal: string | null
}

type Header = Record<string, unknown> & { watched?: string; pid?: number; command?: string[] | null; intervalMs?: number }

const isNumber = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value)

/** The longest line a log may have; longer is garbage, as in `crates/core/src/report.rs`. */
const MAX_LINE = 1 << 20

/** Where a log stops being a log before its end, and why. */
export interface Damage {
  line: number
  reason: string
}

/**
 * The lines of `path`, streaming, each at most MAX_LINE bytes. Yields `{ damage }` instead of
 * a line that is garbage (too long, or holding NUL bytes, as a file does where a crash cut it
 * short), and stops there.
 */
async function* lines(path: string): AsyncGenerator<{ text: string; ended: boolean } | { damage: string }> {
  let pending: Buffer[] = []
  let length = 0
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 16 }) as AsyncIterable<Buffer>) {
    let start = 0
    for (let at = chunk.indexOf(10); ; at = chunk.indexOf(10, start)) {
      const end = at < 0 ? chunk.length : at
      const piece = chunk.subarray(start, end)
      if (piece.includes(0)) return yield { damage: 'holds NUL bytes, as a file does where a crash cut it short' }
      if (length + piece.length > MAX_LINE) return yield { damage: `is longer than ${MAX_LINE >> 20} MiB: not a row of a log` }
      if (at < 0) {
        pending.push(piece)
        length += piece.length
        break
      }
      yield { text: Buffer.concat([...pending, piece]).toString('utf8'), ended: true }
      pending = []
      length = 0
      start = at + 1
    }
  }
  if (length > 0) yield { text: Buffer.concat(pending).toString('utf8'), ended: false }
}

/**
 * Reads a monitor log, checking each row. A log damaged after its header is read up to the
 * damage, which is returned; one whose header is damaged is an error.
 */
export async function readMonitorLog(file: string, path = file) {
  let header: Header | null = null
  const samples: SampleRow[] = []
  const marks: MarkRow[] = []
  let end: EndRow | null = null
  let damage: Damage | null = null
  const errors: string[] = []
  let number = 0
  for await (const line of lines(file)) {
    number++
    const problem = (() => {
      if ('damage' in line) return line.damage
      if (line.text.trim() === '') return null
      let row: Record<string, unknown>
      try {
        row = JSON.parse(line.text)
      } catch {
        return line.ended ? 'not JSON' : 'the line is cut short (was the file truncated?)'
      }
      if (row === null || typeof row !== 'object' || Array.isArray(row)) return 'not a JSON object'
      if (end) return 'a row after the end row'
      if (number === 1) {
        if (row.type !== 'header' || row.format !== 'memtrace-monitor') return 'the first row must be the header of a memtrace monitor log'
        header = row as Header
        return null
      }
      if (!isNumber(row.t)) return '"t" must be a number of seconds'
      switch (row.type) {
        case 'sample':
          if (!isNumber(row.rss)) return 'a sample needs "rss", a number of bytes'
          if (row.processes !== undefined && !Array.isArray(row.processes)) return '"processes" must be a list'
          samples.push(row as unknown as SampleRow)
          return null
        case 'mark':
          if (typeof row.label !== 'string') return 'a mark needs a "label"'
          marks.push(row as unknown as MarkRow)
          return null
        case 'end':
          end = row as unknown as EndRow
          return null
        case 'error':
          // The monitor could not read RSS for a while: samples are missing, and this says why.
          if (typeof row.message !== 'string') return 'an error row needs a "message"'
          errors.push(row.message)
          return null
        default:
          return `unknown row type ${JSON.stringify(row.type)}`
      }
    })()
    if (problem === null) continue
    if (!header) throw new LogError(`${path} is not a readable memtrace log: line ${number}: ${problem}`)
    damage = { line: number, reason: problem }
    break
  }
  if (!header) throw new LogError(`${path} is not a readable memtrace log: it is empty`)
  return { header: header as Header, samples: thin(samples), marks, end: end as EndRow | null, damage, errors }
}

/** At most MAX_POINTS samples: of each stretch, the one with the highest total. */
function thin(samples: SampleRow[]): SampleRow[] {
  if (samples.length <= MAX_POINTS) return samples
  const stride = Math.ceil(samples.length / MAX_POINTS)
  const kept: SampleRow[] = []
  for (let i = 0; i < samples.length; i += stride) {
    kept.push(samples.slice(i, i + stride).reduce((best, s) => (s.rss > best.rss ? s : best)))
  }
  return kept
}

function peakOf(times: number[], values: (number | null)[], label: (i: number) => string): Annotation | null {
  let best = -1
  values.forEach((v, i) => {
    if (v != null && (best < 0 || v > (values[best] as number))) best = i
  })
  return best < 0 ? null : { time: times[best], value: values[best] as number, label: label(best) }
}

/** The report of the monitor log `file` (`path` to the user). */
export async function monitorModel(file: string, path = file): Promise<ReportModel> {
  const { header, samples, marks, end, damage, errors } = await readMonitorLog(file, path)
  const times = samples.map((s) => s.t)
  const total: Series = { name: header.watched === 'tree' ? 'total RSS' : 'RSS', values: samples.map((s) => s.rss) }
  const series = [total]
  const names = new Map<number, string>()
  for (const s of samples) for (const p of s.processes ?? []) if (!names.has(p.pid)) names.set(p.pid, p.name)
  const peaks = new Map<number, number>()
  if (names.size > 1) {
    for (const [pid, name] of names) {
      const values = samples.map((s) => s.processes?.find((p) => p.pid === pid)?.rss ?? null)
      peaks.set(pid, Math.max(...values.map((v) => v ?? 0)))
      series.push({ name: `pid ${pid} ${name}`.slice(0, 60), values, secondary: true })
    }
  }
  const markers: Marker[] = marks.map((m) => ({ time: m.t, label: m.label }))
  const charts: Chart[] = [
    {
      title: header.watched === 'tree' ? `RSS of process ${header.pid} and its descendants` : `RSS of process ${header.pid}`,
      times,
      series,
      markers,
      peak: peakOf(times, total.values, (i) =>
        samples[i].processes ? `${samples[i].processes!.length} process${samples[i].processes!.length === 1 ? '' : 'es'}` : `sample ${i + 1} of ${samples.length}`,
      ),
      annotations: [],
    },
  ]
  if (samples.some((s) => s.heap)) {
    const heap = (pick: (h: NonNullable<SampleRow['heap']>) => number) => samples.map((s) => (s.heap ? pick(s.heap) : null))
    charts.push({
      title: 'V8 heap',
      times,
      series: [
        { name: 'heapUsed', values: heap((h) => h.used) },
        { name: 'heapTotal', values: heap((h) => h.total) },
        { name: 'external', values: heap((h) => h.external), secondary: true },
        { name: 'arrayBuffers', values: heap((h) => h.arrayBuffers), secondary: true },
      ],
      markers,
      peak: null,
      annotations: [],
    })
  }
  const facts: [string, string][] = [
    ['Log', path],
    ['Watched', header.watched === 'tree' ? `process ${header.pid} and its descendants` : `process ${header.pid}`],
  ]
  if (Array.isArray(header.command)) facts.push(['Command', header.command.join(' ')])
  if (typeof header.message === 'string') facts.push(['Message', header.message])
  facts.push(['Started', String(header.start)], ['Interval', `${header.intervalMs} ms`], ['Samples', String(samples.length)])
  facts.push(['Ended', end ? (end.signal ? `by ${end.signal}` : end.exitCode != null ? `exit code ${end.exitCode}` : 'stopped') : 'no end row: the monitor did not finish the log'])
  if (damage) facts.push(['Damaged', `at line ${damage.line}: ${damage.reason}; the report covers the rows above it`])
  for (const error of errors) facts.push(['Error', error])
  const versions = header.versions as Record<string, string> | undefined
  if (versions) facts.push(['Versions', Object.entries(versions).map(([k, v]) => `${k} ${v}`).join(', ')])
  const tables =
    names.size > 1
      ? [
          {
            title: 'Processes',
            columns: ['pid', 'command', 'peak RSS'],
            rows: [...names].map(([pid, name]) => [String(pid), name, formatBytes(peaks.get(pid) ?? 0)]),
          },
        ]
      : []
  return { title: `memtrace monitor: ${header.watched === 'tree' ? `process tree of ${header.pid}` : `process ${header.pid}`}`, facts, charts, tables }
}

/**
 * The report of the profiler log `file` (`path` to the user): RSS against the clock, the largest
 * jumps by function, and the tables of growth.
 */
export function profileModel(file: string, path = file, top = 20, heapProfile: HeapReport | null = null): ReportModel {
  let log: ReturnType<typeof native.readLog>
  try {
    log = native.readLog(file, path)
  } catch (error) {
    throw new LogError((error as Error).message)
  }
  // On the chart, where space is short: the file's name, not its path.
  const short = (p: { function: string; file: string; line: number }) => `${p.function} (${basename(p.file)}:${p.line})`
  const chart: Chart = {
    title: 'RSS at the logged events',
    times: log.timelineClock,
    series: [{ name: 'RSS', values: log.timelineRss }],
    // The garbage collections that moved RSS most (GC rows, logged with `gc`).
    markers: log.collections.map((c) => ({ time: c.clock, label: `${c.kind} ${c.dRss > 0 ? '+' : ''}${formatBytes(c.dRss)}` })),
    peak: log.peakAt && log.peakRss != null ? { time: log.peakAt.clock, value: log.peakRss, label: short(log.peakAt) } : null,
    annotations: log.jumps.slice(0, JUMPS_SHOWN).map((jump) => ({
      time: jump.place.clock,
      value: jump.rss,
      label: `${jump.place.function} ${jump.dRss > 0 ? '+' : ''}${formatBytes(jump.dRss)}`,
    })),
  }
  const charts = [chart]
  if (log.heapClock.length > 0) {
    charts.push({
      title: 'V8 heap after each collection',
      times: log.heapClock,
      series: [
        { name: 'heapUsed', values: log.heapUsed },
        { name: 'heapTotal', values: log.heapTotal },
        { name: 'external', values: log.heapExternal, secondary: true },
        ...(log.heapArrayBuffers ? [{ name: 'arrayBuffers', values: log.heapArrayBuffers, secondary: true }] : []),
      ],
      markers: [],
      peak: null,
      annotations: [],
    })
  }
  const { byGrowth, byPackage, byLine } = growthTables(log, top)
  const facts: [string, string][] = [['Log', path]]
  if (log.message) facts.push(['Message', log.message])
  facts.push(
    ['Events', count(log.events)],
    ['Rows logged', count(log.rows)],
    ['Duration', `${log.duration.toFixed(3)} s`],
    ['Complete', log.complete ? 'yes' : 'no: the log has no EOF; the process ended before it was finished'],
    ...(log.damage ? [['Damaged', `at line ${log.damage.line}: ${log.damage.reason}; the report covers the rows above it`] as [string, string]] : []),
  )
  const heap = heapGrowth(log)
  if (heap) facts.push(['V8 heap', describeHeapGrowth(heap, formatBytes)])
  const flames: Flame[] = []
  const growth = log.stacks ? flameTree(log.stacks) : null
  if (growth && growth.value > 0) {
    const hint = 'Each frame is as wide as the memory grown in it and in what it called, callers below callees.'
    flames.push({ title: 'RSS growth by call stack', hint, root: growth, marks: true })
  }
  if (heapProfile) flames.push(...heapFlames(heapProfile))
  return {
    title: 'memtrace profile',
    facts,
    charts,
    flames,
    tables: [
      {
        title: 'Functions by RSS growth',
        columns: ['function', 'where', 'rows', 'growth', 'release'],
        rows: byGrowth.map((f) => [
          named(f),
          where(f),
          String(f.rows),
          `+${formatBytes(f.growth)}`,
          f.release ? `-${formatBytes(f.release)}` : '0',
        ]),
      },
      ...(byLine.length > 0
        ? [
            {
              title: 'Lines by RSS growth',
              columns: ['where', 'function', 'rows', 'growth', 'line'],
              rows: byLine.map((l) => [`${l.file}:${l.line}`, named(l), String(l.rows), `+${formatBytes(l.growth)}`, l.text]),
            },
          ]
        : []),
      {
        title: 'Packages by RSS growth',
        columns: ['package', 'functions', 'growth', 'release'],
        rows: byPackage.map((p) => [p.package, String(p.functions), `+${formatBytes(p.growth)}`, p.release ? `-${formatBytes(p.release)}` : '0']),
      },
    ],
  }
}

/** What a heap profile alone shows: its live (and collected) allocations as flame graphs and tables by stack. */
export function heapModel(path: string, heap: HeapReport, top = 20): ReportModel {
  return {
    title: 'memtrace heap profile',
    facts: [
      ['Heap profile', path],
      ['Samples alive', String(heap.samples)],
      ['JavaScript objects alive', formatBytes(heap.bytes)],
      ...(heap.collected ? [['Collected before the end', `${heap.collected.samples} samples, ${formatBytes(heap.collected.bytes)}`] as [string, string]] : []),
    ],
    charts: [],
    flames: heapFlames(heap),
    tables: [
      { title: 'Stacks by live allocations', allocations: heap },
      ...(heap.collected ? [{ title: 'Stacks by collected allocations', allocations: heap.collected }] : []),
    ].map(({ title, allocations }) => ({
      title,
      columns: ['function', 'where', 'called from', 'samples', 'bytes'],
      rows: byStack(allocations.stacks, top).map((s) => [...stackCells(s), String(s.rows), formatBytes(s.growth)]),
    })),
  }
}
