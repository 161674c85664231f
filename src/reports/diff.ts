/**
 * `memtrace diff`: two runs side by side, by function and by stack, as text, JSON and Markdown.
 *
 * A run is one log or several (a directory of them: every process of `memtrace run -- npm
 * test`); its functions and stacks are summed over its logs. A function is the same in both
 * runs when its file, line, name and kind are; a stack when its frames are. The runs' growth is
 * how far RSS rose above where each log started (peak minus first row), summed over the logs.
 */
import { bytes } from './appearance.js'
import { named, where, type LogReport } from './growth.js'
import { pathOf } from './stacks.js'
import { table } from './text.js'

/** What one run adds up to. */
export interface RunTotals {
  logs: string[]
  /** Peak RSS minus the RSS at the first row, summed over the logs. */
  growth: number
  /** The largest peak RSS among the logs. */
  peak: number
}

/** One function or stack, before and after: the sum of its NEXT rows' positive dRSS. */
export interface Change {
  name: string
  /** `file:line`; for a stack, its innermost frame's. */
  where: string
  before: number
  after: number
  change: number
}

export interface Diff {
  before: RunTotals
  after: RunTotals
  /** after.growth - before.growth. */
  change: number
  /** change / before.growth; null when before grew nothing. */
  ratio: number | null
  /** Most change (either way) first. */
  functions: Change[]
  /** Stacks, outermost frame first, as `a > b > c`; empty unless both runs have them. */
  stacks: Change[]
}

type Report = Pick<LogReport, 'functions' | 'stacks' | 'peakRss' | 'firstRss'>

function totals(logs: { path: string; report: Report }[]): RunTotals {
  return {
    logs: logs.map((l) => l.path),
    growth: logs.reduce((sum, { report }) => sum + Math.max(0, (report.peakRss ?? 0) - (report.firstRss ?? 0)), 0),
    peak: Math.max(0, ...logs.map(({ report }) => report.peakRss ?? 0)),
  }
}

/** The function each native call is made in, by the call's place and callee, from a log's stacks. */
function callers(stacks: Report['stacks']): Map<string, string> {
  const found = new Map<string, string>()
  if (!stacks) return found
  stacks.frame.forEach((frame, node) => {
    const caller = stacks.frame[stacks.parent[node]]
    if (frame < 0 || caller === undefined || caller < 0 || stacks.frames[frame].kind !== 'native') return
    const { file, line, function: callee } = stacks.frames[frame]
    found.set(JSON.stringify([file, line, callee]), stacks.frames[caller].function)
  })
  return found
}

/**
 * Growth by function, keyed so that the same function in another run has the same key. A native
 * call is named with the function it was made in, where the log's stacks tell it:
 * `Buffer.alloc (native) in remember`.
 */
function byFunction(logs: { report: Report }[]): Map<string, { name: string; where: string; growth: number }> {
  const found = new Map<string, { name: string; where: string; growth: number }>()
  for (const { report } of logs) {
    const madeIn = callers(report.stacks)
    for (const f of report.functions) {
      const key = JSON.stringify([f.file, f.line, f.function, f.native, f.atEntry])
      const caller = f.native ? madeIn.get(JSON.stringify([f.file, f.line, f.function])) : undefined
      const entry = found.get(key) ?? { name: caller ? `${named(f)} in ${caller}` : named(f), where: where(f), growth: 0 }
      entry.growth += f.growth
      found.set(key, entry)
    }
  }
  return found
}

/** Growth by stack (each node's own rows), keyed by its frames. */
function byStackPath(logs: { report: Report }[]): Map<string, { name: string; where: string; growth: number }> {
  const found = new Map<string, { name: string; where: string; growth: number }>()
  for (const { report } of logs) {
    const stacks = report.stacks
    if (!stacks) continue
    stacks.growth.forEach((growth, node) => {
      if (growth <= 0 || node === 0) return
      const frames = pathOf(stacks, node)
      const key = JSON.stringify(frames.map((f) => [f.name, f.file, f.line]))
      const entry = found.get(key) ?? { name: frames.map((f) => f.name).join(' > '), where: where(frames[frames.length - 1]), growth: 0 }
      entry.growth += growth
      found.set(key, entry)
    })
  }
  return found
}

function changes(before: ReturnType<typeof byFunction>, after: ReturnType<typeof byFunction>): Change[] {
  const keys = new Set([...before.keys(), ...after.keys()])
  const list: Change[] = []
  for (const key of keys) {
    const b = before.get(key)
    const a = after.get(key)
    const change = (a?.growth ?? 0) - (b?.growth ?? 0)
    if (change === 0) continue
    const { name, where } = (a ?? b)!
    list.push({ name, where, before: b?.growth ?? 0, after: a?.growth ?? 0, change })
  }
  return list.sort((x, y) => Math.abs(y.change) - Math.abs(x.change) || y.change - x.change || x.name.localeCompare(y.name))
}

/** Compares run `before` with run `after`, each one or more logs read. */
export function diffRuns(before: { path: string; report: Report }[], after: { path: string; report: Report }[]): Diff {
  const b = totals(before)
  const a = totals(after)
  const withStacks = before.some((l) => l.report.stacks) && after.some((l) => l.report.stacks)
  return {
    before: b,
    after: a,
    change: a.growth - b.growth,
    ratio: b.growth > 0 ? (a.growth - b.growth) / b.growth : null,
    functions: changes(byFunction(before), byFunction(after)),
    stacks: withStacks ? changes(byStackPath(before), byStackPath(after)) : [],
  }
}

/** A limit on how much more the after run may grow: bytes, or a fraction of the before run's growth. */
export type FailOver = { bytes: number } | { fraction: number }

/** Whether `diff` rose by more than `limit`. */
export function exceeds(diff: Diff, limit: FailOver): boolean {
  if ('bytes' in limit) return diff.change > limit.bytes
  return diff.before.growth > 0 ? diff.change > limit.fraction * diff.before.growth : diff.change > 0
}

export function describeLimit(limit: FailOver): string {
  return 'bytes' in limit ? bytes(limit.bytes) : `${+(limit.fraction * 100).toFixed(2)}%`
}

const percent = (ratio: number | null) => (ratio === null ? 'new' : `${ratio >= 0 ? '+' : ''}${(ratio * 100).toFixed(1)}%`)

/** One line: growth before and after, and the change. */
export function diffSummary(diff: Diff): string {
  return (
    `RSS growth ${bytes(diff.before.growth)} before, ${bytes(diff.after.growth)} after: ` +
    `${bytes(diff.change, true)} (${percent(diff.ratio)}); peak ${bytes(diff.before.peak)} before, ${bytes(diff.after.peak)} after`
  )
}

/** The comparison as text: the summary, then the functions and stacks whose growth changed most. */
export function renderDiff(diff: Diff, top: number): string {
  const lines = [`before: ${diff.before.logs.join(', ')}`, `after:  ${diff.after.logs.join(', ')}`, diffSummary(diff), '']
  const changed = (title: string, rows: Change[], what: string) =>
    rows.length === 0
      ? [`${title}: none changed`]
      : table(
          `${title}, most change first`,
          ['change', 'before', 'after', what],
          rows.slice(0, top).map((c) => [bytes(c.change, true), bytes(c.before), bytes(c.after), `${c.name} (${c.where})`]),
          3,
        )
  lines.push(...changed('Growth by function', diff.functions, 'function'))
  if (diff.stacks.length > 0) lines.push('', ...changed('Growth by stack', diff.stacks, 'stack, outermost frame first'))
  return lines.join('\n')
}

/** Markdown for a pull-request comment or a CI job summary. */
export function renderDiffMarkdown(diff: Diff, top: number): string {
  // A pipe ends a cell even in a code span; a place such as <gc> would be read as HTML.
  const code = (text: string) => `\`${text.replace(/\|/g, '\\|')}\``
  const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;')
  const table = (title: string, rows: Change[], what: string) => [
    `### ${title}`,
    '',
    rows.length === 0
      ? 'None changed.'
      : [
          `| Change | Before | After | ${what} | Where |`,
          '| ---: | ---: | ---: | --- | --- |',
          ...rows.slice(0, top).map((c) => `| ${bytes(c.change, true)} | ${bytes(c.before)} | ${bytes(c.after)} | ${code(c.name)} | ${cell(c.where)} |`),
        ].join('\n'),
    '',
  ]
  const lines = ['## memtrace diff', '', `**${cell(diffSummary(diff))}**`, '', ...table('Growth by function', diff.functions, 'Function')]
  if (diff.stacks.length > 0) lines.push(...table('Growth by stack', diff.stacks, 'Stack (outermost frame first)'))
  return lines.join('\n')
}
