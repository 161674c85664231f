/**
 * `memtrace report <log>`: what a log says, as a table (or JSON).
 */
import { writeFileSync } from 'node:fs'

import { native } from '../native.js'
import { AT_ENTRY_NOTE, growthTables, named, placeOf, where, type LogReport, type Totals } from '../reports/growth.js'
import { renderHtml } from '../reports/html.js'
import { LogError, logKind, monitorModel, profileModel, readMonitorLog } from '../reports/logs.js'
import { renderSvg } from '../reports/svg.js'
import { CommandError, integerOption, parseOptions, usage, type Command } from './command.js'
import { bytes, count, counted } from './human.js'


const HELP = `Usage: memtrace report [options] <log>

Reads a log (streaming: logs of any size) and tells what it says. The kind of log is told by
its first line:

  a profiler log (memtrace run, profile()): events seen and rows logged, the peak RSS and
  where it happened, the functions with the largest RSS growth and release (the sum of the
  dRSS of their NEXT: rows), and the growth summed by package (node_modules/<package>);
  a monitor log (memtrace monitor, monitor()): samples, the peak and when, and the processes.

Options:
  --html <file>   also write a self-contained HTML page: RSS over time with marks, the peak,
                  heap figures, each process of a tree, the largest jumps by function; zoom
                  by dragging across a chart
  --svg <file>    also write the main chart as a static SVG, for READMEs and issues
  --top <n>       how many rows each table lists (default 10)
  --json          print everything as JSON instead of text
  -h, --help      this text`

export function readLog(path: string): LogReport {
  try {
    return native.readLog(path)
  } catch (error) {
    throw new CommandError((error as Error).message)
  }
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

async function monitorText(path: string, json: boolean): Promise<string> {
  const { header, samples, marks, end } = await readMonitorLog(path)
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
  }
  if (json) return JSON.stringify(summary, null, 2)
  const lines = [
    path,
    `  ${counted(summary.samples, 'sample')} over ${summary.duration.toFixed(1)} s` + (summary.complete ? '' : ' (INCOMPLETE: no end row)'),
  ]
  if (peak) lines.push(`  peak RSS ${bytes(peak.rss)} at ${peak.t.toFixed(2)} s`)
  if (pids.size > 0) lines.push(`  ${counted(pids.size, 'process', 'processes')}`)
  for (const mark of marks) lines.push(`  mark at ${mark.t.toFixed(2)} s: ${mark.label} (RSS ${bytes(mark.rss)})`)
  return lines.join('\n')
}

/** One line about a log, as `memtrace run` prints at exit. */
export function summaryLine(path: string, report: LogReport): string {
  const parts = [`${count(report.events)} events`, `${count(report.rows)} rows logged`]
  if (report.peakRss != null && report.peakAt) parts.push(`peak RSS ${bytes(report.peakRss)} at ${placeOf(report.peakAt)}`)
  const top = report.functions[0]
  if (top && top.growth > 0) parts.push(`largest growth ${bytes(top.growth, true)} in ${named(top)} (${where(top)})`)
  if (!report.complete) parts.push('INCOMPLETE: the log has no EOF, the process ended before it was finished')
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
      (report.complete ? '' : ' (INCOMPLETE: no EOF; the process ended before the log was finished)'),
  )
  if (report.peakRss != null && report.peakAt) {
    const at = report.peakAt
    lines.push(`  peak RSS ${bytes(report.peakRss)} at event ${count(at.event)} (${at.clock.toFixed(6)} s): ${placeOf(at)}`)
  }
  const { byGrowth, byRelease, byPackage } = growthTables(report.functions, top)
  const functionRow = (value: number, sign: string, t: Totals) => [`${sign}${bytes(value)}`, count(t.rows), named(t), where(t)]
  const columns = ['bytes', 'rows', 'function', 'where']
  lines.push('', ...table('RSS growth by function', columns, byGrowth.map((t) => functionRow(t.growth, '+', t)), 2))
  lines.push('', ...table('RSS release by function', columns, byRelease.map((t) => functionRow(t.release, '-', t)), 2))
  const packageRows = byPackage.map((p) => [`+${bytes(p.growth)}`, `-${bytes(p.release)}`, count(p.functions), p.package])
  lines.push('', ...table('RSS growth by package', ['growth', 'release', 'functions', 'package'], packageRows, 3))
  if ([...byGrowth, ...byRelease].some((t) => t.atEntry)) lines.push('', AT_ENTRY_NOTE)
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
    if (rest.length !== 1) throw usage('report', rest.length ? `one log at a time, got ${rest.length}` : 'which log? Give its path')
    const top = integerOption('report', 'top', options.get('top')?.[0], 1) ?? 10
    const [path] = rest
    const html = options.get('html')?.[0]
    const svg = options.get('svg')?.[0]
    const kind = await orCommandError(() => logKind(path))
    if (html || svg) {
      const model = await orCommandError(() => (kind === 'monitor' ? monitorModel(path) : profileModel(path, top)))
      const write = (file: string, text: string) => {
        try {
          writeFileSync(file, text)
        } catch (error) {
          throw new CommandError(`cannot write ${file}: ${(error as Error).message}`)
        }
        process.stderr.write(`memtrace: wrote ${file}\n`)
      }
      if (html) write(html, renderHtml(model))
      if (svg) write(svg, renderSvg(model.charts[0]))
    }
    if (kind === 'monitor') {
      console.log(await orCommandError(() => monitorText(path, options.has('json'))))
      return 0
    }
    const log = readLog(path)
    if (options.has('json')) {
      const json = { path, ...log, ...growthTables(log.functions, top) }
      console.log(JSON.stringify(json, null, 2))
    } else {
      console.log(renderReport(path, log, top))
    }
    return 0
  },
}
