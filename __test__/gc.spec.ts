// GC rows: each garbage collection while a profiler with `gc` records is a row, at the events it
// ran among, named by its kind and duration, filtered by dRSS as events are.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

import test from 'ava'

import { arithmetic, cli, eventRows, fixtures, logsIn, node, parseLog, root, tempDir } from './support/index.js'

const churn = join(fixtures, 'gc', 'churn.cjs')
const KIND = /^(scavenge|minor-mark-sweep|mark-compact|incremental-marking|weak-callbacks) \(\d+\.\d{3} ms\)$/

test('memtrace run --gc: a program that churns garbage gets GC rows of several kinds, some giving memory back, and prints as untraced', (t) => {
  const untraced = node(['--expose-gc', churn])
  t.is(untraced.status, 0, untraced.stderr)
  const dir = tempDir('gc')
  const result = cli(['run', '--gc', '--log-dir', dir, '--', process.execPath, '--expose-gc', churn])
  t.is(result.status, 0, result.stderr)
  t.is(result.stdout, untraced.stdout)
  const [log] = logsIn(dir)
  const parsed = parseLog(readFileSync(log, 'utf8'))
  // Rows add up as the seed's do, GC and HEAP rows among them.
  t.deepEqual(arithmetic(parsed, 4096), [])
  t.true(parsed.rows.some((r) => r.kind === 'HEAP'))
  const rows = eventRows(parsed)
  const collections = rows.filter((r) => r.what === 'GC')
  t.true(collections.every((r) => r.kind === 'NEXT' && r.file === '<gc>' && r.line === 0 && KIND.test(r.func)), JSON.stringify(collections[0]))
  const kinds = new Set(collections.map((r) => KIND.exec(r.func)![1]))
  t.true(kinds.has('scavenge') && kinds.has('mark-compact'), [...kinds].join(' '))
  t.true(collections.some((r) => r.dRss < 0), 'a collection that gave memory back')
  // Among the events: a GC row's event is that of the last event before it ran.
  for (const [i, row] of rows.entries()) {
    if (row.what === 'GC' && i > 0) t.true(row.event >= rows[i - 1].event, `row ${i}`)
  }
  // Every row passed the filter of one page, GC rows included.
  t.true(collections.every((r) => Math.abs(r.dRss) >= 4096))

  // The report totals them by kind, as <gc>, and keeps those that moved RSS most.
  type Totals = { function: string; file: string; rows: number }
  type Collection = { kind: string; clock: number; milliseconds: number; dRss: number }
  const json = JSON.parse(cli(['report', '--json', log]).stdout) as { functions: Totals[]; collections: Collection[]; byPackage: { package: string }[] }
  const scavenges = json.functions.filter((f) => f.file === '<gc>' && f.function === 'scavenge')
  t.is(scavenges.length, 1)
  t.is(scavenges[0].rows, collections.filter((r) => r.func.startsWith('scavenge ')).length)
  t.true(json.collections.length > 0 && json.collections.every((c) => kinds.has(c.kind) && c.milliseconds >= 0))
  t.true(json.byPackage.some((p) => p.package === '(garbage collection)'))
  t.regex(cli(['report', log]).stdout, /\n +[+-][\d.]+ [KMG]?i?B +\d+ +scavenge +<gc>\n/)
})

test('without gc there are no GC rows; profile({ gc }) takes a boolean', (t) => {
  const dir = tempDir('no-gc')
  t.is(cli(['run', '--log-dir', dir, '--', process.execPath, '--expose-gc', churn]).status, 0)
  t.false(eventRows(parseLog(readFileSync(logsIn(dir)[0], 'utf8'))).some((r) => r.what === 'GC'))
  const code = `const { profile } = require(${JSON.stringify(join(root, 'dist', 'index.js'))})
try { profile({ gc: 'yes', logDir: process.argv[1] }) } catch (error) { console.log(error.name, error.message) }`
  const result = node(['--require', join(root, 'dist', 'register.js'), '-e', code, dir])
  t.regex(result.stdout, /^TypeError .*\bgc\b/)
})

test('the heap series: growing Buffers shows memory outside the JS heap, and of it ArrayBuffers, growing with RSS; growing objects, the JS heap', (t) => {
  const MiB = 1024 * 1024
  type Growth = { rss: number; used: number; total: number; external: number; arrayBuffers: number | null }
  const grown = (kind: string) => {
    const dir = tempDir(`heap-${kind}`)
    const script = join(fixtures, 'gc', 'grow.cjs')
    const result = cli(['run', '--gc', '--log-dir', dir, '--', process.execPath, '--expose-gc', script, kind])
    t.is(result.stdout, '20\n', result.stderr)
    const [log] = logsIn(dir)
    const heap = parseLog(readFileSync(log, 'utf8')).rows.filter((r) => r.kind === 'HEAP')
    t.true(heap.length >= 20, `${heap.length} HEAP rows`)
    // Node's count of ArrayBuffer bytes, read natively on every supported Node.
    t.true(heap.every((r) => r.arrayBuffers !== null), JSON.stringify(heap[0]))
    const text = cli(['report', log]).stdout
    return { growth: JSON.parse(cli(['report', '--json', log]).stdout).heapGrowth as Growth, text }
  }
  const buffers = grown('buffers')
  t.true(buffers.growth.external >= 60 * MiB && buffers.growth.rss >= 60 * MiB, JSON.stringify(buffers.growth))
  t.true(Math.abs(buffers.growth.used) < 8 * MiB, JSON.stringify(buffers.growth))
  t.true(buffers.growth.arrayBuffers! >= 60 * MiB && buffers.growth.arrayBuffers! <= buffers.growth.external + MiB, JSON.stringify(buffers.growth))
  t.regex(buffers.text, /\(of which Buffers and ArrayBuffers \+[\d.]+ MiB\) .*most of the growth: external\n/)
  const objects = grown('objects')
  t.true(objects.growth.used >= 40 * MiB && objects.growth.total >= objects.growth.used, JSON.stringify(objects.growth))
  t.true(Math.abs(objects.growth.external) < 8 * MiB && Math.abs(objects.growth.arrayBuffers!) < 8 * MiB, JSON.stringify(objects.growth))
  t.regex(objects.text, /most of the growth: the JS heap\n/)
})

test('with --previous too, a PREV row stays next to its NEXT row and the rows add up', (t) => {
  const dir = tempDir('gc-previous')
  const result = cli(['run', '--gc', '--previous', '--log-dir', dir, '--', process.execPath, '--expose-gc', churn])
  t.is(result.status, 0, result.stderr)
  const parsed = parseLog(readFileSync(logsIn(dir)[0], 'utf8'))
  t.true(parsed.rows.some((r) => r.kind === 'PREV') && eventRows(parsed).some((r) => r.what === 'GC'))
  t.deepEqual(arithmetic(parsed, 4096), [])
})

test('--chrome-trace writes the Trace Event Format: RSS and heap counters, rows as instants, collections as slices', (t) => {
  const dir = tempDir('chrome-trace')
  t.is(cli(['run', '--gc', '--log-dir', dir, '--', process.execPath, '--expose-gc', join(fixtures, 'gc', 'grow.cjs'), 'buffers']).status, 0)
  const [log] = logsIn(dir)
  const trace = join(dir, 'trace.json')
  const result = cli(['report', '--chrome-trace', trace, log])
  t.is(result.status, 0, result.stderr)
  t.regex(result.stderr, new RegExp(`memtrace: wrote ${trace.replace(/[.]/g, '\\.')}`))
  type Event = { name: string; ph: string; ts: number; pid: number; tid: number; dur?: number; s?: string; args?: Record<string, unknown> }
  const { traceEvents, displayTimeUnit } = JSON.parse(readFileSync(trace, 'utf8')) as { traceEvents: Event[]; displayTimeUnit: string }
  t.is(displayTimeUnit, 'ms')
  // What every event of the format needs, and what each phase adds.
  const pid = Number(/_(\d+)\.log$/.exec(log)![1])
  for (const e of traceEvents) {
    t.true(typeof e.name === 'string' && typeof e.ph === 'string' && Number.isFinite(e.ts) && e.pid === pid && e.tid === 0, JSON.stringify(e))
    if (e.ph === 'X') t.true(typeof e.dur === 'number' && e.dur >= 0, JSON.stringify(e))
    if (e.ph === 'i') t.true(e.s === 't' || e.s === 'p' || e.s === 'g', JSON.stringify(e))
    if (e.ph === 'C') t.true(Object.values(e.args ?? {}).every((v) => typeof v === 'number'), JSON.stringify(e))
  }
  const parsed = parseLog(readFileSync(log, 'utf8'))
  const rows = eventRows(parsed)
  const count = (ph: string, name?: string) => traceEvents.filter((e) => e.ph === ph && (name === undefined || e.name === name)).length
  t.is(count('M', 'process_name'), 1)
  t.is(count('C', 'RSS'), rows.length)
  t.is(count('X'), rows.filter((r) => r.what === 'GC').length)
  // Each row an instant (or a slice, for a collection), and each MSG row an instant too.
  t.is(count('i') + count('X'), rows.length + parsed.rows.filter((r) => r.kind === 'MSG').length)
  t.true(count('C', 'V8 heap') >= 20)
  t.true(traceEvents.filter((e) => e.name === 'V8 heap').every((e) => typeof e.args?.arrayBuffers === 'number'))
  const grown = traceEvents.filter((e) => e.ph === 'i' && e.name === 'Buffer.alloc')
  t.true(grown.length > 0 && grown.every((e) => (e.args as { file: string }).file.endsWith('grow.cjs')))
})

test('--chrome-trace: an unwritable file, a monitor log and a missing value are clear errors', (t) => {
  const dir = tempDir('chrome-bad')
  t.is(cli(['run', '--log-dir', dir, '--', process.execPath, '-e', '0']).status, 0)
  const [log] = logsIn(dir)
  const unwritable = cli(['report', '--chrome-trace', '/proc/memtrace/trace.json', log])
  t.is(unwritable.status, 1)
  t.regex(unwritable.stderr, /^memtrace: cannot write \/proc\/memtrace\/trace\.json: /)
  const watched = tempDir('chrome-monitor')
  t.is(cli(['monitor', '--log-dir', watched, '--', process.execPath, '-e', '0']).status, 0)
  const monitor = cli(['report', '--chrome-trace', join(dir, 't.json'), logsIn(watched, '.jsonl')[0]])
  t.is(monitor.status, 2)
  t.regex(monitor.stderr, /^memtrace: --chrome-trace exports a profiler log; this is a monitor log\n/)
  const missing = cli(['report', log, '--chrome-trace'])
  t.is(missing.status, 2)
  t.regex(missing.stderr, /^memtrace: --chrome-trace needs a value\n/)
})
