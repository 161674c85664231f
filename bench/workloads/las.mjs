// The seed's workload, for Node: read many structured text files of varied sizes (well logs in
// the LAS 2.0 layout: header sections, then columns of numbers), summarise each as an HTML page
// with tables and histograms, and write an index. The files are generated deterministically, so
// every run and every configuration reads the same bytes.
import { mkdirSync, readFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs'
import { join } from 'node:path'

/** A small seeded PRNG (mulberry32), so that generated files are the same every time. */
function random(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const CURVES = [
  ['DT', 'US/M', 'SONIC TRANSIT TIME'],
  ['RHOB', 'K/M3', 'BULK DENSITY'],
  ['NPHI', 'V/V', 'NEUTRON POROSITY'],
  ['SFLU', 'OHMM', 'RXO RESISTIVITY'],
  ['SFLA', 'OHMM', 'SHALLOW RESISTIVITY'],
  ['ILM', 'OHMM', 'MEDIUM RESISTIVITY'],
  ['ILD', 'OHMM', 'DEEP RESISTIVITY'],
  ['GR', 'GAPI', 'GAMMA RAY'],
]

function generateOne(index, rows, curves, next) {
  const lines = ['~Version Information', ' VERS.                  2.0 : CWLS LOG ASCII STANDARD - VERSION 2.0', ' WRAP.                   NO : ONE LINE PER DEPTH STEP']
  const start = 1000 + index * 10
  lines.push('~Well Information')
  lines.push(` STRT.M          ${start.toFixed(4)} : START DEPTH`, ` STOP.M          ${(start + rows * 0.125).toFixed(4)} : STOP DEPTH`)
  lines.push(' STEP.M               0.1250 : STEP', ' NULL.              -999.25 : NULL VALUE', ` WELL.      WELL_${index} : WELL`, ` FLD .      FIELD_${index % 7} : FIELD`)
  lines.push('~Curve Information', ' DEPT.M                     : 1  DEPTH')
  for (let c = 0; c < curves; c++) lines.push(` ${CURVES[c][0].padEnd(4)}.${CURVES[c][1].padEnd(12)}         : ${c + 2}  ${CURVES[c][2]}`)
  lines.push(`~A  DEPTH ${CURVES.slice(0, curves).map((c) => c[0]).join(' ')}`)
  const levels = CURVES.map(() => 50 + next() * 200)
  for (let r = 0; r < rows; r++) {
    const values = [(start + r * 0.125).toFixed(3)]
    for (let c = 0; c < curves; c++) {
      levels[c] += (next() - 0.5) * 4
      values.push(next() < 0.01 ? '-999.25' : levels[c].toFixed(4))
    }
    lines.push(values.join(' '))
  }
  return lines.join('\n') + '\n'
}

/** Writes the input files into `dir` (once: they are reused when present). */
export function generate(dir, { files = 48, seed = 5862 } = {}) {
  mkdirSync(dir, { recursive: true })
  const next = random(seed)
  const names = []
  for (let i = 0; i < files; i++) {
    const name = `well_${String(i).padStart(3, '0')}.las`
    names.push(name)
    // Sizes from a few KiB to a few MiB, spread like the seed's (4.6 KB to 27 MB).
    const rows = Math.round(40 * Math.pow(1000, next()))
    const curves = 3 + Math.floor(next() * (CURVES.length - 3))
    const path = join(dir, name)
    if (!existsSync(path)) writeFileSync(path, generateOne(i, rows, curves, next))
  }
  return names
}

// ---- The summariser: what is being traced. ----

function parseHeaderLine(line) {
  const dot = line.indexOf('.')
  const colon = line.lastIndexOf(':')
  if (dot < 0 || colon < 0) return null
  const mnemonic = line.slice(0, dot).trim()
  const rest = line.slice(dot + 1, colon)
  const space = rest.indexOf(' ')
  const unit = space < 0 ? rest.trim() : rest.slice(0, space).trim()
  const value = space < 0 ? '' : rest.slice(space).trim()
  return { mnemonic, unit, value, description: line.slice(colon + 1).trim() }
}

function parseSections(text) {
  const sections = new Map()
  let current = null
  let dataStart = -1
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    if (line.startsWith('~')) {
      const name = line.slice(1, 2).toUpperCase()
      if (name === 'A') {
        dataStart = i + 1
        break
      }
      current = []
      sections.set(name, current)
    } else if (current && line.trim() !== '') {
      const entry = parseHeaderLine(line)
      if (entry) current.push(entry)
    }
  }
  return { sections, lines, dataStart }
}

function parseValue(token, nullValue) {
  const value = Number(token)
  return value === nullValue || Number.isNaN(value) ? NaN : value
}

function parseData(lines, start, columns, nullValue) {
  const data = columns.map(() => [])
  for (let i = start; i < lines.length; i++) {
    const line = lines[i]
    if (line === '') continue
    const tokens = line.split(' ')
    for (let c = 0; c < columns.length; c++) data[c].push(parseValue(tokens[c], nullValue))
  }
  return data.map((values) => Float64Array.from(values))
}

function statistics(values) {
  let count = 0
  let sum = 0
  let min = Infinity
  let max = -Infinity
  for (const v of values) {
    if (Number.isNaN(v)) continue
    count++
    sum += v
    if (v < min) min = v
    if (v > max) max = v
  }
  const mean = count ? sum / count : NaN
  let squares = 0
  for (const v of values) if (!Number.isNaN(v)) squares += (v - mean) ** 2
  const sorted = Array.from(values).filter((v) => !Number.isNaN(v)).sort((a, b) => a - b)
  const percentile = (p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : NaN)
  return { count, nulls: values.length - count, min, max, mean, std: Math.sqrt(squares / Math.max(1, count - 1)), p10: percentile(0.1), p50: percentile(0.5), p90: percentile(0.9) }
}

function histogram(values, stats, bins = 24) {
  const counts = new Array(bins).fill(0)
  const width = (stats.max - stats.min) / bins || 1
  for (const v of values) {
    if (Number.isNaN(v)) continue
    counts[Math.min(bins - 1, Math.floor((v - stats.min) / width))]++
  }
  return counts
}

function escapeHtml(text) {
  return String(text).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c])
}

function formatNumber(value) {
  return Number.isFinite(value) ? value.toFixed(3) : '–'
}

function tableRow(cells, tag = 'td') {
  return `<tr>${cells.map((cell) => `<${tag}>${escapeHtml(cell)}</${tag}>`).join('')}</tr>`
}

function histogramSvg(counts) {
  const top = Math.max(...counts, 1)
  const bars = counts.map((count, i) => `<rect x="${i * 10}" y="${60 - (count / top) * 60}" width="9" height="${(count / top) * 60}"/>`)
  return `<svg width="${counts.length * 10}" height="60">${bars.join('')}</svg>`
}

function renderPage(name, sections, columns, summaries) {
  const parts = [`<!doctype html><title>${escapeHtml(name)}</title><h1>${escapeHtml(name)}</h1>`]
  for (const [section, entries] of sections) {
    parts.push(`<h2>Section ${escapeHtml(section)}</h2><table>${tableRow(['Mnemonic', 'Unit', 'Value', 'Description'], 'th')}`)
    for (const entry of entries) parts.push(tableRow([entry.mnemonic, entry.unit, entry.value, entry.description]))
    parts.push('</table>')
  }
  parts.push(`<h2>Curves</h2><table>${tableRow(['Curve', 'Count', 'Nulls', 'Min', 'Max', 'Mean', 'Std', 'P10', 'P50', 'P90', 'Histogram'], 'th')}`)
  columns.forEach((column, i) => {
    const s = summaries[i].stats
    const cells = [column, s.count, s.nulls, ...[s.min, s.max, s.mean, s.std, s.p10, s.p50, s.p90].map(formatNumber)]
    parts.push(`${tableRow(cells).slice(0, -5)}<td>${histogramSvg(summaries[i].histogram)}</td></tr>`)
  })
  parts.push('</table>')
  return parts.join('\n')
}

function summariseFile(inputDir, outputDir, name) {
  const text = readFileSync(join(inputDir, name), 'latin1')
  const { sections, lines, dataStart } = parseSections(text)
  const nullValue = Number((sections.get('W') ?? []).find((e) => e.mnemonic === 'NULL')?.value ?? -999.25)
  const columns = (sections.get('C') ?? []).map((e) => e.mnemonic)
  const data = parseData(lines, dataStart, columns, nullValue)
  const summaries = data.map((values) => {
    const stats = statistics(values)
    return { stats, histogram: histogram(values, stats) }
  })
  const html = renderPage(name, sections, columns, summaries)
  writeFileSync(join(outputDir, name.replace(/\.las$/, '.html')), html)
  return { name, rows: data[0]?.length ?? 0, curves: columns.length, bytes: text.length }
}

/** Summarises every file of `inputDir` into `outputDir`; returns the index page's size. */
export function run(inputDir, outputDir) {
  mkdirSync(outputDir, { recursive: true })
  const results = readdirSync(inputDir).filter((n) => n.endsWith('.las')).sort().map((name) => summariseFile(inputDir, outputDir, name))
  const index = `<!doctype html><h1>Wells</h1><table>${tableRow(['File', 'Rows', 'Curves', 'Bytes'], 'th')}${results.map((r) => tableRow([r.name, r.rows, r.curves, r.bytes])).join('')}</table>`
  writeFileSync(join(outputDir, 'index.html'), index)
  return results.length
}
