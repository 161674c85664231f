/**
 * The text forms of a report: what `memtrace report` prints for a profiler log, a monitor log or
 * several logs joined, and the one line per log that `memtrace run` ends with.
 */
import { bytes, count, counted } from './appearance.js'
import { AT_ENTRY_NOTE, describeHeapGrowth, GC_NOTE, growthTables, heapGrowth, named, placeOf, where, type LogReport, type Totals } from './growth.js'
import { SHARED_RSS_NOTE, threadName, type Joined, type Thread, type ThreadTotals } from './joined.js'
import { readMonitorLog, type Damage } from './logs.js'
import { MEMTRACE, type Allocations, type HeapReport } from './heapprofile.js'
import { byStack, type StackRow } from './stacks.js'

/** The line that says a log is damaged, and what the report covers. */
const damaged = (damage: Damage) =>
  `DAMAGED at line ${damage.line}: ${damage.reason}; this report covers the rows above it`

/** What a monitor log says: a summary as text, or as JSON. */
export async function monitorText(file: string, path: string, json: boolean): Promise<{ text: string; damage: Damage | null }> {
  const { header, samples, marks, end, damage, errors } = await readMonitorLog(file)
  const peak = samples.reduce((best, s) => (best && best.rss >= s.rss ? best : s), samples[0])
  const pids = new Set(samples.flatMap((s) => (s.processes ?? []).map((p) => p.pid)))
  const summary = {
    path,
    watched: header.watched,
    pid: header.pid,
    samples: samples.length,
    duration: samples.length ? samples[samples.length - 1].t : 0,
    peakRss: peak?.rss ?? null,
    peakAt: peak?.t ?? null,
    processes: pids.size,
    marks: marks.map((m) => ({ t: m.t, label: m.label, rss: m.rss })),
    complete: end !== null,
    exitCode: end?.exitCode ?? null,
    errors,
    damage,
  }
  if (json) return { text: JSON.stringify(summary, null, 2), damage }
  const lines = [
    path,
    `  ${counted(summary.samples, 'sample')} over ${summary.duration.toFixed(1)} s` + (summary.complete ? '' : ' (INCOMPLETE: no end row)'),
  ]
  if (peak) lines.push(`  peak RSS ${bytes(peak.rss)} at ${peak.t.toFixed(2)} s`)
  if (pids.size > 0) lines.push(`  ${counted(pids.size, 'process', 'processes')}`)
  for (const mark of marks) lines.push(`  mark at ${mark.t.toFixed(2)} s: ${mark.label} (RSS ${bytes(mark.rss)})`)
  for (const error of errors) lines.push(`  error: ${error}`)
  if (damage) lines.push(`  ${damaged(damage)}`)
  return { text: lines.join('\n'), damage }
}

/** One line about a log, as `memtrace run` prints at exit; `failure`: why its process could not finish it. */
export function summaryLine(path: string, report: LogReport, failure?: string): string {
  const parts = [`${count(report.events)} events`, `${count(report.rows)} rows logged`]
  if (report.peakRss != null && report.peakAt) parts.push(`peak RSS ${bytes(report.peakRss)} at ${placeOf(report.peakAt)}`)
  const top = report.functions[0]
  if (top && top.growth > 0) parts.push(`largest growth ${bytes(top.growth, true)} in ${named(top)} (${where(top)})`)
  if (failure) parts.push(`INCOMPLETE: ${failure}`)
  else if (report.damage) parts.push(damaged(report.damage))
  else if (!report.complete) parts.push('INCOMPLETE: the log has no EOF, the process ended before it was finished')
  return `${path}: ${parts.join(', ')}`
}

/** What a heap profile holds, in words: its samples still alive and the bytes they stand for. */
const alive = (heap: HeapReport) => `${counted(heap.samples, 'sample')} of JavaScript objects still alive, about ${bytes(heap.bytes)}`

/** Where most of `allocations` were made, as `, most allocated in f (file:line)`. */
function mostIn(allocations: Allocations): string {
  const stacks = byStack(allocations.stacks, Infinity)
  const most = stacks.find((stack) => stack.frames[0]?.name !== MEMTRACE)?.frames.at(-1)
  return most ? `, most allocated in ${most.name} (${where(most)})` : ''
}

/** One line about a heap profile: what is alive in it and which stack holds most, and what was collected. */
export function heapSummaryLine(path: string, heap: HeapReport): string {
  const { collected } = heap
  return (
    `${path}: ${alive(heap)}${mostIn(heap)}` +
    (collected ? `; ${counted(collected.samples, 'sample')} of objects collected before the end, about ${bytes(collected.bytes)}${mostIn(collected)}` : '') +
    (heap.memtrace.samples > 0 ? `; memtrace's own, apart: about ${bytes(heap.memtrace.bytes)}` : '')
  )
}

/** A text table: `columns` over `rows` of cells, numbers right-aligned, the last column free. */
export function table(title: string, columns: string[], rows: string[][], numeric: number): string[] {
  if (rows.length === 0) return [`${title}: none`]
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i].length)))
  const line = (cells: string[]) =>
    `  ${cells.map((cell, i) => (i === cells.length - 1 ? cell : i < numeric ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join('  ')}`.trimEnd()
  return [`${title}:`, line(columns), ...rows.map(line)]
}

/** A profiler log as text; `heap`: the heap profile written beside it, if there is one. */
export function renderReport(path: string, report: LogReport, top: number, heapProfile: { path: string; report: HeapReport } | null = null): string {
  const lines = [path]
  if (report.message) lines.push(`  message: ${report.message}`)
  lines.push(
    `  ${count(report.events)} events, ${count(report.rows)} rows logged, ${report.duration.toFixed(3)} s` +
      (report.complete || report.damage ? '' : ' (INCOMPLETE: no EOF; the process ended before the log was finished)'),
  )
  if (report.damage) lines.push(`  ${damaged(report.damage)}`)
  if (report.peakRss != null && report.peakAt) {
    const at = report.peakAt
    lines.push(`  peak RSS ${bytes(report.peakRss)} at event ${count(at.event)} (${at.clock.toFixed(6)} s): ${placeOf(at)}`)
  }
  const heap = heapGrowth(report)
  if (heap) lines.push(`  ${describeHeapGrowth(heap, bytes)}`)
  const { byGrowth, byRelease, byPackage, byLine } = growthTables(report, top)
  const functionRow = (value: number, sign: string, t: Totals) => [`${sign}${bytes(value)}`, count(t.rows), named(t), where(t)]
  const columns = ['bytes', 'rows', 'function', 'where']
  lines.push('', ...table('RSS growth by function', columns, byGrowth.map((t) => functionRow(t.growth, '+', t)), 2))
  lines.push('', ...table('RSS release by function', columns, byRelease.map((t) => functionRow(t.release, '-', t)), 2))
  const packageRows = byPackage.map((p) => [`+${bytes(p.growth)}`, `-${bytes(p.release)}`, count(p.functions), p.package])
  lines.push('', ...table('RSS growth by package', ['growth', 'release', 'functions', 'package'], packageRows, 3))
  if (byLine.length > 0) {
    const lineRows = byLine.map((l) => [`+${bytes(l.growth)}`, count(l.rows), `${l.file}:${l.line}`, named(l), l.text])
    lines.push('', ...table('RSS growth by line', ['bytes', 'rows', 'where', 'function', 'line'], lineRows, 2))
  }
  if (report.stacks) lines.push('', ...stackTable('RSS growth by stack', byStack(report.stacks, top), 'row'))
  if (heapProfile) {
    const { path: file, report: live } = heapProfile
    lines.push('', `${file}: ${alive(live)}`)
    lines.push(...heapTables(live, top))
  }
  const notes = [
    [...byGrowth, ...byRelease].some((t) => t.atEntry) ? AT_ENTRY_NOTE : '',
    [...byGrowth, ...byRelease].some((t) => t.file === '<gc>') ? GC_NOTE : '',
  ].filter(Boolean)
  if (notes.length > 0) lines.push('', ...notes)
  return lines.join('\n')
}

/** Most frames of a stack shown: a deep recursion shows its innermost ones and how many more. */
const FRAMES_SHOWN = 12

/**
 * The stacks with the most growth (RSS growth, or live bytes in a heap profile), each with its
 * frames innermost first, as a stack trace reads, and its thread where the stacks are of
 * several; `unit` is what a stack's count counts.
 */
function stackTable(title: string, rows: (StackRow & { thread?: Thread })[], unit: string): string[] {
  if (rows.length === 0) return [`${title}: none`]
  const lines = [`${title} (innermost frame first):`]
  for (const stack of rows) {
    const thread = stack.thread === undefined ? '' : `, ${threadName(stack.thread)}`
    lines.push(`  +${bytes(stack.growth)} in ${counted(stack.rows, unit)}${thread}${stack.release > 0 ? ` (and -${bytes(stack.release)})` : ''}`)
    const frames = stack.frames.toReversed()
    const shown = frames.length > FRAMES_SHOWN ? frames.slice(0, FRAMES_SHOWN - 1) : frames
    const width = Math.max(...shown.map((f) => f.name.length))
    for (const frame of shown) lines.push(`      ${frame.name.padEnd(width)}  ${where(frame)}`.trimEnd())
    if (shown.length < frames.length) lines.push(`      … ${counted(frames.length - shown.length, 'more frame')}`)
    if (frames.length === 0) lines.push(`      ${stack.outside}`)
  }
  return lines
}

/** The title of the table of a heap profile's stacks. */
const LIVE_ALLOCATIONS = 'Live JavaScript allocations by stack'

/** The stacks that allocated most of what is alive, and of what was collected where the profile has it. */
function heapTables(heap: HeapReport, top: number): string[] {
  const live = stackTable(LIVE_ALLOCATIONS, byStack(heap.stacks, top), 'sample')
  if (!heap.collected) return live
  const title = `JavaScript allocations collected before the end (${counted(heap.collected.samples, 'sample')}, about ${bytes(heap.collected.bytes)}), by stack`
  return [...live, '', ...stackTable(title, byStack(heap.collected.stacks, top), 'sample')]
}

/** What a heap profile says: what is still alive, and the stacks that allocated most of it. */
export function renderHeapReport(path: string, heap: HeapReport, top: number): string {
  return [path, `  ${alive(heap)}, at the end (V8's sampling heap profiler)`, '', ...heapTables(heap, top)].join('\n')
}

/** The joined report of several profiler logs, as text. */
export function renderJoined(joined: Joined): string {
  const lines: string[] = []
  for (const p of joined.processes) {
    const workers = p.threads.filter((t) => t.thread !== 'main').length
    const who = (p.pid === null ? 'a process' : `process ${p.pid}`) + (p.started === null ? '' : ` (started ${p.started})`)
    const threads = [p.threads.some((t) => t.thread === 'main') ? 'the main thread' : '', workers > 0 ? counted(workers, 'worker') : '']
    lines.push(
      `${who}: ${threads.filter(Boolean).join(' and ')}, ${count(p.events)} events` + (p.peakRss === null ? '' : `, peak RSS ${bytes(p.peakRss)}`),
    )
    const threadRows = p.threads.map(({ thread, path, report }) => {
      const state = report.damage ? ` (DAMAGED at line ${report.damage.line})` : report.complete ? '' : ' (INCOMPLETE)'
      return [count(report.events), count(report.rows), report.peakRss == null ? '-' : bytes(report.peakRss), threadName(thread), `${path}${state}`]
    })
    lines.push(...table('logs', ['events', 'rows', 'peak RSS', 'thread', 'log'], threadRows, 3).map((l) => `  ${l}`))
    const functionRow = (value: number, sign: string, t: ThreadTotals) => [`${sign}${bytes(value)}`, count(t.rows), threadName(t.thread), named(t), where(t)]
    const columns = ['bytes', 'rows', 'thread', 'function', 'where']
    lines.push('', ...table('RSS growth by function, every thread', columns, p.byGrowth.map((t) => functionRow(t.growth, '+', t)), 2))
    lines.push('', ...table('RSS release by function, every thread', columns, p.byRelease.map((t) => functionRow(t.release, '-', t)), 2))
    if (p.threads.some((t) => t.report.stacks)) lines.push('', ...stackTable('RSS growth by stack, every thread', p.byStack, 'row'))
    if (p.threads.length > 1) lines.push('', SHARED_RSS_NOTE)
    if ([...p.byGrowth, ...p.byRelease].some((t) => t.atEntry)) lines.push(AT_ENTRY_NOTE)
    lines.push('')
  }
  lines.push(`${counted(joined.processes.length, 'process', 'processes')}, ${counted(joined.logs, 'log')}, ${count(joined.events)} events in all`)
  return lines.join('\n')
}
