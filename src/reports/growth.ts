/**
 * Who moved memory, as the reports tell it: the functions with the most growth and the most
 * release, and the same summed by package, so that tooling loaded with a program (tsx, esbuild,
 * a test runner) shows as such. The text, JSON and HTML reports all take their tables from here.
 */
import { readFileSync } from 'node:fs'

import type { native } from '../native.js'

export type LogReport = ReturnType<typeof native.readLog>
export type Totals = LogReport['functions'][number]
export type LineTotals = LogReport['lines'][number]

/** A line in the growth-by-line table, with its text as the file has it now. */
export interface LineRow extends LineTotals {
  /** The line was seen only by the native calls made on it: `function` is the callee. */
  native: boolean
  /** The source line, trimmed (and shortened); empty when the file cannot be read. */
  text: string
}

export interface PackageTotals {
  /** The package's name (`tsx`, `@babel/core`), or {@link OWN_CODE}. */
  package: string
  growth: number
  release: number
  /** Functions of the package with growth or release. */
  functions: number
}

/** What is not under a node_modules directory: the program itself, or code with no file. */
export const OWN_CODE = '(not in node_modules)'

/** What GC rows (File `<gc>`) count under in the table by package. */
export const GARBAGE_COLLECTION = '(garbage collection)'

/** The package a file belongs to: the directory after its last `node_modules`. */
export function packageOf(file: string): string {
  if (file === '<gc>') return GARBAGE_COLLECTION
  const parts = file.split(/[\\/]/)
  const at = parts.lastIndexOf('node_modules')
  if (at < 0 || at + 1 >= parts.length) return OWN_CODE
  const name = parts[at + 1]
  return name.startsWith('@') && at + 2 < parts.length ? `${name}/${parts[at + 2]}` : name
}

export interface Tables {
  /** Functions with growth, most first (the log reader's order). */
  byGrowth: Totals[]
  /** Functions with release, most first. */
  byRelease: Totals[]
  /** Packages with growth or release, most growth first. */
  byPackage: PackageTotals[]
  /**
   * Lines with growth, most first: their statements' LINE rows (logs made with lines on) and the
   * native calls made on them (C_RETURN, C_EXCEPT).
   */
  byLine: LineRow[]
}

/** Strings in code-unit order, as the log reader (Rust) orders them, not the locale's. */
const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/** Ties broken by name and place, as the log reader breaks them, so that every form of a report lists them in one order. */
const byName = (a: Totals, b: Totals) => compare(a.function, b.function) || compare(a.file, b.file) || a.line - b.line

/** The order of the table by growth, as the log reader sorts `functions`: most growth first. */
export const mostGrowthFirst = (a: Totals, b: Totals) => b.growth - a.growth || b.release - a.release || byName(a, b)

/** The order of the table by release: most release first. */
export const mostReleaseFirst = (a: Totals, b: Totals) => b.release - a.release || byName(a, b)

/** The first `top` rows of each table; a row with nothing to show is in none. */
export function growthTables(report: Pick<LogReport, 'functions' | 'lines'>, top: number): Tables {
  const { functions, lines } = report
  const packages = new Map<string, PackageTotals>()
  const functionsOf = new Map<string, Set<string>>()
  for (const f of [...functions, ...lines]) {
    if (f.growth === 0 && f.release === 0) continue
    const name = packageOf(f.file)
    const entry = packages.get(name) ?? { package: name, growth: 0, release: 0, functions: 0 }
    entry.growth += f.growth
    entry.release += f.release
    // A function counts once, whether its growth was seen at its calls or at its lines.
    const seen = functionsOf.get(name) ?? new Set()
    seen.add(`${f.file}\0${f.function}`)
    functionsOf.set(name, seen)
    entry.functions = seen.size
    packages.set(name, entry)
  }
  return {
    byGrowth: functions.filter((f) => f.growth > 0).slice(0, top),
    byRelease: functions
      .filter((f) => f.release > 0)
      .sort(mostReleaseFirst)
      .slice(0, top),
    byPackage: [...packages.values()]
      .sort((a, b) => b.growth - a.growth || b.release - a.release || a.package.localeCompare(b.package))
      .slice(0, top),
    byLine: withText(
      byLineOf(lines, functions)
        .filter((l) => l.growth > 0)
        .slice(0, top),
    ),
  }
}

/** LINE totals and the growth of native calls made on each line, most growth first. */
function byLineOf(lines: LineTotals[], functions: Totals[]): Omit<LineRow, 'text'>[] {
  const rows = new Map<string, Omit<LineRow, 'text'>>()
  for (const l of lines) rows.set(`${l.file}\0${l.line}`, { ...l, native: false })
  // A native call's growth as it ran (not at its entry, which was its caller's).
  for (const f of functions.filter((f) => f.native && !f.atEntry)) {
    const key = `${f.file}\0${f.line}`
    const row = rows.get(key)
    if (row) {
      row.growth += f.growth
      row.release += f.release
      row.rows += f.rows
    } else {
      rows.set(key, { file: f.file, line: f.line, function: f.function, native: true, growth: f.growth, release: f.release, rows: f.rows })
    }
  }
  return [...rows.values()].sort((a, b) => b.growth - a.growth || a.file.localeCompare(b.file) || a.line - b.line)
}

/** The longest source text a table shows. */
const TEXT_WIDTH = 60

/** `lines` with the text of each, read from its file (each file once). */
function withText(lines: Omit<LineRow, 'text'>[]): LineRow[] {
  const files = new Map<string, string[] | null>()
  const textOf = (file: string, line: number) => {
    if (!files.has(file)) {
      try {
        files.set(file, readFileSync(file, 'utf8').split(/\r?\n/))
      } catch {
        files.set(file, null)
      }
    }
    const text = files.get(file)?.[line - 1]?.trim() ?? ''
    return text.length > TEXT_WIDTH ? `${text.slice(0, TEXT_WIDTH - 1)}…` : text
  }
  return lines.map((l) => ({ ...l, text: textOf(l.file, l.line) }))
}

/** What grew between the first and the last HEAP row of a log (made with `gc`), in bytes. */
export interface HeapGrowth {
  /** Seconds: the clock of the first and the last HEAP row. */
  from: number
  to: number
  /** RSS over the same span, from the rows logged nearest its ends. */
  rss: number
  /** The JS heap: the part in use, and all V8 holds for it. */
  used: number
  total: number
  /** Memory outside the JS heap that JS objects hold (Buffers and ArrayBuffers among it). */
  external: number
  /** The part of `external` that ArrayBuffers and Buffers hold, where the log has it. */
  arrayBuffers: number | null
}

/** The growth of RSS and of V8's heap figures between the first and last HEAP rows, if two. */
export function heapGrowth(
  report: Pick<LogReport, 'heapClock' | 'heapUsed' | 'heapTotal' | 'heapExternal' | 'heapArrayBuffers' | 'timelineClock' | 'timelineRss'>,
): HeapGrowth | null {
  const n = report.heapClock.length
  if (n < 2) return null
  const from = report.heapClock[0]
  const to = report.heapClock[n - 1]
  // The RSS of the last row at or before a moment (the first row's if none is).
  const rssAt = (clock: number) => {
    let at = 0
    while (at + 1 < report.timelineClock.length && report.timelineClock[at + 1] <= clock) at++
    return report.timelineRss[at] ?? 0
  }
  return {
    from,
    to,
    rss: rssAt(to) - rssAt(from),
    used: report.heapUsed[n - 1] - report.heapUsed[0],
    total: report.heapTotal[n - 1] - report.heapTotal[0],
    external: report.heapExternal[n - 1] - report.heapExternal[0],
    arrayBuffers: report.heapArrayBuffers ? report.heapArrayBuffers[n - 1] - report.heapArrayBuffers[0] : null,
  }
}

/**
 * `growth` in one line, bytes written by `format`: how RSS moved, and how much of it was the JS
 * heap, memory outside it that V8 counts (external) and the rest, native memory V8 does not count
 * (code, addons, the allocator); and which grew most.
 */
export function describeHeapGrowth(growth: HeapGrowth, format: (bytes: number) => string): string {
  const signed = (n: number) => `${n < 0 ? '-' : '+'}${format(Math.abs(n))}`
  const native = growth.rss - growth.total - growth.external
  const parts: [string, number][] = [
    ['the JS heap', growth.total],
    ['external', growth.external],
    ['native memory', native],
  ]
  const most = parts.reduce((a, b) => (b[1] > a[1] ? b : a))
  return (
    `from the first collection (${growth.from.toFixed(3)} s) to the last (${growth.to.toFixed(3)} s): RSS ${signed(growth.rss)} = ` +
    `JS heap ${signed(growth.total)} (in use ${signed(growth.used)}) + external ${signed(growth.external)} ` +
    (growth.arrayBuffers === null ? '(Buffers, ArrayBuffers among it) + ' : `(of which Buffers and ArrayBuffers ${signed(growth.arrayBuffers)}) + `) +
    `native memory ${signed(native)}${growth.rss > 0 ? `; most of the growth: ${most[0]}` : ''}`
  )
}

/** Where a function is, as `file:line`; a place that is no file (`<gc>`) as itself. */
export function where(place: { file: string; line: number }): string {
  return place.file.startsWith('<') && place.line === 0 ? place.file : `${place.file}:${place.line}`
}

/** A row's function and where it is, or only the function for a place that is no file (`<exit>`). */
export function placeOf(place: { function: string; file: string; line: number }): string {
  return place.file.startsWith('<') ? place.function : `${place.function} (${where(place)})`
}

/**
 * A function as the tables name it: a native callee is marked so (its row's place is the call's),
 * and growth seen at its entry was made before it, by its caller.
 */
export function named(t: { function: string; native: boolean; atEntry?: boolean }): string {
  const notes = [t.native ? 'native' : '', t.atEntry ? 'at entry' : ''].filter((note) => note !== '')
  return notes.length > 0 ? `${t.function} (${notes.join(', ')})` : t.function
}

export const GC_NOTE = '<gc>: what RSS moved while collections ran; the event row after a collection counts it again.'

export const AT_ENTRY_NOTE = '"(at entry)": seen as the function was called or resumed, so the memory moved just before, in its caller.'
