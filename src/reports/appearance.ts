/**
 * What the forms of a report share, so that they read the same: series colours and styles,
 * number formats (for the page, the SVG and the terminal), tick labels and where labels go.
 *
 * The functions marked self-contained use no module-level names: the HTML report sends their
 * source to the browser, so that its charts format and place labels as the SVG does.
 */
import type { Series } from './model.js'

/** How a series is drawn, named as uPlot names its options so the HTML report can pass it on. */
export interface SeriesStyle {
  stroke: string
  /** Line width in CSS pixels. */
  width: number
  /** Dash and gap lengths; absent for a solid line. */
  dash?: number[]
}

const COLORS = ['#2563eb', '#ea580c', '#059669', '#9333ea', '#dc2626', '#0891b2', '#ca8a04', '#db2777', '#4b5563']
export const MARKER_COLOR = '#6b7280'
export const PEAK_COLOR = '#dc2626'
/** The lines that mark when the rows of a flame graph's clicked frame were logged. */
export const MARKED_COLOR = '#c026d3'

/** The first series is the one the chart is about, so it stands out; secondary ones recede. */
export function seriesStyle(series: Series, index: number): SeriesStyle {
  const stroke = COLORS[index % COLORS.length]
  if (index === 0) return { stroke, width: 2.5 }
  return series.secondary ? { stroke, width: 1.25, dash: [6, 4] } : { stroke, width: 1.5 }
}

/** `n` bytes in the largest binary unit it fills: "900 B", "512.0 MiB", "1.5 GiB". Self-contained. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let unit = 0
  while (unit < units.length - 1 && Math.abs(n) >= 1024 ** (unit + 1)) unit++
  return unit === 0 ? `${Math.round(n)} B` : `${(n / 1024 ** unit).toFixed(1)} ${units[unit]}`
}

/** Seconds, as precise as a run of that length needs: "0.25 s", "3.2 s", "184 s". Self-contained. */
export function formatSeconds(t: number): string {
  const digits = Math.abs(t) >= 100 ? 0 : Math.abs(t) >= 10 ? 1 : 2
  return `${Number(t.toFixed(digits))} s`
}

/**
 * Labels for byte ticks `step` apart (a power of two), all in one unit: the largest in which the
 * step is at least a quarter, so "0.25 GiB" steps but "1229 MiB" rather than "1.2002 GiB".
 * Self-contained.
 */
export function byteTickLabels(ticks: number[], step: number): string[] {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  const top = Math.max(...ticks.map(Math.abs))
  let unit = 0
  while (unit < units.length - 1 && top >= 1024 ** (unit + 1) && step >= 1024 ** (unit + 1) / 4) unit++
  const inUnit = step / 1024 ** unit
  const digits = inUnit >= 1 ? 0 : inUnit >= 0.5 ? 1 : 2
  return ticks.map((v) => (v === 0 ? '0' : `${(v / 1024 ** unit).toFixed(digits)} ${units[unit]}`))
}

/** Labels for time ticks `step` seconds apart, with the digits the step needs: "0.5 s", "1.0 s". Self-contained. */
export function secondTickLabels(ticks: number[], step: number): string[] {
  let digits = 0
  while (digits < 6 && Math.abs(step * 10 ** digits - Math.round(step * 10 ** digits)) > 1e-6 * 10 ** digits) digits++
  return ticks.map((t) => `${t.toFixed(digits)} s`)
}

export interface Rect {
  left: number
  top: number
  right: number
  bottom: number
}

/**
 * Where the `width` × `height` label of the point (x, y) goes: above right of it, else above
 * left, below right or below left, whichever first stays in `box` clear of the labels already
 * `placed`; the spot is added to them. Self-contained.
 */
export function placeLabel(x: number, y: number, width: number, height: number, gap: number, box: Rect, placed: Rect[]): Rect {
  const spots = [[1, -1], [-1, -1], [1, 1], [-1, 1]].map(([sx, sy]) => {
    const left = sx > 0 ? x + gap : x - gap - width
    const top = sy < 0 ? y - gap / 2 - height : y + gap / 2
    return { left, top, right: left + width, bottom: top + height }
  })
  const inside = (r: Rect) => r.left >= box.left && r.right <= box.right && r.top >= box.top && r.bottom <= box.bottom
  const clear = (r: Rect) => !placed.some((p) => r.left < p.right && p.left < r.right && r.top < p.bottom && p.top < r.bottom)
  const spot = spots.find((r) => inside(r) && clear(r)) ?? spots.find(inside) ?? spots[0]
  placed.push(spot)
  return spot
}

// Numbers as people read them in a terminal.
/** 91721728 → "87.5 MiB"; with `sign`, growth gets a "+" ("+26.7 MiB"). */
export function bytes(value: number, sign = false): string {
  return `${sign && value > 0 ? '+' : ''}${formatBytes(value)}`
}

/**
 * 1234567 → "1,234,567". Not `toLocaleString`: its first call loads ICU's locale data, ~18 ms of
 * every `memtrace run` (bench/startup.bench.mjs).
 */
export function count(value: number): string {
  return String(Math.round(value)).replace(/\B(?=(\d{3})+(?!\d))/g, ',')
}

/** (1, 'process', 'processes') → "1 process"; (3, …) → "3 processes". */
export function counted(value: number, one: string, many = `${one}s`): string {
  return `${count(value)} ${value === 1 ? one : many}`
}
