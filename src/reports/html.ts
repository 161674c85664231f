/**
 * The visual report as one self-contained HTML file: uPlot, its styles and the data inline,
 * nothing fetched, so it opens the same from disk, a CI artifact or an attachment.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

import type { Annotation, Chart, Flame, ReportModel, Table } from './model.js'
import {
  byteTickLabels,
  formatBytes,
  formatSeconds,
  MARKED_COLOR,
  MARKER_COLOR,
  PEAK_COLOR,
  placeLabel,
  secondTickLabels,
  seriesStyle,
} from './appearance.js'

/** Plot height in CSS pixels; the width follows the page. */
const PLOT_HEIGHT = 340

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)
}

/** JSON to sit inside a <script>: with `<` escaped, no string in it can close the element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c')
}

/** Where package `name` is installed (its `exports` may hide its files from `require.resolve`). */
function packageDir(name: string): string {
  let dir = dirname(require.resolve(name))
  while (!isPackage(dir, name)) {
    if (dirname(dir) === dir) throw new Error(`cannot find the package.json of ${name}, which the HTML report needs`)
    dir = dirname(dir)
  }
  return dir
}

function isPackage(dir: string, name: string): boolean {
  const manifest = join(dir, 'package.json')
  return existsSync(manifest) && JSON.parse(readFileSync(manifest, 'utf8')).name === name
}

/**
 * A library's script, `file` of package `name`, its banner (a link to the project: the report
 * carries no address of any kind) replaced by its name, version, licence and author.
 */
function library(name: string, file: string, licence: string, author: string): string {
  const dir = packageDir(name)
  const { version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
  const script = readFileSync(join(dir, file), 'utf8').replace(/^(\/\*![^]*?\*\/|\/\/[^\n]*\n)/, '')
  return `/*! ${name} ${version}, ${licence}, by ${author} */\n${script}`
}

/** uPlot's script and styles. */
function uplot(): { js: string; css: string } {
  return {
    js: library('uplot', 'dist/uPlot.iife.min.js', 'MIT License', 'Leon Sorokin'),
    css: readFileSync(join(packageDir('uplot'), 'dist', 'uPlot.min.css'), 'utf8'),
  }
}

/** The d3 modules d3-flame-graph needs, in the order they need each other, each adding to the global `d3`. */
const D3 = ['array', 'color', 'dispatch', 'ease', 'format', 'hierarchy', 'interpolate', 'selection', 'time', 'time-format', 'scale', 'timer', 'transition']

/** d3-flame-graph (the global `flamegraph`, which adds its own styles) with the d3 it runs on. */
function flameGraph(): string {
  const d3 = D3.map((m) => library(`d3-${m}`, `dist/d3-${m}.min.js`, 'ISC License', 'Mike Bostock'))
  return [...d3, library('d3-flame-graph', 'dist/d3-flamegraph.umd.min.js', 'Apache License 2.0', 'Martin Spier')].join('\n')
}

const PAGE_CSS = `
:root { color-scheme: light; --text: #1f2937; --muted: #6b7280; --rule: #e5e7eb; }
* { box-sizing: border-box; }
body { margin: 0; background: #f5f6f8; color: var(--text);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 24px 20px 40px; }
h1 { font-size: 22px; margin: 0 0 12px; }
h2 { font-size: 17px; margin: 0 0 10px; }
h3 { font-size: 14px; margin: 14px 0 4px; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 18px; margin: 0 0 20px; font-size: 14px; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; overflow-wrap: anywhere; }
section { background: #fff; border: 1px solid var(--rule); border-radius: 8px; padding: 16px 18px; margin: 0 0 20px; }
.plot { min-height: ${PLOT_HEIGHT}px; }
.uplot { font-family: inherit; }
.u-legend { font-size: 13px; }
.hint { margin: 2px 0 0; font-size: 12px; color: var(--muted); text-align: right; }
.peak { margin: 8px 0 0; font-weight: 600; color: ${PEAK_COLOR}; overflow-wrap: anywhere; }
.markers, .annotations { margin: 0; padding-left: 28px; font-size: 13px; }
.markers li, .annotations li { overflow-wrap: anywhere; }
.when { display: inline-block; min-width: 5.5em; color: var(--muted); font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; }
.table table { border-collapse: collapse; width: 100%; font-size: 13px; }
.table th, .table td { padding: 5px 10px; border-bottom: 1px solid var(--rule); text-align: left; vertical-align: top; }
.table th { font-weight: 600; background: #f9fafb; }
.table tbody tr:hover { background: #f9fafb; }
.table .num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.details { margin: 4px 0 0; min-height: 1.5em; font-size: 13px; overflow-wrap: anywhere; }
`

/** Runs in the page: draws each chart with uPlot from the JSON in #memtrace-charts. */
const CLIENT = `'use strict';
${formatBytes}
${formatSeconds}
${byteTickLabels}
${secondTickLabels}
${placeLabel}
const HEIGHT = ${PLOT_HEIGHT};
const MARKER_COLOR = '${MARKER_COLOR}';
const PEAK_COLOR = '${PEAK_COLOR}';
const MARKED_COLOR = '${MARKED_COLOR}';
const BYTE_STEPS = Array.from({ length: 51 }, (_, i) => 2 ** i);

// Shortens text with an ellipsis to at most max canvas pixels.
function fit(ctx, text, max) {
  if (ctx.measureText(text).width <= max) return text;
  let n = text.length;
  while (n > 1 && ctx.measureText(text.slice(0, n) + '\\u2026').width > max) n--;
  return text.slice(0, n) + '\\u2026';
}

// Text with a white halo, legible over grid and lines, starting at left.
function tag(ctx, text, left, y, color, px) {
  ctx.lineJoin = 'round';
  ctx.lineWidth = 3 * px;
  ctx.strokeStyle = 'rgba(255, 255, 255, 0.9)';
  ctx.strokeText(text, left, y);
  ctx.fillStyle = color;
  ctx.fillText(text, left, y);
}

// Room above the plot for marker labels, in CSS pixels: lines never run under them.
function markerBand(markers) {
  return markers.length === 0 ? 0 : 8 + Math.min(2, markers.length) * 19;
}

// Dashed lines with numbered labels in the band above the plot, in up to two rows so
// neighbours do not overlap; where even the number does not fit, the list under the chart
// still names the marker.
function drawMarkers(u, markers, px) {
  const ctx = u.ctx;
  const box = u.bbox;
  const band = markerBand(markers) * px;
  const rowEnds = [];
  markers.forEach((marker, i) => {
    const x = Math.round(u.valToPos(marker.time, 'x', true)) + 0.5;
    if (!(x >= box.left && x <= box.left + box.width)) return;
    ctx.strokeStyle = MARKER_COLOR;
    ctx.lineWidth = px;
    ctx.setLineDash([4 * px, 3 * px]);
    ctx.beginPath();
    ctx.moveTo(x, box.top - band);
    ctx.lineTo(x, box.top + box.height);
    ctx.stroke();
    ctx.setLineDash([]);
    for (const text of [fit(ctx, (i + 1) + '. ' + marker.label, 240 * px), (i + 1) + '.']) {
      const width = ctx.measureText(text).width;
      const right = x + 5 * px + width <= box.left + box.width;
      const start = right ? x + 5 * px : x - 5 * px - width;
      let row = rowEnds.findIndex((end) => end <= start);
      if (row < 0 && rowEnds.length < 2) row = rowEnds.length;
      if (row < 0) continue;
      rowEnds[row] = start + width + 10 * px;
      tag(ctx, text, start, box.top - band + (13 + row * 19) * px, '#374151', px);
      return;
    }
  });
}

// The peak and annotations as dots with labels. Every dot is drawn and counted as taken before
// any label is placed, so no label covers one; the peak's label is placed first, in the best spot.
function drawPoints(u, chart, px) {
  const ctx = u.ctx;
  const box = u.bbox;
  const plot = { left: box.left, top: box.top, right: box.left + box.width, bottom: box.top + box.height };
  const points = [];
  const p = chart.peak;
  if (p) points.push({ at: p, text: 'Peak ' + formatBytes(p.value) + (p.label ? ': ' + p.label : ''), color: PEAK_COLOR, peak: true });
  for (const a of chart.annotations) points.push({ at: a, text: a.label, color: '#374151', peak: false });
  const shown = points
    .map((point) => ({ ...point, x: u.valToPos(point.at.time, 'x', true), y: u.valToPos(point.at.value, 'y', true) }))
    .filter((point) => point.x >= plot.left && point.x <= plot.right);
  const placed = [];
  for (const { x, y, color, peak } of shown) {
    const r = (peak ? 4.5 : 3.5) * px;
    ctx.beginPath();
    ctx.arc(x, y, r, 0, 2 * Math.PI);
    ctx.fillStyle = peak ? color : '#fff';
    ctx.fill();
    ctx.lineWidth = 1.5 * px;
    ctx.strokeStyle = peak ? '#fff' : color;
    ctx.stroke();
    placed.push({ left: x - r, top: y - r, right: x + r, bottom: y + r });
  }
  for (const { x, y, text, color, peak } of shown) {
    ctx.font = (peak ? '600 ' : '') + 12 * px + 'px system-ui, sans-serif';
    const label = fit(ctx, text, 320 * px);
    const spot = placeLabel(x, y, ctx.measureText(label).width, 16 * px, 10 * px, plot, placed);
    tag(ctx, label, spot.left, (spot.top + spot.bottom) / 2, color, px);
  }
}

// Runs draw with the context clipped to a rectangle and set up afresh: uPlot leaves its last
// series' dash and its axis labels' alignment on the context.
function within(ctx, left, top, width, height, px, draw) {
  ctx.save();
  ctx.beginPath();
  ctx.rect(left, top, width, height);
  ctx.clip();
  ctx.setLineDash([]);
  ctx.textAlign = 'left';
  ctx.textBaseline = 'middle';
  ctx.font = 12 * px + 'px system-ui, sans-serif';
  draw();
  ctx.restore();
}

// When the rows of the flame graph's clicked frame were logged (the largest of each of its
// stacks): lines across the first chart.
let marked = [];

function drawMarked(u, px) {
  const ctx = u.ctx;
  const box = u.bbox;
  ctx.strokeStyle = MARKED_COLOR;
  ctx.lineWidth = 1.5 * px;
  for (const time of marked) {
    const x = Math.round(u.valToPos(time, 'x', true)) + 0.5;
    ctx.beginPath();
    ctx.moveTo(x, box.top);
    ctx.lineTo(x, box.top + box.height);
    ctx.stroke();
  }
}

// Markers, annotations and the peak, drawn on uPlot's canvas after each redraw so they follow
// zooming: markers reach into the band above the plot, points stay inside it.
function overlay(chart, index) {
  return {
    hooks: {
      draw: [(u) => {
        const px = uPlot.pxRatio;
        const box = u.bbox;
        const band = markerBand(chart.markers) * px;
        if (index === 0) within(u.ctx, box.left, box.top, box.width, box.height, px, () => drawMarked(u, px));
        within(u.ctx, box.left, box.top - band, box.width, box.height + band, px, () => drawMarkers(u, chart.markers, px));
        within(u.ctx, box.left, box.top, box.width, box.height, px, () => drawPoints(u, chart, px));
      }],
    },
  };
}

function options(chart, width, index) {
  return {
    width,
    height: HEIGHT,
    padding: [markerBand(chart.markers) || null, null, null, null],
    series: [
      { label: 'Time', value: (u, t) => (t == null ? '\\u2013' : formatSeconds(t)) },
      ...chart.series.map((s) => ({
        label: s.label,
        stroke: s.stroke,
        width: s.width,
        dash: s.dash,
        value: (u, v) => (v == null ? '\\u2013' : formatBytes(v)),
      })),
    ],
    scales: {
      x: { time: false },
      // From zero, as memory is read; headroom above the highest line for the peak's label.
      y: { range: (u, min, max) => [0, max > 0 ? max * 1.12 : 1024] },
    },
    axes: [
      { space: 70, values: (u, ticks, axis, space, step) => secondTickLabels(ticks, step), grid: { stroke: '#eef0f3' } },
      { space: 40, size: 78, incrs: BYTE_STEPS, values: (u, ticks, axis, space, step) => byteTickLabels(ticks, step), grid: { stroke: '#eef0f3' } },
    ],
    cursor: { drag: { x: true, y: false } },
    plugins: [overlay(chart, index)],
  };
}

const charts = JSON.parse(document.getElementById('memtrace-charts').textContent);
const plots = charts.map((chart, i) => {
  const target = document.querySelector('[data-chart-index="' + i + '"] .plot');
  return new uPlot(options(chart, target.clientWidth, i), [chart.times, ...chart.series.map((s) => s.values)], target);
});

// The flame graphs (growth by stack, live allocations by stack): clicking a frame zooms to it
// and marks the rows it made on the first chart; clicking the bottom frame zooms back out.
const flames = JSON.parse(document.getElementById('memtrace-flames')?.textContent ?? '[]').map((flame, i) => {
  const section = document.querySelector('[data-flame-index="' + i + '"]');
  const target = section.querySelector('.flame-graph');
  const graph = flamegraph.default()
    .width(target.clientWidth)
    .cellHeight(18)
    .minFrameSize(2)
    .transitionDuration(250)
    .label((d) => d.data.name + ': ' + formatBytes(d.value) + (d.data.where ? ' (' + d.data.where + ')' : ''))
    .setDetailsElement(section.querySelector('.details'))
    .onClick((d) => {
      const times = [];
      (function collect(node) {
        if (node.at !== null) times.push(node.at);
        for (const child of node.children) collect(child);
      })(d.data);
      marked = d.depth === 0 ? [] : times;
      if (plots.length > 0) plots[0].redraw(false, false);
    });
  d3.select(target).datum(flame.root).call(graph);
  return { graph, target, marked: () => marked };
});
// For tests and for poking at a report from the console.
window.__memtraceFlames = flames;
// For tests and for poking at a report from the console.
window.__memtraceCharts = plots;

let frame = 0;
addEventListener('resize', () => {
  cancelAnimationFrame(frame);
  frame = requestAnimationFrame(() => {
    for (const u of plots) u.setSize({ width: u.root.parentElement.clientWidth, height: HEIGHT });
    for (const { graph, target } of flames) graph.width(target.clientWidth).update();
  });
});
`

function when(time: number): string {
  return `<span class="when">${escapeHtml(formatSeconds(time))}</span>`
}

function pointItem(a: Annotation): string {
  return `<li>${when(a.time)}${escapeHtml(formatBytes(a.value))}: ${escapeHtml(a.label)}</li>`
}

function chartSection(chart: Chart, index: number): string {
  const parts = [
    `<section class="chart" data-chart-index="${index}">`,
    `<h2>${escapeHtml(chart.title)}</h2>`,
    `<div class="plot"></div>`,
    `<p class="hint">Drag across the chart to zoom in; double-click to zoom out. Click a legend entry to hide its line.</p>`,
  ]
  if (chart.peak) {
    const { time, value, label } = chart.peak
    parts.push(`<p class="peak">Peak ${escapeHtml(formatBytes(value))} at ${escapeHtml(formatSeconds(time))}${label ? `: ${escapeHtml(label)}` : ''}</p>`)
  }
  if (chart.markers.length > 0) {
    const items = chart.markers.map((m) => `<li>${when(m.time)}${escapeHtml(m.label)}</li>`)
    parts.push(`<h3>Markers</h3>`, `<ol class="markers">${items.join('')}</ol>`)
  }
  if (chart.annotations.length > 0) {
    parts.push(`<h3>Annotations</h3>`, `<ul class="annotations">${chart.annotations.map(pointItem).join('')}</ul>`)
  }
  parts.push(`</section>`)
  return parts.join('\n')
}

/** A number with an optional short unit ("12.5 MiB", "3 s", "40%"), aligned right in tables. */
const NUMERIC = /^[-+]?[\d.,]+(\s?[a-zA-Z%]{1,3})?$/

function tableSection(table: Table): string {
  const numeric = table.columns.map(
    (_, c) => table.rows.some((row) => row[c]) && table.rows.every((row) => !row[c] || NUMERIC.test(row[c])),
  )
  const cell = (tag: string, text: string | undefined, c: number) =>
    `<${tag}${numeric[c] ? ' class="num"' : ''}>${escapeHtml(text ?? '')}</${tag}>`
  return [
    `<section class="table">`,
    `<h2>${escapeHtml(table.title)}</h2>`,
    `<div class="scroll"><table>`,
    `<thead><tr>${table.columns.map((name, c) => cell('th', name, c)).join('')}</tr></thead>`,
    `<tbody>`,
    ...table.rows.map((row) => `<tr>${table.columns.map((_, c) => cell('td', row[c], c)).join('')}</tr>`),
    `</tbody></table></div>`,
    `</section>`,
  ].join('\n')
}

function flameSection(flame: Flame, index: number): string {
  return [
    `<section class="flame" data-flame-index="${index}">`,
    `<h2>${escapeHtml(flame.title)}</h2>`,
    `<div class="flame-graph"></div>`,
    `<p class="details"></p>`,
    `<p class="hint">${escapeHtml(flame.hint)} Click a frame to zoom in on it${flame.marks ? ' and to mark its largest rows on the RSS chart' : ''}; click the bottom frame to zoom out.</p>`,
    `</section>`,
  ].join('\n')
}

/** `model` as one HTML document that needs nothing but a browser: no network, no files beside it. */
export function renderHtml(model: ReportModel): string {
  const { js, css } = uplot()
  const data = model.charts.map((chart) => ({
    times: chart.times,
    series: chart.series.map((s, i) => ({ label: s.name, values: s.values, ...seriesStyle(s, i) })),
    markers: chart.markers,
    peak: chart.peak,
    annotations: chart.annotations,
  }))
  const facts = model.facts.map(([label, value]) => `<dt>${escapeHtml(label)}</dt><dd>${escapeHtml(value)}</dd>`)
  const flames = model.flames ?? []
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(model.title)}</title>`,
    `<style>${css}\n${PAGE_CSS}</style>`,
    '</head>',
    '<body>',
    '<main>',
    `<h1>${escapeHtml(model.title)}</h1>`,
    facts.length > 0 ? `<dl class="facts">${facts.join('')}</dl>` : '',
    // The flame graphs go right after the first chart, the one their frames mark.
    ...model.charts.slice(0, 1).map(chartSection),
    ...flames.map(flameSection),
    ...model.charts.slice(1).map((chart, i) => chartSection(chart, i + 1)),
    ...model.tables.map(tableSection),
    '</main>',
    `<script>${js}</script>`,
    flames.length > 0 ? `<script>${flameGraph()}</script>` : '',
    `<script type="application/json" id="memtrace-charts">${scriptJson(data)}</script>`,
    flames.length > 0 ? `<script type="application/json" id="memtrace-flames">${scriptJson(flames)}</script>` : '',
    `<script>${CLIENT}</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n')
}
