/**
 * `memtrace report <log>`: what a log says, as a table (or JSON).
 */
import { createReadStream, createWriteStream, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { once } from 'node:events'
import { tmpdir } from 'node:os'
import { basename, join } from 'node:path'
import { finished } from 'node:stream/promises'

import { native } from '../native.js'
import { growthTables, heapGrowth } from '../reports/growth.js'
import { renderHtml } from '../reports/html.js'
import { joinedModel, joinLogs, threadName, threadOf } from '../reports/joined.js'
import { readHeapProfile, type HeapReport } from '../reports/heapprofile.js'
import { heapModel, isBinaryLog, LogError, logKind, monitorModel, profileModel, readProfileLog, type Damage } from '../reports/logs.js'
import { renderSvg } from '../reports/svg.js'
import { byStack } from '../reports/stacks.js'
import { monitorText, renderHeapReport, renderJoined, renderReport } from '../reports/text.js'
import { CommandError, integerOption, parseOptions, usage, type Command } from './command.js'


const HELP = `Usage: memtrace report [options] <log>     (- reads the log from standard input)
       memtrace report [options] <log|directory>...

Reads a log (streaming: logs of any size) and tells what it says. The kind of log is told by
its first line:

  a profiler log (memtrace run, profile(); text or binary): events seen and rows logged, the
  peak RSS and where it happened, the functions with the largest RSS growth and release (the
  sum of the dRSS of their NEXT: rows), and the growth summed by package
  (node_modules/<package>);
  a monitor log (memtrace monitor, monitor(), memtrace attach): samples, the peak and when,
  and the processes;
  a heap profile (.heapprofile, from --heap or memtrace attach --heap, or saved by Chrome
  DevTools): the JavaScript objects still alive at the end, by the stack that allocated them.
  A profiler log with a heap profile beside it (memtrace run --heap) is reported with it.

Several profiler logs, or a directory of them (the YYYYMMDD_HHMMSS_<pid>.log files memtrace run writes),
are joined: the logs of one process (its main thread and its worker threads) make one report
with a thread column, most growth first across its threads; each process gets its own, and a
total ends the report.

Options:
  --html <file>   also write a self-contained HTML page: RSS over time with marks, the peak,
                  heap figures, each process of a tree, the largest jumps by function; zoom
                  by dragging across a chart
  --svg <file>    also write the main chart as a static SVG, for READMEs and issues
  --chrome-trace <file>
                  also write the profiler logs as a Chrome trace (Trace Event Format), which
                  Perfetto (ui.perfetto.dev) and chrome://tracing open: RSS and the V8 heap
                  as counter tracks, each logged row an instant event, collections as slices,
                  a track per thread
  --speedscope <file>
                  also write RSS growth by call stack in speedscope's format
                  (speedscope.app, or npx speedscope <file>)
  --pprof <file>  also write it as a gzipped pprof profile (go tool pprof -top <file>;
                  Pyroscope, Parca, Grafana): sample values rss_growth (bytes, the
                  default), rows, rss_release (bytes)
  --collapsed <file>
                  also write it as folded stacks ("a;b;c bytes"), for flamegraph.pl,
                  inferno and other flame graph tools
                  (these three take the stacks of every log given, merged)
  --text          print a profiler log as the seed's text instead of a report: a binary log
                  (memtrace run --log-format binary) row by row, a text log as it is
  --top <n>       how many rows each table lists (default 10)
  --json          print everything as JSON instead of text
  -h, --help      this text`

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
  // The copy of a text log ends where the input stops being text, as reading would (a NUL byte,
  // a line longer than a MiB), so that an endless stream of garbage (/dev/zero) ends too. A
  // binary log is copied as it is: its reader stops at garbage.
  let line = 0
  let binary: boolean | undefined
  for await (const chunk of (stdin ? process.stdin : createReadStream(path)) as AsyncIterable<Buffer>) {
    binary ??= isBinaryLog(chunk)
    if (binary) {
      if (!out.write(chunk)) await once(out, 'drain')
      continue
    }
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
export async function orCommandError<T>(work: () => T | Promise<T>): Promise<T> {
  try {
    return await work()
  } catch (error) {
    if (error instanceof LogError) throw new CommandError(error.message)
    throw error
  }
}

/** Says on stderr that the log at `path` is damaged, and that the report stops there. */
function sayDamaged(path: string, damage: Damage): void {
  process.stderr.write(`memtrace: ${path} is damaged at line ${damage.line}: ${damage.reason}; reported up to it\n`)
}

/** The exports of growth by stack, by option. */
const STACK_EXPORTS = ['speedscope', 'pprof', 'collapsed'] as const

/** Writes the growth by stack of `logs` to each file the options name, and says so. */
function exportStacks(logs: { file: string; path: string }[], targets: Map<(typeof STACK_EXPORTS)[number], string>): void {
  const name = logs.length === 1 ? basename(logs[0].path) : `${logs.length} logs`
  for (const [format, target] of targets) {
    try {
      native.exportStacks(logs, target, format, name)
    } catch (error) {
      throw new CommandError(`--${format}: ${(error as Error).message}`)
    }
    process.stderr.write(`memtrace: wrote ${target}\n`)
  }
}

/** Writes `logs` as one Chrome trace to `target`, and says so. */
function exportChromeTrace(logs: Parameters<typeof native.exportChromeTrace>[0], target: string): void {
  try {
    native.exportChromeTrace(logs, target)
  } catch (error) {
    throw new CommandError((error as Error).message)
  }
  process.stderr.write(`memtrace: wrote ${target}\n`)
}

const MEMTRACE_LOG = /^\d{8}_\d{6}_\d+(?:_\d+)*\.log$/

/** The logs `args` name: each file as it is, each directory's profiler logs. */
export function logsNamed(args: string[]): string[] {
  return args.flatMap((arg) => {
    let entries: string[]
    try {
      if (!statSync(arg).isDirectory()) return [arg]
      entries = readdirSync(arg)
    } catch {
      // Missing or unreadable: reading it says which.
      return [arg]
    }
    // The logs memtrace names (YYYYMMDD_HHMMSS_<pid>….log), not whatever else ends in .log.
    const logs = entries.filter((name) => MEMTRACE_LOG.test(name)).sort().map((name) => join(arg, name))
    if (logs.length === 0) throw new CommandError(`there are no profiler logs (YYYYMMDD_HHMMSS_<pid>.log) in ${arg}`)
    return logs
  })
}

/** A heap profile as `--json` gives it. */
function heapJson(path: string, heap: HeapReport, top: number): object {
  const { collected } = heap
  return {
    path,
    samples: heap.samples,
    bytes: heap.bytes,
    memtrace: heap.memtrace,
    byStack: byStack(heap.stacks, top),
    stacks: heap.stacks,
    collected: collected && { samples: collected.samples, bytes: collected.bytes, byStack: byStack(collected.stacks, top) },
  }
}

/** `memtrace report <file.heapprofile>`: its live allocations as text, JSON, HTML and exports. */
function reportHeapProfile(
  path: string,
  heap: HeapReport,
  { top, html, json, stackExports }: { top: number; html?: string; json: boolean; stackExports: Map<(typeof STACK_EXPORTS)[number], string> },
): void {
  for (const [format, target] of stackExports) {
    try {
      native.exportStackTree(heap.stacks, target, format, basename(path))
    } catch (error) {
      throw new CommandError(`--${format}: ${(error as Error).message}`)
    }
    process.stderr.write(`memtrace: wrote ${target}\n`)
  }
  if (html) writeReportFile(html, renderHtml(heapModel(path, heap, top)))
  console.log(json ? JSON.stringify(heapJson(path, heap, top), null, 2) : renderHeapReport(path, heap, top))
}

/** Writes a file the options asked for, and says so. */
function writeReportFile(target: string, text: string): void {
  try {
    writeFileSync(target, text)
  } catch (error) {
    throw new CommandError(`cannot write ${target}: ${(error as Error).message}`)
  }
  process.stderr.write(`memtrace: wrote ${target}\n`)
}

/** `--text`: the text of one profiler log on stdout, a piece at a time. */
async function printText(logs: string[], optionCount: number): Promise<number> {
  if (logs.length > 1 || optionCount > 1) throw usage('report', '--text prints one log, and takes no other option')
  const input = await readable(logs[0])
  // The native reader's errors name the log and the place: the user's to read, not a crash.
  const said = <T>(work: () => T): T => {
    try {
      return work()
    } catch (error) {
      throw new CommandError((error as Error).message)
    }
  }
  try {
    const { file, path } = input
    const kind = await orCommandError(() => logKind(file, path))
    if (kind !== 'profile') throw usage('report', `--text prints a profiler log, and ${path} is a ${kind === 'heap' ? 'heap profile' : 'monitor log'}`)
    const text = said(() => new native.LogText(file, path))
    // A reader that stops early (`| head`) closes the pipe: the text ends there, as `cat`'s would.
    const closed = new Promise<true>((resolve) => process.stdout.once('error', () => resolve(true)))
    // Up to a damaged record, the text is printed; then the error says where it stops.
    for (let piece = said(() => text.read()); piece; piece = said(() => text.read())) {
      if (!process.stdout.write(piece) && (await Promise.race([once(process.stdout, 'drain').then(() => false), closed]))) break
    }
    return 0
  } finally {
    input.done()
  }
}

export const report: Command = {
  name: 'report',
  help: HELP,
  async run(args) {
    const { options, rest } = parseOptions('report', args, {
      top: { value: true },
      json: { value: false },
      html: { value: true },
      svg: { value: true },
      'chrome-trace': { value: true },
      speedscope: { value: true },
      pprof: { value: true },
      collapsed: { value: true },
      text: { value: false },
    })
    if (rest.length === 0) throw usage('report', 'which log? Give its path, or - for standard input')
    if (options.has('text')) return printText(rest, options.size)
    const top = integerOption('report', 'top', options.get('top')?.[0], 1) ?? 10
    const html = options.get('html')?.[0]
    const svg = options.get('svg')?.[0]
    const chromeTrace = options.get('chrome-trace')?.[0]
    const stackExports = new Map(STACK_EXPORTS.flatMap((format) => (options.has(format) ? [[format, options.get(format)![0]] as const] : [])))
    const write = writeReportFile
    const logs = rest.includes('-') ? rest : logsNamed(rest)
    if (logs.length > 1 || logs[0] !== rest[0]) {
      if (logs.includes('-')) throw usage('report', 'standard input (-) is one log, reported alone')
      const read = await orCommandError(async () => {
        const kinds = await Promise.all(logs.map(async (path) => [path, await logKind(path, path)] as const))
        const monitor = kinds.find(([, kind]) => kind === 'monitor')
        if (monitor) throw new CommandError(`${monitor[0]} is a monitor log: monitor logs are reported one at a time`)
        return logs.map((path) => ({ path, report: readProfileLog(path) }))
      })
      const joined = joinLogs(read, top)
      if (chromeTrace) {
        // Each process on a track group of its own, each thread on a track, on its process's uptime.
        const tracks = joined.processes.flatMap((p, n) =>
          p.threads.map((t) => ({
            file: t.path,
            path: t.path,
            pid: p.pid ?? 1_000_000 + n,
            tid: t.thread === 'main' ? 0 : t.thread,
            offset: t.start ?? 0,
            process: p.pid === null ? `a process (${t.path})` : `process ${p.pid}${p.started ? ` (started ${p.started})` : ''}`,
            thread: threadName(t.thread),
          })),
        )
        exportChromeTrace(tracks, chromeTrace)
      }
      exportStacks(
        read.map(({ path }) => ({ file: path, path })),
        stackExports,
      )
      const model = html || svg ? joinedModel(joined) : null
      if (html) write(html, renderHtml(model!))
      if (svg) write(svg, renderSvg(model!.charts[0]))
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
        if (report.damage) sayDamaged(path, report.damage)
      }
      return 0
    }
    const input = await readable(rest[0])
    try {
      const { file, path } = input
      const kind = await orCommandError(() => logKind(file, path))
      if (kind === 'heap') {
        for (const option of ['svg', 'chrome-trace']) {
          if (options.has(option)) throw usage('report', `--${option} draws what happened over time; a heap profile holds what was alive at the end`)
        }
        const heap = await orCommandError(() => readHeapProfile(file, path))
        reportHeapProfile(path, heap, { top, html, json: options.has('json'), stackExports })
        return 0
      }
      // The heap profile that --heap wrote beside the log, if there is one.
      const heapFile = kind === 'profile' && path.endsWith('.log') ? path.replace(/\.log$/, '.heapprofile') : null
      const heap = heapFile && existsSync(heapFile) ? { path: heapFile, report: await orCommandError(() => readHeapProfile(heapFile)) } : null
      if (html || svg) {
        const model = await orCommandError(() => (kind === 'monitor' ? monitorModel(file, path) : profileModel(file, path, top, heap?.report ?? null)))
        if (html) write(html, renderHtml(model))
        if (svg) write(svg, renderSvg(model.charts[0]))
      }
      let damage: Damage | null
      if (kind === 'monitor') {
        for (const option of ['chrome-trace', ...stackExports.keys()]) {
          if (options.has(option)) throw usage('report', `--${option} exports a profiler log; this is a monitor log`)
        }
        const result = await orCommandError(() => monitorText(file, path, options.has('json')))
        console.log(result.text)
        damage = result.damage
      } else {
        const log = await orCommandError(() => readProfileLog(file, path))
        if (chromeTrace) {
          const { thread, pid } = threadOf(path, log)
          const processName = pid === null ? path : `process ${pid}`
          const track = { file, path, pid: pid ?? 0, tid: thread === 'main' ? 0 : thread, offset: 0, process: processName, thread: threadName(thread) }
          exportChromeTrace([track], chromeTrace)
        }
        exportStacks([{ file, path }], stackExports)
        if (options.has('json')) {
          console.log(
            JSON.stringify(
              {
                path,
                ...log,
                damage: log.damage ?? null,
                heapGrowth: heapGrowth(log),
                ...growthTables(log, top),
                byStack: byStack(log.stacks, top),
                heapProfile: heap && heapJson(heap.path, heap.report, top),
              },
              null,
              2,
            ),
          )
        } else {
          console.log(renderReport(path, log, top, heap))
        }
        damage = log.damage ?? null
      }
      if (damage) sayDamaged(path, damage)
    } finally {
      input.done()
    }
    return 0
  },
}
