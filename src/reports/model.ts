/**
 * What a visual report shows, independent of how it is drawn (HTML with uPlot, or SVG) and of
 * which log it came from (a monitor's JSON Lines or a profiler's text log).
 */

/** One line on a chart. `values[i]` belongs to `Chart.times[i]`; null where there is no value. */
export interface Series {
  name: string
  values: (number | null)[]
  /** Drawn with a thinner, dashed line: per-process lines under a total, heap figures. */
  secondary?: boolean
}

/** A labelled point in time: a user's mark, or an event worth pointing at. */
export interface Marker {
  time: number
  label: string
}

/** A labelled point on a series: the peak, or a large jump annotated by function. */
export interface Annotation {
  time: number
  value: number
  label: string
}

export interface Chart {
  title: string
  /** Seconds since the start of the run, ascending. */
  times: number[]
  /** All in bytes. The first is the main one (RSS, or the sum over a process tree). */
  series: Series[]
  markers: Marker[]
  peak: Annotation | null
  annotations: Annotation[]
}

export interface Table {
  title: string
  columns: string[]
  rows: string[][]
}

/** A flame graph's frame: a call stack, as wide as the memory grown in it and above it. */
export interface FlameNode {
  name: string
  /** `file:line`, for the frame's label. */
  where: string
  /** Growth of this stack and of the stacks above it (bytes). */
  value: number
  /** When its row with the most growth was logged (seconds), if it grew: marked on the first chart. */
  at: number | null
  children: FlameNode[]
}

export interface Flame {
  title: string
  /** What a frame's width means, in a sentence. */
  hint: string
  root: FlameNode
  /** Whether its frames know when their rows were logged, to mark them on the first chart. */
  marks: boolean
}

export interface ReportModel {
  title: string
  /** Label and value pairs shown under the title: command, pid, start time, versions… */
  facts: [string, string][]
  charts: Chart[]
  /** Flame graphs, drawn after the first chart: RSS growth by stack, live allocations by stack. */
  flames?: Flame[]
  tables: Table[]
}
