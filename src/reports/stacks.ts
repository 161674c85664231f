/**
 * Growth by call stack, as the reports tell it, from the tree of stacks the log reader builds
 * (`crates/core/src/stacks.rs`: where each row's RSS change is put down): the stacks that grew
 * most, for the text and JSON reports, and the whole tree for the HTML report's flame graph.
 */
import { named, where, type LogReport } from './growth.js'
import type { HeapReport } from './heapprofile.js'
import type { Flame, FlameNode } from './model.js'

export type Stacks = NonNullable<LogReport['stacks']>
export type StackFrame = Stacks['frames'][number]

/** A stack whose rows grew memory, with what they grew and released there. */
export interface StackRow {
  growth: number
  release: number
  rows: number
  /** Outermost first; empty for top-level code. */
  frames: StackFrame[]
  /** What the stack with no frames is called: code outside any traced function, or V8's root. */
  outside: string
}

/** The `top` stacks with the most growth (then release), most first. */
export function byStack(stacks: Stacks | null | undefined, top: number): StackRow[] {
  if (!stacks) return []
  const nodes = stacks.growth.map((_, node) => node).filter((node) => stacks.growth[node] > 0)
  nodes.sort((a, b) => stacks.growth[b] - stacks.growth[a] || stacks.release[b] - stacks.release[a] || a - b)
  return nodes.slice(0, top).map((node) => ({
    growth: stacks.growth[node],
    release: stacks.release[node],
    rows: stacks.rows[node],
    frames: pathOf(stacks, node),
    outside: stacks.outside,
  }))
}

/** A stack as a table's cells: the function on top of it, where that is, and its caller. */
export function stackCells(stack: StackRow): [string, string, string] {
  const [leaf, caller] = [stack.frames.at(-1), stack.frames.at(-2)]
  return [leaf?.name ?? stack.outside, leaf ? where(leaf) : '', caller ? `${caller.name} (${where(caller)})` : '']
}

/** Where memory grew: a function, or the innermost frame of a stack and its callers. */
export interface Growth {
  growth: number
  name: string
  /** `file:line`. */
  where: string
  /** The functions it was called from, innermost first (a few). */
  callers: string[]
}

/** How many callers of a place that grew are named. */
const CALLERS = 3

/**
 * The `top` places where `report` says RSS grew most, most first: by stack where the log has
 * stacks, so that a native call (`Buffer.alloc`) comes with the function that made it.
 */
export function whereGrown(report: Pick<LogReport, 'stacks' | 'functions'>, top: number): Growth[] {
  if (report.stacks) {
    return byStack(report.stacks, top)
      .filter((stack) => stack.frames.length > 0)
      .map((stack) => {
        const [innermost, ...callers] = stack.frames.toReversed()
        return { growth: stack.growth, name: innermost.name, where: where(innermost), callers: callers.slice(0, CALLERS).map((f) => f.name) }
      })
  }
  return report.functions
    .filter((f) => f.growth > 0)
    .slice(0, top)
    .map((f) => ({ growth: f.growth, name: named(f), where: where(f), callers: [] }))
}

/** `Buffer.alloc (native) (app.js:3), called from retain < <module>`. */
export function describeGrowth(growth: Growth): string {
  return `${growth.name} (${growth.where})${growth.callers.length > 0 ? `, called from ${growth.callers.join(' < ')}` : ''}`
}

/** The frames of `node`'s stack, outermost first. */
export function pathOf(stacks: Stacks, node: number): StackFrame[] {
  const frames: StackFrame[] = []
  for (let at = node; at !== 0; at = stacks.parent[at]) frames.push(stacks.frames[stacks.frame[at]])
  return frames.reverse()
}

/** The flame graph of growth: the tree of stacks with growth, each as wide as its growth and its callees'. */
export function flameTree(stacks: Stacks): FlameNode {
  const total = [...stacks.growth]
  for (let node = total.length - 1; node > 0; node--) total[stacks.parent[node]] += total[node]
  const made: FlameNode[] = total.map((value, node) => {
    const frame = stacks.frame[node] < 0 ? null : stacks.frames[stacks.frame[node]]
    const at = stacks.largestAt[node]
    return {
      name: frame ? frame.name : 'all',
      where: frame ? where(frame) : '',
      value,
      at: at >= 0 ? at : null,
      children: [],
    }
  })
  // A node comes after its parent: children in order of first appearance.
  for (let node = 1; node < made.length; node++) {
    if (total[node] > 0) made[stacks.parent[node]].children.push(made[node])
  }
  return made[0]
}

/** The flame graphs of a heap profile: its live allocations, and its collected ones where it has them. */
export function heapFlames(heap: HeapReport): Flame[] {
  const live: Flame = {
    title: "Live JavaScript allocations by call stack (V8's sampling heap profiler)",
    hint: 'Each frame is as wide as the JavaScript objects allocated in it and in what it called that were still alive at the end.',
    root: flameTree(heap.stacks),
    marks: false,
  }
  if (!heap.collected) return [live]
  const collected: Flame = {
    title: 'JavaScript allocations collected before the end, by call stack: churn',
    hint: 'Each frame is as wide as the JavaScript objects allocated in it and in what it called that the garbage collector had freed by the end.',
    root: flameTree(heap.collected.stacks),
    marks: false,
  }
  return [live, collected]
}
