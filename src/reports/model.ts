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

export interface ReportModel {
  title: string
  /** Label and value pairs shown under the title: command, pid, start time, versions… */
  facts: [string, string][]
  charts: Chart[]
  tables: Table[]
}
