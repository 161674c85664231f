/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
// The visual reports, looked at in a real browser: the HTML page draws its charts with uPlot
// without touching the network and with every string from the model shown as text; the SVG is
// well-formed, names its markers and peak, and stays small however long the series.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

import test from 'ava'
import type { Browser } from 'playwright-core'

import { renderHtml } from '../dist/reports/html.js'
import type { Chart, ReportModel } from '../dist/reports/model.js'
import { byteTickLabels, formatBytes, formatSeconds, secondTickLabels, seriesStyle } from '../dist/reports/appearance.js'
import { renderSvg } from '../dist/reports/svg.js'
import { launch } from './support/chromium.js'
import { cli, fixtures, logsIn, root, tempDir } from './support/index.js'

const MiB = 1024 * 1024
const GiB = 1024 * MiB
const EVIL = '</script><img src=x>'
const artifacts = join(root, '__test__', 'artifacts')
mkdirSync(artifacts, { recursive: true })

/** A process tree's RSS: the total first, then each process (secondary), over 10 s. */
function treeChart(): Chart {
  const times = Array.from({ length: 201 }, (_, i) => i * 0.05)
  const processes = [
    { name: 'pid 4101 node server.js', values: times.map((t) => Math.round((60 + 22 * t + 8 * Math.sin(t * 3)) * MiB)) },
    { name: 'pid 4102 worker A', values: times.map((t) => (t < 1 ? null : Math.round((40 + 90 * Math.sin(t / 2) ** 2) * MiB))) },
    { name: `pid 4103 ${EVIL}`, values: times.map((t) => (t > 8 ? null : Math.round((25 + 6 * t) * MiB))) },
  ]
  const total = times.map((_, i) => processes.reduce((sum, p) => sum + (p.values[i] ?? 0), 0))
  const top = total.indexOf(Math.max(...total))
  return {
    title: 'RSS of the process tree',
    times,
    series: [{ name: 'total', values: total }, ...processes.map((p) => ({ ...p, secondary: true }))],
    markers: [
      { time: 0.5, label: 'server listening' },
      { time: 2.0, label: 'load fixtures & "seed" <db>' },
      { time: 2.3, label: EVIL },
      { time: 7.5, label: 'GC forced (--expose-gc)' },
    ],
    peak: { time: times[top], value: total[top], label: 'buildIndex (src/index.js:42)' },
    annotations: [
      { time: times[60], value: total[60], label: 'parseConfig +48.0 MiB' },
      { time: times[170], value: total[170], label: 'flushCache −12.0 MiB' },
    ],
  }
}

/** V8's heap figures, with gaps where the sampler had none. */
function heapChart(): Chart {
  const times = Array.from({ length: 101 }, (_, i) => i * 0.1)
  const gap = (i: number, ...ranges: [number, number][]) => ranges.some(([from, to]) => i >= from && i <= to)
  return {
    title: 'V8 heap',
    times,
    series: [
      { name: 'heapUsed', values: times.map((t, i) => (gap(i, [30, 35], [70, 72]) ? null : Math.round((30 + 4 * t) * MiB))) },
      { name: 'heapTotal', values: times.map((t) => Math.round((48 + 5 * t) * MiB)) },
      { name: 'external', values: times.map((t, i) => (gap(i, [50, 60]) ? null : Math.round((6 + t / 2) * MiB))), secondary: true },
    ],
    markers: [],
    peak: null,
    annotations: [],
  }
}

const model: ReportModel = {
  title: 'memtrace report: server.js',
  facts: [
    ['Command', 'node --import memtrace/register server.js --port 8080'],
    ['PID', '4101'],
    ['Started', '2025-11-26 10:24:00'],
    ['Note', EVIL],
    ['Node.js', 'v20.20.2'],
  ],
  charts: [treeChart(), heapChart()],
  tables: [
    {
      title: 'Largest RSS increases by function',
      columns: ['Function', 'File', 'Calls', 'Δ RSS'],
      rows: [
        ['buildIndex', '/srv/app/src/index.js:42', '1', '+212.0 MiB'],
        ['parseConfig', '/srv/app/src/config.js:7', '3', '+48.0 MiB'],
        [EVIL, '/srv/app/src/evil.js:1', '12', '+1.5 MiB'],
      ],
    },
  ],
}

/** How many separate lines a series draws: one per run of values between nulls. */
const runs = (values: (number | null)[]) => values.filter((v, i) => v !== null && (i === 0 || values[i - 1] === null)).length

let browser: Browser
test.before(async () => {
  browser = await launch()
})
test.after.always(async () => {
  await browser?.close()
})

/** A new page that records every request and every error it reports. */
async function open(url: string, viewport = { width: 1200, height: 900 }) {
  const page = await browser.newPage({ viewport })
  const requests: string[] = []
  const errors: string[] = []
  page.on('request', (request) => requests.push(request.url()))
  page.on('console', (message) => message.type() === 'error' && errors.push(message.text()))
  page.on('pageerror', (error) => errors.push(error.message))
  await page.goto(url)
  return { page, requests, errors }
}

/** What the tests read of the uPlot instances that the page exposes. */
declare global {
  interface Window {
    __memtraceCharts: { width: number; scales: { x: { min: number; max: number } }; series: { label: string }[] }[]
  }
}

test('number formats read as people write memory and time', (t) => {
  t.is(formatBytes(900), '900 B')
  t.is(formatBytes(512 * MiB), '512.0 MiB')
  t.is(formatBytes(1.5 * GiB), '1.5 GiB')
  t.is(formatSeconds(3.2), '3.2 s')
  t.is(formatSeconds(0.25), '0.25 s')
  t.is(formatSeconds(184.4), '184 s')
  t.deepEqual(byteTickLabels([0, 128 * MiB, 256 * MiB, 384 * MiB], 128 * MiB), ['0', '128 MiB', '256 MiB', '384 MiB'])
  t.deepEqual(byteTickLabels([0, GiB / 2, GiB, 1.5 * GiB], GiB / 2), ['0', '0.5 GiB', '1.0 GiB', '1.5 GiB'])
  // A step too fine for the top's unit moves every label down a unit rather than to 4 decimals.
  t.deepEqual(byteTickLabels([1228 * MiB, 1229 * MiB], MiB), ['1228 MiB', '1229 MiB'])
  t.deepEqual(byteTickLabels([0, 512, 1024], 512), ['0', '0.5 KiB', '1.0 KiB'])
  t.deepEqual(byteTickLabels([0, 256, 512], 256), ['0', '256 B', '512 B'])
  t.deepEqual(secondTickLabels([0, 2.5, 5], 2.5), ['0.0 s', '2.5 s', '5.0 s'])
  t.deepEqual(secondTickLabels([0, 0.05, 0.1], 0.05), ['0.00 s', '0.05 s', '0.10 s'])
})

test('the HTML report draws every chart offline and shows the model as text', async (t) => {
  const html = renderHtml(model)
  t.notRegex(html, /\b(https?|wss?|ftp):|url\(|@import/i, 'the page names nothing to fetch')
  t.false(html.includes(EVIL), 'the malicious string is escaped everywhere')
  const file = join(tempDir('report'), 'report.html')
  writeFileSync(file, html)
  const url = pathToFileURL(file).href

  const { page, requests, errors } = await open(url)
  await page.waitForFunction(() => window.__memtraceCharts?.length === 2)
  // Past the first frame, so every draw hook has run.
  await page.evaluate(() => new Promise(requestAnimationFrame))

  const sections = await page.locator('[data-chart-index]').evaluateAll((all) => all.map((s) => s.getAttribute('data-chart-index')))
  t.deepEqual(sections, ['0', '1'])
  // Lines are coloured; the axes, grid and text are grey. A chart without its lines has none.
  const colouredPixels = await page.evaluate(() =>
    [...document.querySelectorAll('[data-chart-index]')].map((section) => {
      const canvas = section.querySelector('canvas')
      if (!canvas) return 0
      const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height)
      let coloured = 0
      for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3] > 128 && Math.max(data[i], data[i + 1], data[i + 2]) - Math.min(data[i], data[i + 1], data[i + 2]) > 60) coloured++
      }
      return coloured
    }),
  )
  t.true(colouredPixels.every((n) => n > 1000), `coloured pixels per chart: ${colouredPixels}`)

  const text = await page.evaluate(() => document.body.innerText)
  const tree = model.charts[0]
  const peak = tree.peak!
  t.true(text.includes(`Peak ${formatBytes(peak.value)} at ${formatSeconds(peak.time)}: ${peak.label}`), 'the peak caption')
  for (const marker of tree.markers) t.true(text.includes(marker.label), `marker ${marker.label}`)
  for (const annotation of tree.annotations) t.true(text.includes(annotation.label), `annotation ${annotation.label}`)
  t.true(text.includes(`Note\t${EVIL}`) || text.includes(`Note\n${EVIL}`), 'the fact is shown as text')
  t.true(text.includes('/srv/app/src/index.js:42'), 'the table')
  t.is(await page.locator('img').count(), 0)
  const legends = await page.evaluate(() => window.__memtraceCharts.map((u) => u.series.map((s) => s.label)))
  t.deepEqual(legends, model.charts.map((chart) => ['Time', ...chart.series.map((s) => s.name)]))
  t.true((await page.locator('[data-chart-index="0"] .u-legend').innerText()).includes(`pid 4103 ${EVIL}`))

  await page.screenshot({ path: join(artifacts, 'report.png'), fullPage: true })

  // Dragging across a quarter of the plot zooms x to that quarter; a double-click zooms back out.
  const full = await page.evaluate(() => [window.__memtraceCharts[0].scales.x.min, window.__memtraceCharts[0].scales.x.max])
  t.deepEqual(full, [tree.times[0], tree.times.at(-1)])
  const over = (await page.locator('[data-chart-index="0"] .u-over').boundingBox())!
  await page.mouse.move(over.x + over.width * 0.25, over.y + over.height / 2)
  await page.mouse.down()
  await page.mouse.move(over.x + over.width * 0.5, over.y + over.height / 2, { steps: 10 })
  await page.mouse.up()
  const zoomed = await page.evaluate(() => [window.__memtraceCharts[0].scales.x.min, window.__memtraceCharts[0].scales.x.max])
  t.true(Math.abs(zoomed[0] - 2.5) < 0.2 && Math.abs(zoomed[1] - 5) < 0.2, `zoomed to ${zoomed}`)
  await page.mouse.dblclick(over.x + over.width / 2, over.y + over.height / 2)
  t.deepEqual(await page.evaluate(() => [window.__memtraceCharts[0].scales.x.min, window.__memtraceCharts[0].scales.x.max]), full)

  // The charts follow the window's width.
  const wide = await page.evaluate(() => window.__memtraceCharts[0].width)
  await page.setViewportSize({ width: 760, height: 900 })
  await page.waitForFunction((before) => window.__memtraceCharts[0].width < before - 300, wide)
  const fits = await page.evaluate(() => window.__memtraceCharts.every((u) => u.width === document.querySelector('.plot')!.clientWidth))
  t.true(fits)

  t.deepEqual(errors, [])
  t.deepEqual(requests, [url])
  await page.close()
})

test('the SVG chart is well-formed, labels its markers and peak, and breaks lines at nulls', async (t) => {
  const tree = model.charts[0]
  const svg = renderSvg(tree)
  const file = join(artifacts, 'chart.svg')
  writeFileSync(file, svg)
  const url = pathToFileURL(file).href
  const { page, requests, errors } = await open(url, { width: 800, height: 400 })

  const parsed = await page.evaluate((source) => {
    const doc = new DOMParser().parseFromString(source, 'image/svg+xml')
    return {
      error: doc.querySelector('parsererror')?.textContent ?? null,
      root: [doc.documentElement.getAttribute('width'), doc.documentElement.getAttribute('height')],
      texts: [...doc.querySelectorAll('text')].map((text) => text.textContent),
      images: doc.querySelectorAll('img, image').length,
    }
  }, svg)
  t.is(parsed.error, null)
  t.deepEqual(parsed.root, ['800', '400'])
  for (const marker of tree.markers) t.true(parsed.texts.includes(marker.label), `marker ${marker.label}`)
  t.true(parsed.texts.includes(`Peak ${formatBytes(tree.peak!.value)}: ${tree.peak!.label}`))
  for (const s of tree.series) t.true(parsed.texts.includes(s.name), `legend ${s.name}`)
  t.true(parsed.texts.includes('0') && parsed.texts.some((text) => / MiB$/.test(text!)), 'byte ticks')
  t.true(parsed.texts.includes('10 s'), 'time ticks')
  t.is(parsed.images, 0)
  await page.screenshot({ path: join(artifacts, 'chart.png') })
  t.deepEqual(errors, [])
  t.deepEqual(requests, [url])

  const heap = model.charts[1]
  const lines = await page.evaluate((source) => {
    const doc = new DOMParser().parseFromString(source, 'image/svg+xml')
    return [...doc.querySelectorAll('path[stroke-width]')].map((p) => [p.getAttribute('stroke'), p.getAttribute('d')!.split('M').length - 1])
  }, renderSvg(heap, { width: 600, height: 300 }))
  const subpaths = Object.fromEntries(lines)
  heap.series.forEach((s, i) => t.is(subpaths[seriesStyle(s, i).stroke], runs(s.values), s.name))
  t.true(runs(heap.series[0].values) > 1)
  await page.close()
})

test('the SVG of a 200k-point series is small and still reaches its highest point', async (t) => {
  let seed = 42
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
  const times = Array.from({ length: 200_000 }, (_, i) => i * 0.001)
  let level = 300 * MiB
  const values = times.map(() => (level = Math.max(50 * MiB, level + (random() - 0.5) * 4 * MiB)))
  const spike = 123_457
  values[spike] = 3 * GiB
  const chart: Chart = {
    title: 'A long run',
    times,
    series: [{ name: 'rss', values }],
    markers: [{ time: 50, label: 'half way' }],
    peak: { time: times[spike], value: values[spike], label: 'one sample' },
    annotations: [],
  }
  const svg = renderSvg(chart)
  t.true(Buffer.byteLength(svg) < 200_000, `${Buffer.byteLength(svg)} bytes`)

  const page = await browser.newPage({ viewport: { width: 800, height: 400 } })
  await page.setContent(svg)
  // The one-sample spike survives downsampling: the line's top is the peak's dot.
  const [lineTop, peakY] = await page.evaluate(() => [
    (document.querySelector('path[stroke-width]') as SVGPathElement).getBBox().y,
    Number(document.querySelector('circle')!.getAttribute('cy')),
  ])
  t.true(Math.abs(lineTop - peakY) < 1, `line top ${lineTop}, peak ${peakY}`)
  await page.close()
})

test('charts without samples, with one, or with only nulls still render', async (t) => {
  const charts: Chart[] = [
    { title: 'no samples', times: [], series: [{ name: 'rss', values: [] }], markers: [{ time: 1, label: 'too early' }], peak: null, annotations: [] },
    { title: 'one sample', times: [2], series: [{ name: 'rss', values: [5 * MiB] }], markers: [], peak: { time: 2, value: 5 * MiB, label: 'only' }, annotations: [] },
    { title: 'only nulls', times: [0, 1, 2], series: [{ name: 'rss', values: [null, null, null] }], markers: [], peak: null, annotations: [] },
    { title: 'no series', times: [0, 1], series: [], markers: [], peak: null, annotations: [] },
  ]
  const file = join(tempDir('report-edges'), 'report.html')
  writeFileSync(file, renderHtml({ title: 'edges', facts: [], charts, tables: [] }))
  const { page, errors } = await open(pathToFileURL(file).href)
  await page.waitForFunction(() => window.__memtraceCharts?.length === 4)
  await page.evaluate(() => new Promise(requestAnimationFrame))
  t.deepEqual(errors, [])
  t.is(await page.locator('[data-chart-index] canvas').count(), 4)

  for (const chart of charts) {
    const svg = renderSvg(chart)
    t.notRegex(svg, /NaN|Infinity|undefined/, chart.title)
    const error = await page.evaluate(
      (source) => new DOMParser().parseFromString(source, 'image/svg+xml').querySelector('parsererror')?.textContent ?? null,
      svg,
    )
    t.is(error, null, chart.title)
  }
  await page.close()
})

test('the SVG replaces characters XML cannot hold', async (t) => {
  const chart = { ...heapChart(), title: 'bell\u0007 and \ud800 lone surrogate', markers: [{ time: 1, label: 'nul\u0000' }] }
  const svg = renderSvg(chart)
  const page = await browser.newPage()
  const error = await page.evaluate(
    (source) => new DOMParser().parseFromString(source, 'image/svg+xml').querySelector('parsererror')?.textContent ?? null,
    svg,
  )
  t.is(error, null)
  t.true(svg.includes('nul\ufffd'))
  await page.close()
})

declare global {
  interface Window {
    __memtraceFlames: { marked(): number[] }[]
  }
}

test('the flame graph of growth by stack: drawn offline, a click zooms to a frame and marks its rows on the chart', async (t) => {
  const dir = tempDir('flame')
  const traced = cli(['run', '--rss', 'exact', '--no-native-calls', '--log-dir', dir, join(fixtures, 'stacks', 'two-paths.cjs')])
  t.is(traced.status, 0, traced.stderr)
  const file = join(dir, 'report.html')
  const reported = cli(['report', logsIn(dir)[0], '--html', file])
  t.is(reported.status, 0, reported.stderr)
  const html = readFileSync(file, 'utf8')
  // XML namespaces are names, not addresses: d3 creates SVG elements in one.
  const addresses = html.replace(/"http:\/\/www\.w3\.org\/(2000\/svg|1999\/xhtml|1999\/xlink|XML\/1998\/namespace|2000\/xmlns\/)"/g, '""')
  t.notRegex(addresses, /\b(https?|wss?|ftp):|url\(|@import/i, 'the page names nothing to fetch')

  const { page, requests, errors } = await open(pathToFileURL(file).href)
  await page.waitForFunction(() => window.__memtraceFlames?.length === 1)
  // A frame is a <g> holding its <rect> and a <title> that starts with its name.
  const widthOf = (name: string) =>
    page.evaluate((name) => {
      const frame = [...document.querySelectorAll('[data-flame-index="0"] g')].find((g) => g.querySelector(':scope > title')?.textContent?.startsWith(`${name}: `))
      return Number(frame?.querySelector(':scope > rect')?.getAttribute('width') ?? 0)
    }, name)
  const clickFrame = async (name: string) => {
    // Where the frame is once it stays put (scrolled into view, no transition moving it).
    const box = await page.evaluate(async (name) => {
      const frame = [...document.querySelectorAll('[data-flame-index="0"] g')].find((g) => g.querySelector(':scope > title')?.textContent?.startsWith(`${name}: `))
      const rect = frame!.querySelector(':scope > rect')!
      rect.scrollIntoView({ block: 'center' })
      // (No named function here: tsx would wrap it in a helper the page does not have.)
      let last = rect.getBoundingClientRect()
      for (;;) {
        await new Promise((done) => setTimeout(done, 100))
        const now = rect.getBoundingClientRect()
        if (now.x === last.x && now.y === last.y && now.width === last.width) return { x: now.x + now.width / 2, y: now.y + now.height / 2 }
        last = now
      }
    }, name)
    await page.mouse.click(box.x, box.y)
  }
  const full = await page.evaluate(() => document.querySelector<HTMLElement>('[data-flame-index="0"] .flame-graph')!.clientWidth)
  // Drawn once the first transition ends: the bottom frame spans the graph.
  await page.waitForFunction((full) => {
    const frame = [...document.querySelectorAll('[data-flame-index="0"] g')].find((g) => g.querySelector(':scope > title')?.textContent?.startsWith('all: '))
    return Number(frame?.querySelector(':scope > rect')?.getAttribute('width') ?? 0) > full * 0.95
  }, full)
  const [viaA, viaB] = [await widthOf('viaA'), await widthOf('viaB')]
  t.true(viaA > 2 * viaB && viaA < 5 * viaB, `viaA ${viaA} px, viaB ${viaB} px: about three to one`)
  await page.screenshot({ path: join(artifacts, 'flame.png'), fullPage: true })

  const markedPixels = () =>
    page.evaluate(() => {
      const canvas = document.querySelector('[data-chart-index="0"] canvas') as HTMLCanvasElement
      const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height)
      let count = 0
      // MARKED_COLOR, #c026d3
      for (let i = 0; i < data.length; i += 4) if (Math.abs(data[i] - 0xc0) < 24 && data[i + 1] < 80 && Math.abs(data[i + 2] - 0xd3) < 24) count++
      return count
    })
  t.is(await markedPixels(), 0)
  await clickFrame('viaB')
  await page.waitForFunction((full) => {
    const frame = [...document.querySelectorAll('[data-flame-index="0"] g')].find((g) => g.querySelector(':scope > title')?.textContent?.startsWith('viaB: '))
    return Number(frame?.querySelector(':scope > rect')?.getAttribute('width') ?? 0) > full * 0.95
  }, full)
  t.true((await page.evaluate(() => window.__memtraceFlames[0].marked())).length > 0, 'its rows are marked')
  t.true((await markedPixels()) > 50, 'and drawn across the chart')
  await page.screenshot({ path: join(artifacts, 'flame-zoomed.png'), fullPage: true })
  await clickFrame('all')
  await page.waitForFunction(() => window.__memtraceFlames[0].marked().length === 0)
  t.true(requests.every((url) => url.startsWith('file:')), requests.join(', '))
  t.deepEqual(errors, [])
})
