/**
 * A chart as one standalone SVG, for READMEs and issues where no script runs: pure string
 * building, with long series reduced to what each pixel column can show.
 */
import {
  byteTickLabels,
  formatBytes,
  MARKER_COLOR,
  PEAK_COLOR,
  placeLabel,
  secondTickLabels,
  seriesStyle,
  type Rect,
} from './appearance.js'
import type { Chart, Series } from './model.js'

export interface SvgOptions {
  /** In pixels; 800 unless given. */
  width?: number
  /** In pixels; 400 unless given. */
  height?: number
}

/** Replaces what XML cannot hold (control characters, lone surrogates), then escapes markup. */
function xml(text: string): string {
  return text
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
    .replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

const FONT_SIZE = 12
/** SVG cannot measure text; this errs wide for a system sans-serif, so labels rarely collide. */
const textWidth = (text: string, size = FONT_SIZE) => text.length * size * 0.6
const num = (n: number) => (Math.round(n * 10) / 10).toString()

/** The smallest power of two that cuts `span` into at most `count` steps. */
function binaryStep(span: number, count: number): number {
  let step = 1
  while (span / step > count) step *= 2
  return step
}

/** The smallest 1, 2 or 5 times a power of ten that cuts `span` into at most `count` steps. */
function decimalStep(span: number, count: number): number {
  const base = 10 ** Math.floor(Math.log10(span / count))
  return [1, 2, 5, 10].map((m) => m * base).find((step) => span / step <= count)!
}

function ticksBetween(low: number, high: number, step: number): number[] {
  const ticks: number[] = []
  for (let i = Math.ceil(low / step - 1e-9); i * step <= high + step * 1e-9; i++) ticks.push(i * step)
  return ticks
}

/**
 * The path of one series. Per pixel column it keeps only the first, lowest, highest and last
 * points, which draw the same line as all of them; a null (or non-finite value) ends the line.
 */
function seriesPath(times: number[], values: (number | null)[], x: (t: number) => number, y: (v: number) => number): string {
  const parts: string[] = []
  let first = -1
  let low = -1
  let high = -1
  let last = -1
  let column = NaN
  let points = 0
  let lastPoint = ''
  const flush = () => {
    if (first < 0) return
    for (const i of [...new Set([first, low, high, last])].sort((a, b) => a - b)) {
      lastPoint = `${num(x(times[i]))} ${num(y(values[i]!))}`
      parts.push(`${points++ === 0 ? 'M' : 'L'}${lastPoint}`)
    }
    first = -1
  }
  const breakLine = () => {
    flush()
    // A lone point has no length to stroke; repeating it lets the round cap draw a dot.
    if (points === 1) parts.push(`L${lastPoint}`)
    points = 0
  }
  for (let i = 0; i < times.length; i++) {
    const v = values[i]
    if (v === null || !Number.isFinite(v)) {
      breakLine()
      continue
    }
    const c = Math.floor(x(times[i]))
    if (c !== column) {
      flush()
      column = c
    }
    if (first < 0) {
      first = low = high = last = i
    } else {
      last = i
      if (v < values[low]!) low = i
      if (v > values[high]!) high = i
    }
  }
  breakLine()
  return parts.join('')
}

/** A rectangle in pixels, with y growing downwards. */
/** A text element with a white halo, legible over grid and lines. */
function label(text: string, x: number, y: number, anchor: 'start' | 'end', attrs = ''): string {
  return `<text x="${num(x)}" y="${num(y)}" text-anchor="${anchor}" stroke="#fff" stroke-width="3" stroke-linejoin="round" paint-order="stroke"${attrs}>${xml(text)}</text>`
}

/**
 * The peak and annotations as dots with labels. Every dot counts as taken before any label is
 * placed, so no label covers one; the peak's label is placed first, in the best spot.
 */
function points(chart: Chart, x: (t: number) => number, y: (v: number) => number, box: Rect): string[] {
  const all = [
    ...(chart.peak ? [{ at: chart.peak, peak: true, text: `Peak ${formatBytes(chart.peak.value)}${chart.peak.label ? `: ${chart.peak.label}` : ''}` }] : []),
    ...chart.annotations.map((at) => ({ at, peak: false, text: at.label })),
  ]
  const shown = all.map((p) => ({ ...p, x: x(p.at.time), y: y(p.at.value) })).filter((p) => p.x >= box.left && p.x <= box.right)
  const placed = shown.map(({ x, y }) => ({ left: x - 4.5, top: y - 4.5, right: x + 4.5, bottom: y + 4.5 }))
  const dots = shown.map(({ x, y, peak }) =>
    peak
      ? `<circle cx="${num(x)}" cy="${num(y)}" r="4.5" fill="${PEAK_COLOR}" stroke="#fff" stroke-width="1.5"/>`
      : `<circle cx="${num(x)}" cy="${num(y)}" r="3.5" fill="#fff" stroke="#374151" stroke-width="1.5"/>`,
  )
  const labels = shown.map(({ x, y, peak, text }) => {
    const size = peak ? FONT_SIZE : 11
    const spot = placeLabel(x, y, textWidth(text, size), size + 4, 10, box, placed)
    const attrs = peak ? ` font-weight="600" fill="${PEAK_COLOR}"` : ` fill="#374151"`
    return label(text, spot.left, (spot.top + spot.bottom) / 2 + size * 0.35, 'start', ` font-size="${size}"${attrs}`)
  })
  return [...dots, ...labels]
}

const BAND_TOP = 40
const ROW_HEIGHT = 15

interface MarkerLabel {
  at: number
  row: number
  anchor: 'start' | 'end'
  text: string
}

/**
 * Marker labels in rows above the plot, so lines never run under them: each goes right of its
 * line (left near the edge) in the first row where it misses the one before, up to three rows.
 */
function markerLabels(chart: Chart, x: (t: number) => number, left: number, right: number): MarkerLabel[] {
  const rowEnds: number[] = []
  const labels: MarkerLabel[] = []
  for (const marker of chart.markers) {
    const at = x(marker.time)
    if (!(at >= left && at <= right)) continue
    const width = textWidth(marker.label)
    const anchor = at + 4 + width > right ? 'end' : 'start'
    const start = anchor === 'end' ? at - 4 - width : at + 4
    let row = rowEnds.findIndex((end) => end < start)
    if (row < 0) row = rowEnds.length < 3 ? rowEnds.length : rowEnds.indexOf(Math.min(...rowEnds))
    rowEnds[row] = start + width + 6
    labels.push({ at, row, anchor, text: marker.label })
  }
  return labels
}

function markers(labels: MarkerLabel[], box: Rect): string[] {
  return labels.flatMap(({ at, row, anchor, text }) => [
    `<line x1="${num(at)}" y1="${BAND_TOP}" x2="${num(at)}" y2="${box.bottom}" stroke="${MARKER_COLOR}" stroke-width="1" stroke-dasharray="4 3"/>`,
    label(text, anchor === 'end' ? at - 4 : at + 4, BAND_TOP + 11 + row * ROW_HEIGHT, anchor, ` fill="#374151"`),
  ])
}

/** The legend's items, wrapped into rows that fit `width`; each is [x offset, row, series]. */
function legendLayout(series: Series[], width: number): [number, number, number][] {
  const items: [number, number, number][] = []
  let x = 0
  let row = 0
  series.forEach((s, i) => {
    const w = 28 + textWidth(s.name) + 18
    if (x > 0 && x + w > width) {
      x = 0
      row++
    }
    items.push([x, row, i])
    x += w
  })
  return items
}

function extent(chart: Chart): { t0: number; t1: number; vMin: number; vMax: number } {
  let vMin = 0
  let vMax = 0
  for (const s of chart.series) {
    for (const v of s.values) {
      if (v === null || !Number.isFinite(v)) continue
      if (v < vMin) vMin = v
      if (v > vMax) vMax = v
    }
  }
  for (const a of [...chart.annotations, ...(chart.peak ? [chart.peak] : [])]) {
    vMin = Math.min(vMin, a.value)
    vMax = Math.max(vMax, a.value)
  }
  const t0 = chart.times.length > 0 ? chart.times[0] : 0
  const t1 = chart.times.length > 1 ? chart.times[chart.times.length - 1] : t0 + 1
  return { t0, t1: t1 > t0 ? t1 : t0 + 1, vMin, vMax }
}

/** `chart` as a standalone SVG document: axes, series, legend, markers, peak and annotations. */
export function renderSvg(chart: Chart, options: SvgOptions = {}): string {
  const width = options.width ?? 800
  const height = options.height ?? 400
  const { t0, t1, vMin, vMax } = extent(chart)
  const [left, right] = [72, width - 20]
  const x = (t: number) => left + ((t - t0) / (t1 - t0)) * (right - left)
  const labels = markerLabels(chart, x, left, right)
  const rows = Math.max(0, ...labels.map((l) => l.row + 1))
  const legend = legendLayout(chart.series, width - 90)
  const legendRows = legend.length > 0 ? legend[legend.length - 1][1] + 1 : 0
  const box: Rect = { left, right, top: BAND_TOP + (rows > 0 ? rows * ROW_HEIGHT + 6 : 0), bottom: height - 36 - legendRows * 18 }

  // Headroom above the highest value leaves room for the peak's label.
  const yStep = binaryStep(Math.max(vMax - vMin, 1) * 1.1, Math.max(2, Math.floor((box.bottom - box.top) / 45)))
  const yLow = Math.floor(vMin / yStep) * yStep
  const yHigh = Math.ceil((vMax + (vMax - vMin) * 0.1) / yStep) * yStep || yStep
  const xStep = decimalStep(t1 - t0, Math.max(2, Math.floor((right - left) / 80)))
  const y = (v: number) => box.bottom - ((v - yLow) / (yHigh - yLow)) * (box.bottom - box.top)

  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif" font-size="${FONT_SIZE}" fill="#1f2937">`,
    // Opaque, so the chart stays readable on a dark page too.
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="${left}" y="24" font-size="15" font-weight="600">${xml(chart.title)}</text>`,
  ]

  const yTicks = ticksBetween(yLow, yHigh, yStep)
  byteTickLabels(yTicks, yStep).forEach((text, i) => {
    const at = num(y(yTicks[i]))
    out.push(`<line x1="${left}" y1="${at}" x2="${right}" y2="${at}" stroke="#e5e7eb"/>`)
    out.push(`<text x="${left - 8}" y="${at}" dy="0.35em" text-anchor="end" fill="#4b5563">${xml(text)}</text>`)
  })
  const xTicks = ticksBetween(t0, t1, xStep)
  secondTickLabels(xTicks, xStep).forEach((text, i) => {
    const at = num(x(xTicks[i]))
    out.push(`<line x1="${at}" y1="${box.bottom}" x2="${at}" y2="${box.bottom + 5}" stroke="#9ca3af"/>`)
    out.push(`<text x="${at}" y="${box.bottom + 18}" text-anchor="middle" fill="#4b5563">${xml(text)}</text>`)
  })
  out.push(`<path d="M${left} ${box.top}V${box.bottom}H${right}" fill="none" stroke="#9ca3af"/>`)

  out.push(`<g fill="none" stroke-linejoin="round" stroke-linecap="round">`)
  // Drawn last to first, so the main series lies on top.
  for (let i = chart.series.length - 1; i >= 0; i--) {
    const style = seriesStyle(chart.series[i], i)
    const dash = style.dash ? ` stroke-dasharray="${style.dash.join(' ')}"` : ''
    out.push(`<path d="${seriesPath(chart.times, chart.series[i].values, x, y)}" stroke="${style.stroke}" stroke-width="${style.width}"${dash}/>`)
  }
  out.push(`</g>`)

  out.push(...markers(labels, box))
  out.push(...points(chart, x, y, box))
  if (chart.times.length === 0) {
    out.push(`<text x="${num((left + right) / 2)}" y="${num((box.top + box.bottom) / 2)}" text-anchor="middle" fill="#6b7280">No samples</text>`)
  }

  const legendTop = height - 10 - (legendRows - 1) * 18
  for (const [dx, row, i] of legend) {
    const style = seriesStyle(chart.series[i], i)
    const at = legendTop + row * 18
    const dash = style.dash ? ` stroke-dasharray="${style.dash.join(' ')}"` : ''
    out.push(`<line x1="${left + dx}" y1="${at - 4}" x2="${left + dx + 22}" y2="${at - 4}" stroke="${style.stroke}" stroke-width="${style.width}"${dash}/>`)
    out.push(`<text x="${left + dx + 28}" y="${at}">${xml(chart.series[i].name)}</text>`)
  }

  out.push('</svg>')
  return out.join('\n') + '\n'
}
