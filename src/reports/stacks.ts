/**
 * Growth by call stack, as the reports tell it, from the tree of stacks the log reader builds
 * (`crates/core/src/stacks.rs`: where each row's RSS change is put down): the stacks that grew
 * most, for the text and JSON reports, and the whole tree for the HTML report's flame graph.
 */
import type { LogReport } from './growth.js'

export type Stacks = NonNullable<LogReport['stacks']>
export type StackFrame = Stacks['frames'][number]

/** A stack whose rows grew memory, with what they grew and released there. */
export interface StackRow {
  growth: number
  release: number
  rows: number
  /** Outermost first; empty for top-level code. */
  frames: StackFrame[]
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
  }))
}

/** The frames of `node`'s stack, outermost first. */
export function pathOf(stacks: Stacks, node: number): StackFrame[] {
  const frames: StackFrame[] = []
  for (let at = node; at !== 0; at = stacks.parent[at]) frames.push(stacks.frames[stacks.frame[at]])
  return frames.reverse()
}

/** A frame as one line names it: `Buffer.alloc (native)`, `leak`, `line 12 of leak`, `scavenge (GC)`. */
export function frameName(frame: StackFrame): string {
  switch (frame.kind) {
    case 'native':
      return `${frame.function} (native)`
    case 'line':
      return `line ${frame.line} of ${frame.function}`
    case 'gc':
      return `${frame.function} (GC)`
    default:
      return frame.function
  }
}

/** A node of the flame graph: a stack, its growth and that of every stack above it. */
export interface FlameNode {
  name: string
  /** `file:line`, for the tooltip. */
  where: string
  /** Growth of this stack and the stacks above it (bytes). */
  value: number
  /** Index of the stack in the log's tree. */
  node: number
  children: FlameNode[]
}

/** The flame graph of growth: the tree of stacks with growth, each as wide as its growth and its callees'. */
export function flameTree(stacks: Stacks): FlameNode {
  const total = [...stacks.growth]
  for (let node = total.length - 1; node > 0; node--) total[stacks.parent[node]] += total[node]
  const made: FlameNode[] = total.map((value, node) => {
    const frame = stacks.frame[node] < 0 ? null : stacks.frames[stacks.frame[node]]
    return {
      name: frame ? frameName(frame) : 'all',
      where: frame ? `${frame.file}:${frame.line}` : '',
      value,
      node,
      children: [],
    }
  })
  // A node comes after its parent: children in order of first appearance.
  for (let node = 1; node < made.length; node++) {
    if (total[node] > 0) made[stacks.parent[node]].children.push(made[node])
  }
  return made[0]
}
