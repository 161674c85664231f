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

/** A statement in the growth-by-line table, with its text as the file has it now. */
export interface LineRow extends LineTotals {
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

/** The package a file belongs to: the directory after its last `node_modules`. */
export function packageOf(file: string): string {
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
  /** Statements with growth (logs made with lines on), most first. */
  byLine: LineRow[]
}

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
  const byName = (a: { function: string }, b: { function: string }) => a.function.localeCompare(b.function)
  return {
    byGrowth: functions.filter((f) => f.growth > 0).slice(0, top),
    byRelease: functions
      .filter((f) => f.release > 0)
      .sort((a, b) => b.release - a.release || byName(a, b))
      .slice(0, top),
    byPackage: [...packages.values()]
      .sort((a, b) => b.growth - a.growth || b.release - a.release || a.package.localeCompare(b.package))
      .slice(0, top),
    byLine: withText(lines.filter((l) => l.growth > 0).slice(0, top)),
  }
}

/** The longest source text a table shows. */
const TEXT_WIDTH = 60

/** `lines` with the text of each, read from its file (each file once). */
function withText(lines: LineTotals[]): LineRow[] {
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

/** Where a function is, as `file:line`. */
export function where(place: { file: string; line: number }): string {
  return `${place.file}:${place.line}`
}

/** A row's function and where it is, or only the function for a place that is no file (`<exit>`). */
export function placeOf(place: { function: string; file: string; line: number }): string {
  return place.file.startsWith('<') ? place.function : `${place.function} (${where(place)})`
}

/** A function as the tables name it: growth seen at its entry was made before it, by its caller. */
export function named(t: Totals): string {
  return t.atEntry ? `${t.function} (at entry)` : t.function
}

export const AT_ENTRY_NOTE = '"(at entry)": seen as the function was called or resumed, so the memory moved just before, in its caller.'
