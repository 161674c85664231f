/**
 * Several profiler logs in one report: the logs of one process (its main thread and its worker
 * threads) are joined, with a thread column in the tables; several processes (from `memtrace run
 * -- npm test`) get one summary each, and a total.
 *
 * A log of a thread recorded with its workers names its thread and process in its first MSG row
 * (`thread 3 of process 4321 (started 2026-11-30T00:20:00.123Z, uptime 0.105771 s)`, or
 * `main thread of …`): the process's start tells processes of one pid apart (pids repeat, in
 * containers above all), and its uptime at that row's Clock puts the logs of one process on one
 * timeline. Another log is of a main thread, of the process its file name says
 * (`YYYYMMDD_HHMMSS_<pid>.log`).
 */
import { basename } from 'node:path'

import { count, formatBytes } from './appearance.js'
import { mostGrowthFirst, mostReleaseFirst, named, where, type LogReport, type Totals } from './growth.js'
import { JUMPS_SHOWN } from './logs.js'
import type { Annotation, Chart, Flame, FlameNode, ReportModel, Series } from './model.js'
import { byStack, flameTree, stackCells, type StackRow } from './stacks.js'

/** Which thread: `main`, or a worker's `threadId`. */
export type Thread = 'main' | number

export interface ThreadLog {
  path: string
  thread: Thread
  /** The process's uptime at the log's Clock 0, in seconds, when the log says. */
  start: number | null
  report: LogReport
}

export interface ThreadTotals extends Totals {
  thread: Thread
}

export interface ProcessLogs {
  /** Null when no log tells it (a main thread's log under a name of the user's choosing). */
  pid: number | null
  /** When the process started (ISO 8601), when its logs say. */
  started: string | null
  /** The main thread first, then the workers by threadId. */
  threads: ThreadLog[]
  events: number
  /** The highest RSS any of its logs saw (RSS is the process's, whichever thread saw it). */
  peakRss: number | null
  byGrowth: ThreadTotals[]
  byRelease: ThreadTotals[]
  /** The stacks that grew most, across its threads (logs with stacks). */
  byStack: (StackRow & { thread: Thread })[]
}

export interface Joined {
  processes: ProcessLogs[]
  logs: number
  events: number
}

const THREAD = /^(?:thread (\d+)|main thread) of process (\d+) \(started (\S+), uptime (\d+\.\d+) s\)$/
/** Starts of one process, as its threads compute them, differ by their clock reads at most. */
const SAME_START_MS = 1000
const NAMED = /^\d{8}_\d{6}_(\d+)(?:_\d+)*\.log$/

/** The thread and process a log is of, when the process started, and when the log did in its uptime. */
export function threadOf(
  path: string,
  report: LogReport,
): Omit<ThreadLog, 'path' | 'report'> & { pid: number | null; started: string | null } {
  const first = report.messages[0]
  const said = first ? THREAD.exec(first.text) : null
  if (said) {
    return { thread: said[1] ? Number(said[1]) : 'main', pid: Number(said[2]), started: said[3], start: Number(said[4]) - first.clock }
  }
  const named = NAMED.exec(basename(path))
  return { thread: 'main', pid: named ? Number(named[1]) : null, started: null, start: null }
}

/** `logs` grouped by process, each process's functions ranked across its threads. */
export function joinLogs(logs: { path: string; report: LogReport }[], top: number): Joined {
  const groups: { pid: number | null; started: string | null; threads: ThreadLog[] }[] = []
  for (const { path, report } of logs) {
    const { thread, pid, started, start } = threadOf(path, report)
    // One process: one pid, and a start that its logs agree on (or that one of them does not
    // say). A log whose process is unknown is a process of its own.
    const near = (a: string | null, b: string | null) => a === null || b === null || Math.abs(Date.parse(a) - Date.parse(b)) < SAME_START_MS
    const group = pid === null ? undefined : groups.find((g) => g.pid === pid && near(g.started, started))
    const entry = group ?? { pid, started, threads: [] }
    if (!group) groups.push(entry)
    entry.started ??= started
    entry.threads.push({ path, thread, start, report })
  }
  const order = (t: Thread) => (t === 'main' ? -1 : t)
  const processes = groups.map(({ pid, started, threads }) => {
    threads.sort((a, b) => order(a.thread) - order(b.thread) || a.path.localeCompare(b.path))
    const all = threads.flatMap(({ thread, report }) => report.functions.map((f) => ({ ...f, thread })))
    const peaks = threads.map((t) => t.report.peakRss).filter((p): p is number => p != null)
    return {
      pid,
      started,
      threads,
      events: threads.reduce((sum, t) => sum + t.report.events, 0),
      peakRss: peaks.length > 0 ? Math.max(...peaks) : null,
      byGrowth: all
        .filter((f) => f.growth > 0)
        .sort((a, b) => mostGrowthFirst(a, b) || order(a.thread) - order(b.thread))
        .slice(0, top),
      byRelease: all
        .filter((f) => f.release > 0)
        .sort((a, b) => mostReleaseFirst(a, b) || order(a.thread) - order(b.thread))
        .slice(0, top),
      byStack: threads
        .flatMap(({ thread, report }) => byStack(report.stacks, top).map((stack) => ({ ...stack, thread })))
        .sort((a, b) => b.growth - a.growth || b.release - a.release || order(a.thread) - order(b.thread))
        .slice(0, top),
    }
  })
  processes.sort((a, b) => (a.pid ?? Infinity) - (b.pid ?? Infinity) || (a.started ?? '').localeCompare(b.started ?? ''))
  return { processes, logs: logs.length, events: processes.reduce((sum, p) => sum + p.events, 0) }
}

/** A thread's name in tables and on charts. */
export const threadName = (thread: Thread) => (thread === 'main' ? 'main' : `worker ${thread}`)

/**
 * A process's chart: a line per thread, on the process's uptime where its logs say it (a log
 * that does not say starts at 0), at the rows each thread logged. RSS is the process's, so the
 * lines follow one curve; each shows when its thread ran and what it saw.
 */
function processChart(p: ProcessLogs): Chart {
  const points = p.threads.map(({ thread, start, report }) => ({
    thread,
    times: report.timelineClock.map((clock) => (start ?? 0) + clock),
    rss: report.timelineRss,
  }))
  const times = [...new Set(points.flatMap((t) => t.times))].sort((a, b) => a - b)
  // Each line holds its last value between its own rows, and has none outside its thread's span.
  const series: Series[] = points.map(({ thread, times: own, rss }) => {
    let next = 0
    let last: number | null = null
    const values = times.map((time) => {
      while (next < own.length && own[next] <= time) last = rss[next++]
      return own.length > 0 && time >= own[0] && time <= own[own.length - 1] ? last : null
    })
    return { name: threadName(thread), values, secondary: thread !== 'main' }
  })
  const jumps: (Annotation & { size: number })[] = p.threads.flatMap(({ thread, start, report }) =>
    report.jumps.map((jump) => ({
      time: (start ?? 0) + jump.place.clock,
      value: jump.rss,
      size: Math.abs(jump.dRss),
      label: `${threadName(thread)}: ${jump.place.function} ${jump.dRss > 0 ? '+' : ''}${formatBytes(jump.dRss)}`,
    })),
  )
  const peak = p.threads
    .filter(({ report }) => report.peakAt && report.peakRss != null)
    .map(({ thread, start, report }) => ({
      time: (start ?? 0) + report.peakAt!.clock,
      value: report.peakRss!,
      label: `${threadName(thread)}: ${report.peakAt!.function} (${basename(report.peakAt!.file)}:${report.peakAt!.line})`,
    }))
    .reduce<Annotation | null>((best, a) => (best && best.value >= a.value ? best : a), null)
  return {
    title: `RSS of ${p.pid === null ? 'a process' : `process ${p.pid}`}, a line per thread (seconds of its uptime)`,
    times,
    series,
    markers: [],
    peak,
    annotations: jumps
      .sort((a, b) => b.size - a.size)
      .slice(0, JUMPS_SHOWN)
      .map(({ size: _, ...a }) => a),
  }
}

/** `node` and the frames above it, their times moved `by` seconds. */
const shifted = (node: FlameNode, by: number): FlameNode => ({
  ...node,
  at: node.at === null ? null : node.at + by,
  children: node.children.map((child) => shifted(child, by)),
})

/**
 * A process's flame graph of RSS growth: a frame for each thread with stacks in its log, that
 * thread's stacks above it; times on the process's uptime, as on its chart.
 */
function processFlame(p: ProcessLogs, marks: boolean): Flame | null {
  const threads = p.threads.flatMap(({ thread, start, report }) => {
    const root = report.stacks ? flameTree(report.stacks) : null
    return root && root.value > 0 ? [{ ...shifted(root, start ?? 0), name: threadName(thread) }] : []
  })
  if (threads.length === 0) return null
  return {
    title: `RSS growth by call stack, ${p.pid === null ? 'a process' : `process ${p.pid}`}, a frame per thread`,
    hint: 'Each frame is as wide as the memory grown in it and in what it called, callers below callees, each thread on its own frame.',
    root: { name: 'all', where: '', value: threads.reduce((sum, t) => sum + t.value, 0), at: null, children: threads },
    marks,
  }
}

/** The visual report of joined logs: a chart per process and its tables. */
export function joinedModel(joined: Joined): ReportModel {
  const logs = (p: ProcessLogs) => p.threads.map(({ thread, path, report }) => [
    threadName(thread),
    path,
    count(report.events),
    count(report.rows),
    report.peakRss == null ? '-' : formatBytes(report.peakRss),
    report.damage ? `damaged at line ${report.damage.line}` : report.complete ? 'yes' : 'no',
  ])
  const functions = (rows: ThreadTotals[], value: (t: ThreadTotals) => string) =>
    rows.map((t) => [threadName(t.thread), named(t), where(t), String(t.rows), value(t)])
  return {
    title: 'memtrace profile: processes and threads',
    facts: [
      ['Logs', String(joined.logs)],
      ['Processes', joined.processes.map((p) => (p.pid === null ? 'unknown' : String(p.pid))).join(', ')],
      ['Events', count(joined.events)],
      ['Note', SHARED_RSS_NOTE],
    ],
    charts: joined.processes.map(processChart),
    // The first chart is the first process's: only its flame graph's frames are marked on it.
    flames: joined.processes.flatMap((p, n) => processFlame(p, n === 0) ?? []),
    tables: joined.processes.flatMap((p) => {
      const who = p.pid === null ? 'a process' : `process ${p.pid}`
      return [
        { title: `Logs of ${who}`, columns: ['thread', 'log', 'events', 'rows', 'peak RSS', 'complete'], rows: logs(p) },
        {
          title: `Functions by RSS growth, ${who}, every thread`,
          columns: ['thread', 'function', 'where', 'rows', 'growth'],
          rows: functions(p.byGrowth, (t) => `+${formatBytes(t.growth)}`),
        },
        {
          title: `Functions by RSS release, ${who}, every thread`,
          columns: ['thread', 'function', 'where', 'rows', 'release'],
          rows: functions(p.byRelease, (t) => `-${formatBytes(t.release)}`),
        },
        {
          title: `Stacks by RSS growth, ${who}, every thread`,
          columns: ['thread', 'function', 'where', 'called from', 'rows', 'growth'],
          rows: p.byStack.map((s) => [threadName(s.thread), ...stackCells(s), String(s.rows), `+${formatBytes(s.growth)}`]),
        },
      ]
    }),
  }
}

/** Says, under a table of several threads, why a thread's growth may not be its own. */
export const SHARED_RSS_NOTE =
  'RSS is the process\'s: growth seen by one thread may have been made by another running at the same time.'
