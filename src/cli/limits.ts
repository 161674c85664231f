/**
 * `memtrace run --max-rss / --max-growth`: which traced processes went over a memory limit, and
 * what grew in them up to the moment they did, read back from their logs.
 *
 * A process's logs (its main thread's and its workers') all record the process's RSS. Its
 * growth is counted from the RSS at the first row of its main thread's log, where its profiler
 * started.
 */
import { basename } from 'node:path'

import { bytes } from '../reports/appearance.js'
import { placeOf, type LogReport } from '../reports/growth.js'
import { readProfileLog } from '../reports/logs.js'
import { describeGrowth, whereGrown, type Growth } from '../reports/stacks.js'

/** The exit code of `memtrace run` when a process went over a limit, whatever the command's own. */
export const LIMIT_EXIT_CODE = 86

/** How many of the places that grew most before the limit was crossed are named. */
const NAMED = 5

export interface Limits {
  maxRss?: number
  maxGrowth?: number
}

/** One log of a traced process, as `memtrace run` read it. */
export interface TracedLog {
  log: string
  pid: number
  /** 0 for the main thread. */
  thread: number
  /** The process's `process.argv`, as the manifest noted it. */
  argv?: string[]
  report: LogReport
}

export interface Overrun {
  pid: number
  /** The process's command line, shortened, to tell processes apart. */
  command: string
  /** Each limit gone over: its option, its size, and the figure that went over it. */
  over: { option: '--max-rss' | '--max-growth'; limit: number; reached: number }[]
  peak: number
  /** The first row over the lower of the limits: what RSS it had and where it was. */
  crossed: { rss: number; at: string } | null
  /** Where RSS grew most up to and including that row (by stack, when the log has stacks), most first. */
  top: Growth[]
}

/** The processes among `logs` that went over `limits`, in the order they were traced. */
export function overruns(logs: TracedLog[], limits: Limits): Overrun[] {
  const processes = new Map<number, TracedLog[]>()
  for (const log of logs) processes.set(log.pid, [...(processes.get(log.pid) ?? []), log])
  const found: Overrun[] = []
  for (const [pid, own] of processes) {
    const main = own.find((l) => l.thread === 0) ?? own[0]
    const peak = Math.max(...own.map((l) => l.report.peakRss ?? 0))
    const start = main.report.firstRss ?? 0
    const over: Overrun['over'] = []
    if (limits.maxRss !== undefined && peak > limits.maxRss) over.push({ option: '--max-rss', limit: limits.maxRss, reached: peak })
    if (limits.maxGrowth !== undefined && peak - start > limits.maxGrowth) {
      over.push({ option: '--max-growth', limit: limits.maxGrowth, reached: peak - start })
    }
    if (over.length === 0) continue
    // The RSS at which the first limit was crossed: rows from there on are not counted.
    const threshold = Math.min(limits.maxRss ?? Infinity, limits.maxGrowth === undefined ? Infinity : start + limits.maxGrowth)
    let crossed: Overrun['crossed'] = null
    const grown: Growth[] = []
    for (const { log } of own) {
      const upTo = readProfileLog(log, log, threshold + 1)
      if (!upTo.stopped) continue
      grown.push(...whereGrown(upTo, NAMED))
      if (!crossed && upTo.peakRss != null && upTo.peakAt) crossed = { rss: upTo.peakRss, at: placeOf(upTo.peakAt) }
    }
    const top = grown.sort((a, b) => b.growth - a.growth).slice(0, NAMED)
    found.push({ pid, command: commandLine(main.argv), over, peak, crossed, top })
  }
  return found
}

/** `node server.js --port 3000` from a process.argv, cut to a line's worth. */
function commandLine(argv: string[] | undefined): string {
  if (!argv?.length) return '?'
  const text = [basename(argv[0]), ...argv.slice(1)].join(' ')
  return text.length > 100 ? `${text.slice(0, 99)}…` : text
}

/** What `memtrace run` prints about an overrun: lines without the `memtrace: ` prefix. */
export function describeOverrun(overrun: Overrun): string[] {
  const what = overrun.over
    .map(({ option, limit, reached }) => `${option} ${bytes(limit)} (${option === '--max-rss' ? 'peak RSS' : 'growth'} ${bytes(reached)})`)
    .join(' and ')
  const lines = [`process ${overrun.pid} (${overrun.command}) went over ${what}`]
  if (overrun.crossed) lines.push(`  it crossed at RSS ${bytes(overrun.crossed.rss)}, in ${overrun.crossed.at}`)
  if (overrun.top.length > 0) {
    lines.push('  most growth up to then:')
    const sizes = overrun.top.map((t) => bytes(t.growth, true))
    const width = Math.max(...sizes.map((s) => s.length))
    overrun.top.forEach((t, i) => lines.push(`    ${sizes[i].padStart(width)}  ${describeGrowth(t)}`))
  } else {
    lines.push('  no traced function grew before then: the memory was taken before the first or outside traced code')
  }
  return lines
}
