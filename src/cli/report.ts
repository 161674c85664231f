/**
 * `memtrace report <log>`: what a log says, as a table (or JSON).
 */
import { createReadStream, createWriteStream, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readdirSync } from 'node:fs'
import { once } from 'node:events'
import { finished } from 'node:stream/promises'

import { native } from '../native.js'
import { AT_ENTRY_NOTE, describeHeapGrowth, growthTables, heapGrowth, named, placeOf, where, type LogReport, type Totals } from '../reports/growth.js'
import { renderHtml } from '../reports/html.js'
import { joinedModel, joinLogs, SHARED_RSS_NOTE, threadName, type Joined, type ThreadTotals } from '../reports/joined.js'
import { LogError, logKind, monitorModel, profileModel, readMonitorLog, type Damage } from '../reports/logs.js'
import { renderSvg } from '../reports/svg.js'
import { CommandError, integerOption, parseOptions, usage, type Command } from './command.js'
import { bytes, count, counted } from './human.js'


const HELP = `Usage: memtrace report [options] <log>     (- reads the log from standard input)
       memtrace report [options] <log|directory>...

Reads a log (streaming: logs of any size) and tells what it says. The kind of log is told by
its first line:

  a profiler log (memtrace run, profile()): events seen and rows logged, the peak RSS and
  where it happened, the functions with the largest RSS growth and release (the sum of the
  dRSS of their NEXT: rows), and the growth summed by package (node_modules/<package>);
  a monitor log (memtrace monitor, monitor()): samples, the peak and when, and the processes.

Several profiler logs, or a directory of them (its *.log files, as memtrace run writes them),
are joined: the logs of one process (its main thread and its worker threads) make one report
with a thread column, most growth first across its threads; each process gets its own, and a
total ends the report.

Options:
  --html <file>   also write a self-contained HTML page: RSS over time with marks, the peak,
                  heap figures, each process of a tree, the largest jumps by function; zoom
                  by dragging across a chart
  --svg <file>    also write the main chart as a static SVG, for READMEs and issues
  --top <n>       how many rows each table lists (default 10)
  --json          print everything as JSON instead of text
  -h, --help      this text`

/** Reads the profiler log in `file`, whose name for the user is `path`. */
export function readLog(file: string, path = file): LogReport {
  try {
    return native.readLog(file, path)
  } catch (error) {
    throw new CommandError((error as Error).message)
  }
}

/**
 * The log at `path` as a file that can be read more than once: itself, or for standard input
 * (`-`), a pipe or a FIFO, a copy in a temporary directory. `path` is its name for the user.
 */
async function readable(path: string): Promise<{ file: string; path: string; done(): void }> {
  const stdin = path === '-'
  if (!stdin) {
    try {
      if (statSync(path).isFile()) return { file: path, path, done() {} }
    } catch {
      // Missing or unreadable: reading it says which.
      return { file: path, path, done() {} }
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'memtrace-report-'))
  const file = join(dir, 'log')
  const out = createWriteStream(file)
  // The copy ends where the input stops being text, as reading would (a NUL byte, a line longer
  // than a MiB), so that an endless stream of garbage (/dev/zero) ends too.
  let line = 0
  for await (const chunk of (stdin ? process.stdin : createReadStream(path)) as AsyncIterable<Buffer>) {
    const nul = chunk.indexOf(0)
    const newline = chunk.lastIndexOf(10)
    line = newline < 0 ? line + chunk.length : chunk.length - newline - 1
    const garbage = nul >= 0 || line > 1 << 20
    if (!out.write(nul >= 0 ? chunk.subarray(0, nul + 1) : chunk)) await once(out, 'drain')
    if (garbage) break
  }
  out.end()
  await finished(out)
  return { file, path: stdin ? '<stdin>' : path, done: () => rmSync(dir, { recursive: true, force: true }) }
}

/** A log error as the user should see it: a message, no stack. */
async function orCommandError<T>(work: () => T | Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (error) {
    if (error instanceof LogError) throw new CommandError(error.message)
    throw error
  }
}

/** The line that says a log is damaged, and what the report covers. */
const damaged = (damage: Damage) =>
  `DAMAGED at line ${damage.line}: ${damage.reason}; this report covers the rows above it`

async function monitorText(file: string, path: string, json: boolean): Promise<{ text: string; damage: Damage | null }> {
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

/** A text table: `columns` over `rows` of cells, numbers right-aligned, the last column free. */
function table(title: string, columns: string[], rows: string[][], numeric: number): string[] {
  if (rows.length === 0) return [`${title}: none`]
  const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i].length)))
  const line = (cells: string[]) =>
    `  ${cells.map((cell, i) => (i === cells.length - 1 ? cell : i < numeric ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join('  ')}`.trimEnd()
  return [`${title}:`, line(columns), ...rows.map(line)]
}

export function renderReport(path: string, report: LogReport, top: number): string {
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
  if ([...byGrowth, ...byRelease].some((t) => t.atEntry)) lines.push('', AT_ENTRY_NOTE)
  return lines.join('\n')
}

/** The logs `args` name: each file as it is, each directory's profiler logs (`*.log`). */
function logsNamed(args: string[]): string[] {
  return args.flatMap((arg) => {
    let entries: string[]
    try {
      if (!statSync(arg).isDirectory()) return [arg]
      entries = readdirSync(arg)
    } catch {
      // Missing or unreadable: reading it says which.
      return [arg]
    }
    const logs = entries.filter((name) => name.endsWith('.log')).sort().map((name) => join(arg, name))
    if (logs.length === 0) throw new CommandError(`there are no profiler logs (*.log) in ${arg}`)
    return logs
  })
}

/** The joined report of several profiler logs, as text. */
export function renderJoined(joined: Joined): string {
  const lines: string[] = []
  for (const p of joined.processes) {
    const workers = p.threads.filter((t) => t.thread !== 'main').length
    const who = p.pid === null ? 'a process' : `process ${p.pid}`
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
    if (p.threads.length > 1) lines.push('', SHARED_RSS_NOTE)
    if ([...p.byGrowth, ...p.byRelease].some((t) => t.atEntry)) lines.push(AT_ENTRY_NOTE)
    lines.push('')
  }
  lines.push(`${counted(joined.processes.length, 'process', 'processes')}, ${counted(joined.logs, 'log')}, ${count(joined.events)} events in all`)
  return lines.join('\n')
}

export const report: Command = {
  name: 'report',
  summary: 'tell what a log says, as text, JSON, an HTML page or an SVG chart',
  help: HELP,
  async run(args) {
    const { options, rest } = parseOptions('report', args, {
      top: { value: true },
      json: { value: false },
      html: { value: true },
      svg: { value: true },
      help: { value: false },
    })
    if (options.has('help')) {
      console.log(HELP)
      return 0
    }
    if (rest.length === 0) throw usage('report', 'which log? Give its path, or - for standard input')
    const top = integerOption('report', 'top', options.get('top')?.[0], 1) ?? 10
    const html = options.get('html')?.[0]
    const svg = options.get('svg')?.[0]
    const write = (target: string, text: string) => {
      try {
        writeFileSync(target, text)
      } catch (error) {
        throw new CommandError(`cannot write ${target}: ${(error as Error).message}`)
      }
      process.stderr.write(`memtrace: wrote ${target}\n`)
    }
    const logs = rest.includes('-') ? rest : logsNamed(rest)
    if (logs.length > 1 || logs[0] !== rest[0]) {
      if (logs.includes('-')) throw usage('report', 'standard input (-) is one log, reported alone')
      const read = await orCommandError(async () => {
        const kinds = await Promise.all(logs.map(async (path) => [path, await logKind(path, path)] as const))
        const monitor = kinds.find(([, kind]) => kind === 'monitor')
        if (monitor) throw new CommandError(`${monitor[0]} is a monitor log: monitor logs are reported one at a time`)
        return logs.map((path) => ({ path, report: readLog(path) }))
      })
      const joined = joinLogs(read, top)
      if (html) write(html, renderHtml(joinedModel(joined)))
      if (svg) write(svg, renderSvg(joinedModel(joined).charts[0]))
      if (options.has('json')) {
        const processes = joined.processes.map(({ threads, ...p }) => ({
          ...p,
          threads: threads.map(({ thread, path, report }) => ({
            thread,
            path,
            events: report.events,
            rows: report.rows,
            peakRss: report.peakRss ?? null,
            complete: report.complete,
            damage: report.damage ?? null,
          })),
        }))
        console.log(JSON.stringify({ processes, logs: joined.logs, events: joined.events }, null, 2))
      } else {
        console.log(renderJoined(joined))
      }
      for (const { path, report } of read) {
        if (report.damage) process.stderr.write(`memtrace: ${path} is damaged at line ${report.damage.line}: ${report.damage.reason}; reported up to it\n`)
      }
      return 0
    }
    const input = await readable(rest[0])
    try {
      const { file, path } = input
      const kind = await orCommandError(() => logKind(file, path))
      if (html || svg) {
        const model = await orCommandError(() => (kind === 'monitor' ? monitorModel(file, path) : profileModel(file, path, top)))
        if (html) write(html, renderHtml(model))
        if (svg) write(svg, renderSvg(model.charts[0]))
      }
      let damage: Damage | null
      if (kind === 'monitor') {
        const result = await orCommandError(() => monitorText(file, path, options.has('json')))
        console.log(result.text)
        damage = result.damage
      } else {
        const log = readLog(file, path)
        if (options.has('json')) {
          console.log(JSON.stringify({ path, ...log, damage: log.damage ?? null, heapGrowth: heapGrowth(log), ...growthTables(log, top) }, null, 2))
        } else {
          console.log(renderReport(path, log, top))
        }
        damage = log.damage ?? null
      }
      if (damage) process.stderr.write(`memtrace: ${path} is damaged at line ${damage.line}: ${damage.reason}; reported up to it\n`)
    } finally {
      input.done()
    }
    return 0
  },
}
