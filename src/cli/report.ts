/**
 * `memtrace report <log>`: what a log says, as a table (or JSON).
 */
import { writeFileSync } from 'node:fs'

import { native } from '../native.js'
import { renderHtml } from '../reports/html.js'
import { LogError, logKind, monitorModel, profileModel, readMonitorLog } from '../reports/logs.js'
import { renderSvg } from '../reports/svg.js'
import { CommandError, integerOption, parseOptions, usage, type Command } from './command.js'
import { bytes, count } from './human.js'

type LogReport = ReturnType<typeof native.readLog>
type Totals = LogReport['functions'][number]

const HELP = `Usage: memtrace report [options] <log>

Reads a log (streaming: logs of any size) and tells what it says. The kind of log is told by
its first line:

  a profiler log (memtrace run, profile()): events seen and rows logged, the peak RSS and
  where it happened, and the functions with the largest RSS growth and release (the sum of
  the dRSS of their NEXT: rows);
  a monitor log (memtrace monitor, monitor()): samples, the peak and when, and the processes.

Options:
  --html <file>   also write a self-contained HTML page: RSS over time with marks, the peak,
                  heap figures, each process of a tree, the largest jumps by function; zoom
                  by dragging across a chart
  --svg <file>    also write the main chart as a static SVG, for READMEs and issues
  --top <n>       how many functions each table lists (default 10)
  --json          print everything as JSON instead of text
  --help          this text`

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
    `  ${count(summary.samples)} samples over ${summary.duration.toFixed(1)} s` + (summary.complete ? '' : ' (INCOMPLETE: no end row)'),
  ]
  if (peak) lines.push(`  peak RSS ${bytes(peak.rss)} at ${peak.t.toFixed(2)} s`)
  if (pids.size > 0) lines.push(`  ${pids.size} processes`)
  for (const mark of marks) lines.push(`  mark at ${mark.t.toFixed(2)} s: ${mark.label} (RSS ${bytes(mark.rss)})`)
  return lines.join('\n')
}

const where = (t: { file: string; line: number }) => `${t.file}:${t.line}`
/** A function as the tables name it: growth seen at its entry was made before it, by its caller. */
const named = (t: Totals) => (t.atEntry ? `${t.function} (at entry)` : t.function)

/** One line about a log, as `memtrace run` prints at exit. */
export function summaryLine(path: string, report: LogReport): string {
  const parts = [`${count(report.events)} events`, `${count(report.rows)} rows logged`]
  if (report.peakRss != null && report.peakAt) {
    parts.push(`peak RSS ${bytes(report.peakRss)} at ${report.peakAt.function} (${where(report.peakAt)})`)
  }
  const top = report.functions[0]
  if (top && top.growth > 0) parts.push(`largest growth ${bytes(top.growth, true)} in ${named(top)} (${where(top)})`)
  if (!report.complete) parts.push('INCOMPLETE: the log has no EOF, the process ended before it was finished')
  return `${path}: ${parts.join(', ')}`
}

function byRelease(functions: Totals[]): Totals[] {
  return [...functions].sort((a, b) => b.release - a.release || a.function.localeCompare(b.function))
}

function table(title: string, rows: Totals[], value: (t: Totals) => number, sign: string): string[] {
  const shown = rows.filter((t) => value(t) > 0)
  if (shown.length === 0) return [`${title}: none`]
  const cells = shown.map((t) => [`${sign}${bytes(value(t))}`, count(t.rows), named(t), where(t)])
  const widths = [0, 1, 2].map((i) => Math.max(...cells.map((c) => c[i].length), ['bytes', 'rows', 'function'][i].length))
  const line = (c: string[]) =>
    `  ${c[0].padStart(widths[0])}  ${c[1].padStart(widths[1])}  ${c[2].padEnd(widths[2])}  ${c[3]}`.trimEnd()
  return [`${title}:`, line(['bytes', 'rows', 'function', 'where']), ...cells.map(line)]
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
    lines.push(`  peak RSS ${bytes(report.peakRss)} at event ${count(at.event)} (${at.clock.toFixed(6)} s): ${at.function} (${where(at)})`)
  }
  const growth = report.functions.slice(0, top)
  const release = byRelease(report.functions).slice(0, top)
  lines.push('', ...table('RSS growth by function', growth, (t) => t.growth, '+'))
  lines.push('', ...table('RSS release by function', release, (t) => t.release, '-'))
  if ([...growth, ...release].some((t) => t.atEntry && (t.growth > 0 || t.release > 0))) {
    lines.push('', '"(at entry)": seen as the function was called or resumed, so the memory moved just before, in its caller.')
  }
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
      const json = { path, ...log, byGrowth: log.functions.slice(0, top), byRelease: byRelease(log.functions).slice(0, top) }
      console.log(JSON.stringify(json, null, 2))
    } else {
      console.log(renderReport(path, log, top))
    }
    return 0
  },
}
