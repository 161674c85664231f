// The monitor and the visual report: monitor() in a real program, `memtrace monitor` over a
// real process tree, and the HTML report of real logs opened in headless Chromium.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import test from 'ava'

import { launch } from './support/chromium.js'
import { cli, cliPath, fixtures, logsIn, node, registerPath, root, spawned, started, tempDir, until } from './support/index.js'

const MiB = 1024 * 1024
const env = { MEMTRACE_INDEX: join(root, 'dist', 'index.js') }
const fixture = (name: string) => join(fixtures, 'monitor', name)
const artifacts = join(root, '__test__', 'artifacts')

interface Row {
  type: string
  t: number
  rss?: number
  label?: string
  processes?: { pid: number; ppid: number; rss: number; name: string }[]
  heap?: Record<string, number>
  exitCode?: number | null
}

const rowsOf = (path: string): Row[] =>
  readFileSync(path, 'utf8')
    .trimEnd()
    .split('\n')
    .map((line) => JSON.parse(line) as Row)

test('monitor() samples on its schedule, sees memory grow, keeps marks in order, and stops once', (t) => {
  const log = join(tempDir('monitor-api'), 'api.jsonl')
  const result = node([fixture('api.cjs'), log, '50'], { env })
  t.is(result.status, 0, result.stderr)
  const out = JSON.parse(result.stdout) as { first: { samples: number; peakRss: number }; same: boolean; late: string }
  t.true(out.same, 'a second stop() returns the same summary')
  t.regex(out.late, /this monitor has stopped/)

  const rows = rowsOf(log)
  t.like(rows[0], { type: 'header', format: 'memtrace-monitor', watched: 'process', intervalMs: 50, message: 'api test' } as object)
  t.is(rows.at(-1)!.type, 'end')
  const samples = rows.filter((r) => r.type === 'sample')
  t.is(samples.length, out.first.samples)
  t.true(samples.length >= 8, `${samples.length} samples`)
  // The schedule is fixed from the start: sample k is never taken before k intervals have passed.
  const early = samples.filter((s, k) => s.t < k * 0.05 - 1e-6).map((s) => s.t)
  t.deepEqual(early, [], 'samples taken ahead of their schedule')
  t.true(samples.every((s) => s.heap && s.heap.used > 0 && s.heap.total >= s.heap.used), 'heap figures in every row, the first included')

  const marks = rows.filter((r) => r.type === 'mark')
  t.deepEqual(marks.map((m) => m.label), ['before allocating', 'after allocating', 'last mark'])
  t.true(marks[1].rss! - marks[0].rss! >= 60 * MiB, 'the mark after allocating sees the growth')
  const before = samples.filter((s) => s.t < marks[0].t).at(-1)!
  const after = samples.find((s) => s.t > marks[1].t)!
  t.true(after.rss! - before.rss! >= 60 * MiB, `samples rose by ${(after.rss! - before.rss!) / MiB} MiB`)
})

test('monitor() rejects bad options with TypeErrors that name them', (t) => {
  const result = node([fixture('options.cjs')], { env })
  t.deepEqual(result.stdout.trim().split('\n'), [
    'TypeError: monitor() options must be an object, got "fast"',
    'TypeError: intervalMs must be an integer from 1 to 3600000, got 0',
    'TypeError: intervalMs must be an integer from 1 to 3600000, got 2.5',
    'TypeError: intervalMs must be an integer from 1 to 3600000, got "250"',
    'TypeError: logPath and logDir cannot both be given: logPath names the file, logDir a directory for a new one',
    'TypeError: message must be a string, got 7',
    'TypeError: monitor() options has no option "every"; the options are: intervalMs, logPath, logDir, message',
    'Error: cannot create the log file /proc/memtrace-cannot-write-here/m.jsonl: No such file or directory (os error 2)',
  ])
})

/** Samples in the monitor logs of `dir` so far that `matches` (rows are whole once written). */
const samplesIn = (dir: string, matches: (row: string) => boolean = () => true) =>
  logsIn(dir, '.jsonl').flatMap((log) => readFileSync(log, 'utf8').split('\n').filter((row) => row.includes('"type":"sample"') && matches(row)))

/**
 * `memtrace monitor --interval 0.05 -- node family.cjs` into `dir`, run until a sample has seen
 * the child and both its grandchildren at once.
 */
async function monitorFamily(dir: string) {
  const stop = join(tempDir('monitor-stop'), 'stop')
  const run = spawned([cliPath, 'monitor', '--interval', '0.05', '--log-dir', dir, '--', process.execPath, fixture('family.cjs'), stop])
  await until('a sample of all three processes', () => samplesIn(dir, (row) => row.split('"pid":').length === 4).length > 0)
  writeFileSync(stop, '')
  return run.exited
}

test('memtrace monitor records a child and its two grandchildren, sums them, and exits with the child\'s code', async (t) => {
  const dir = tempDir('monitor-tree')
  const result = await monitorFamily(dir)
  t.is(result.code, 3, result.stderr)
  const [log] = logsIn(dir, '.jsonl')
  const rows = rowsOf(log)
  t.regex(result.stderr, new RegExp(`memtrace: ${log}: \\d+ samples, peak RSS [\\d.]+ MiB at [\\d.]+ s\\n$`))
  t.false(result.stderr.includes('\r'), 'no status line when stderr is not a terminal')
  const samples = rows.filter((r) => r.type === 'sample')
  for (const s of samples) t.is(s.rss, s.processes!.reduce((sum, p) => sum + p.rss, 0), `the sum at ${s.t} s`)
  const pids = new Set(samples.flatMap((s) => s.processes!.map((p) => p.pid)))
  t.is(pids.size, 3, [...pids].join(' '))
  const root = (rows[0] as unknown as { pid: number }).pid
  t.true(log.endsWith(`_${root}.jsonl`), `${log} is named after the command's process`)
  const together = samples.filter((s) => s.processes!.length === 3)
  t.true(together.length > 0, 'a sample saw all three at once')
  const family = together.reduce((a, b) => (b.rss! > a.rss! ? b : a))
  t.deepEqual(family.processes!.filter((p) => p.pid !== root).map((p) => p.ppid), [root, root])
  t.true(family.rss! > 2 * 48 * MiB, 'the grandchildren\'s memory is in the sum')
  t.like(rows.at(-1)!, { type: 'end', exitCode: 3 })
})

test('memtrace monitor --pid watches a running process until it ends', async (t) => {
  const dir = tempDir('monitor-pid')
  const stop = join(tempDir('monitor-stop'), 'stop')
  const sleeper = await started([fixture('sleeper.cjs'), stop], 'ready')
  const watch = spawned([cliPath, 'monitor', '--interval', '0.05', '--log-dir', dir, '--pid', String(sleeper.child.pid)])
  await until('5 samples', () => samplesIn(dir).length >= 5)
  writeFileSync(stop, '')
  await sleeper.exited
  const result = await watch.exited
  t.is(result.code, 0, result.stderr)
  const [log] = logsIn(dir, '.jsonl')
  const samples = rowsOf(log).filter((r) => r.type === 'sample')
  t.true(samples.length >= 5)
  t.true(samples.every((s) => s.processes!.length === 1 && s.processes![0].pid === sleeper.child.pid))
  t.true(samples[0].rss! > 32 * MiB)
  t.like(rowsOf(log).at(-1)!, { type: 'end' })
  t.true(log.endsWith(`_${sleeper.child.pid}.jsonl`), `${log} is named after the process watched`)
  t.regex(cli(['report', log]).stdout, /\n {2}1 process\n/)
})

test('memtrace monitor of a command that ends at once says how many samples it got, in words that fit', (t) => {
  const dir = tempDir('monitor-quick')
  const result = cli(['monitor', '--log-dir', dir, '--', process.execPath, '-e', '0'])
  t.is(result.status, 0, result.stderr)
  // How many samples a short command lives for depends on the machine's load: the words must fit the count.
  t.regex(result.stderr, /^memtrace: \S+\.jsonl: (no samples: the command ended before the first one|1 sample, peak RSS [\d.]+ MiB at [\d.]+ s|([2-9]|\d{2,}) samples, peak RSS [\d.]+ MiB at [\d.]+ s)\n$/)
})

test('memtrace monitor: bad input exits 2 with what is allowed', (t) => {
  const cases: [string[], RegExp][] = [
    [['--interval', 'soon', '--', 'true'], /^memtrace: --interval must be a number of seconds from 0\.001 to 3600, got "soon"/],
    [['--pid', '1', '--', 'true'], /^memtrace: give --pid or a command, not both/],
    [[], /^memtrace: what should be watched\? Give -- and a command, or --pid/],
    [['--pid', 'x'], /^memtrace: --pid must be a whole number from 1 to 4294967295, got "x"/],
  ]
  for (const [args, expected] of cases) {
    const result = cli(['monitor', ...args])
    t.is(result.status, 2, args.join(' '))
    t.regex(result.stderr, expected)
  }
  const gone = cli(['monitor', '--pid', '4000000'])
  t.is(gone.status, 1)
  t.regex(gone.stderr, /^memtrace: cannot watch process 4000000: no process with pid 4000000 exists\n$/)
})

test('on a terminal, memtrace monitor shows elapsed time and RSS on a status line, then clears it', async (t) => {
  const dir = tempDir('monitor-tty')
  const stop = join(tempDir('monitor-stop'), 'stop')
  const command = [process.execPath, cliPath, 'monitor', '--log-dir', dir, '--', process.execPath, fixture('sleeper.cjs'), stop]
  // `script` runs the command on a pseudo-terminal and copies what it shows.
  const run = spawned(['-qec', command.map((word) => `'${word}'`).join(' '), '/dev/null'], { command: 'script' })
  const STATUS = /\rmemtrace: (\d+\.\d) s, RSS [\d.]+ MiB\x1b\[K/g
  await until('two status lines', () => [...run.stdout.matchAll(STATUS)].length >= 2)
  writeFileSync(stop, '')
  const result = await run.exited
  t.is(result.code, 0, result.stderr)
  const elapsed = [...result.stdout.matchAll(STATUS)].map((m) => Number(m[1]))
  t.true(elapsed.every((s, i) => i === 0 || s >= elapsed[i - 1]), `elapsed times in order: ${elapsed.join(', ')}`)
  t.regex(result.stdout, /\x1b\[K\r\x1b\[K[^\r]*memtrace: \S+\.jsonl: \d+ samples/, 'the status line is cleared before the summary')
})

test('the HTML report of a monitor log and of a profiler log: drawn offline, with marks, peak and jumps', async (t) => {
  const dir = tempDir('report-html')
  const monitorLog = join(dir, 'api.jsonl')
  t.is(node([fixture('api.cjs'), monitorLog, '50'], { env }).status, 0)
  const tree = tempDir('report-tree')
  await monitorFamily(tree)
  const [treeLog] = logsIn(tree, '.jsonl')
  const profileDir = tempDir('report-profile')
  t.is(node(['--require', registerPath, join(fixtures, 'profile', 'allocate.cjs'), profileDir], { env }).status, 0)
  const [profileLog] = logsIn(profileDir)
  // A process and its four workers: a directory of five logs, joined.
  const poolDir = tempDir('report-joined')
  t.is(cli(['run', '--rss', 'exact', '--log-dir', poolDir, join(fixtures, 'workers', 'pool.cjs')]).status, 0)
  // GC rows and the heap after each collection.
  const gcDir = tempDir('report-gc')
  t.is(cli(['run', '--gc', '--log-dir', gcDir, '--', process.execPath, '--expose-gc', join(fixtures, 'gc', 'grow.cjs'), 'buffers']).status, 0)
  const [gcLog] = logsIn(gcDir)

  mkdirSync(artifacts, { recursive: true })
  const browser = await launch()
  try {
    for (const [name, log, expected] of [
      ['monitor', monitorLog, ['before allocating', 'after allocating', 'last mark', 'Peak ', 'V8 heap', 'api test']],
      ['tree', treeLog, ['Processes', 'family.cjs', 'Peak ']],
      // The 32 MiB grow in Buffer.alloc, a native call on a line of allocate32.
      ['profile', profileLog, ['Buffer.alloc (native)', 'Functions by RSS growth', 'Lines by RSS growth', 'Peak ']],
      ['gc', gcLog, ['V8 heap after each collection', 'heapUsed', 'external', 'arrayBuffers', '(garbage collection)']],
      [
        'joined',
        poolDir,
        ['Logs of process', 'Functions by RSS growth, process', 'every thread', 'worker ', 'fill.cjs', 'Peak ', 'Stacks by RSS growth, process', 'a frame per thread'],
      ],
    ] as const) {
      const html = join(dir, `${name}.html`)
      const svg = join(dir, `${name}.svg`)
      const result = cli(['report', log, '--html', html, '--svg', svg])
      t.is(result.status, 0, result.stderr)
      t.regex(readFileSync(svg, 'utf8'), /^<svg[^>]+xmlns="http:\/\/www\.w3\.org\/2000\/svg"/)
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } })
      const requests: string[] = []
      const errors: string[] = []
      page.on('request', (request) => requests.push(request.url()))
      page.on('console', (message) => message.type() === 'error' && errors.push(message.text()))
      page.on('pageerror', (error) => errors.push(error.message))
      await page.goto(`file://${html}`)
      await page.waitForFunction(() => (window as unknown as { __memtraceCharts?: unknown[] }).__memtraceCharts?.length)
      t.deepEqual(errors, [], name)
      t.deepEqual(requests, [`file://${html}`], `${name}: no request but the page itself`)
      const drawn = await page.evaluate(() =>
        [...document.querySelectorAll('canvas')].some((canvas) => {
          const data = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height).data
          for (let i = 3; i < data.length; i += 4) if (data[i] !== 0) return true
          return false
        }),
      )
      t.true(drawn, `${name}: a chart was drawn`)
      const text = await page.evaluate(() => document.body.innerText)
      for (const words of expected) t.true(text.includes(words), `${name}: "${words}" is on the page`)
      await page.screenshot({ path: join(artifacts, `${name}-report.png`), fullPage: true })
      await page.close()
    }
  } finally {
    await browser.close()
  }
})

test('a truncated or damaged monitor log is read up to the damage, which is named; a damaged header is a clear error', (t) => {
  const dir = tempDir('monitor-corrupt')
  const log = join(dir, 'api.jsonl')
  t.is(node([fixture('api.cjs'), log, '50'], { env }).status, 0)
  const lines = readFileSync(log, 'utf8').split('\n')
  const report = (text: string, ...args: string[]) => {
    const path = join(dir, `case-${Math.random().toString(36).slice(2)}.jsonl`)
    writeFileSync(path, text)
    return { path, ...cli(['report', ...args, path]) }
  }
  const cut = report(`${lines.slice(0, 5).join('\n')}\n${lines[5].slice(0, 20)}`)
  t.is(cut.status, 0, cut.stderr)
  t.is(cut.stderr, `memtrace: ${cut.path} is damaged at line 6: the line is cut short (was the file truncated?); reported up to it\n`)
  t.regex(cut.stdout, /\n {2}4 samples over /)
  const notJson = report(`${lines.slice(0, 3).join('\n')}\nnot json at all\n${lines.slice(3).join('\n')}`, '--json')
  t.like(JSON.parse(notJson.stdout), { samples: 2, damage: { line: 4, reason: 'not JSON' } })
  const badT = report(`${lines.slice(0, 3).join('\n')}\n{"type":"sample","t":"soon","rss":1}\n`)
  t.regex(badT.stderr, /damaged at line 4: "t" must be a number of seconds; reported up to it/)
  const nuls = join(dir, 'nuls.jsonl')
  writeFileSync(nuls, Buffer.concat([Buffer.from(`${lines.slice(0, 4).join('\n')}\n`), Buffer.alloc(4 << 20)]))
  t.regex(cli(['report', nuls]).stderr, /damaged at line 5: holds NUL bytes/)
  // A header that is not one leaves nothing to read.
  const header = report(`{"type":"sample","t":0,"rss":1}\n`)
  t.is(header.status, 1)
  t.is(header.stderr, `memtrace: ${header.path} is not a readable memtrace log: line 1: a JSON header that is not a memtrace monitor's\n`)
  // An error row (RSS could not be read for a while) is part of a log, and the report shows it.
  const error = report(`${lines.slice(0, 3).join('\n')}\n{"type":"error","t":0.1,"message":"cannot read RSS: gone"}\n${lines.slice(3).join('\n')}`)
  t.is(error.status, 0, error.stderr)
  t.regex(error.stdout, /\n {2}error: cannot read RSS: gone\n/)
  // A log that simply stops (the process was killed) is still read, and says so.
  const unfinished = report(`${lines.slice(0, 6).join('\n')}\n`)
  t.is(unfinished.status, 0, unfinished.stderr)
  t.regex(unfinished.stdout, /INCOMPLETE: no end row/)
})
