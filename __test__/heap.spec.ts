// Heap mode: V8's sampling heap profiler through an in-process inspector session, written as a
// `.heapprofile` beside the log (or alone, with --no-calls), and read by `memtrace report`.
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

import test from 'ava'

import { cli, cliPath, eventRows, fixtures, logsIn, node, parseLog, registerPath, root, started, tempDir } from './support/index.js'

const script = join(fixtures, 'heap', 'retain-churn.cjs')
const untraced = node([script]).stdout
/** The line `retain` starts at, where the heap profile places it. */
const retainLine = readFileSync(script, 'utf8').split('\n').indexOf('function retain() {') + 1

interface JsonStack {
  growth: number
  rows: number
  frames: { function: string; file: string; line: number }[]
}

/** The function on top of each stack, most live bytes first. */
const tops = (stacks: JsonStack[]) => stacks.map((s) => s.frames.at(-1)?.function)

/** The bytes of the stacks that have `name` among their frames. */
const bytesIn = (stacks: JsonStack[], name: string) => stacks.filter((s) => s.frames.some((f) => f.function === name)).reduce((sum, s) => sum + s.growth, 0)

/** Whether this Node's V8 marks the samples of collected objects (14.6 and later: Node 26). */
const [v8Major, v8Minor] = process.versions.v8.split('.').map(Number)
const marksCollected = v8Major > 14 || (v8Major === 14 && v8Minor >= 6)

test('--heap --no-calls: no instrumentation, a .heapprofile of what is alive, ranked by stack', (t) => {
  const dir = tempDir('heap-only')
  const result = cli(['run', '--heap', '--no-calls', '--log-dir', dir, script])
  t.is(result.status, 0, result.stderr)
  t.is(result.stdout, untraced, 'the program ran as untraced')
  t.deepEqual(logsIn(dir), [], 'no per-call log')
  const [profile] = logsIn(dir, '.heapprofile')
  t.regex(profile, /\/\d{8}_\d{6}_\d+\.heapprofile$/)
  t.regex(result.stderr, new RegExp(String.raw`\.heapprofile: [\d,]+ samples of JavaScript objects still alive, about [\d.]+ MiB, most allocated in retain \(\S+retain-churn\.cjs:${retainLine}\)[;\n]`))

  // V8's format, as DevTools' Memory panel loads it.
  const data = JSON.parse(readFileSync(profile, 'utf8'))
  t.is(data.head.callFrame.functionName, '(root)')
  t.true(Array.isArray(data.head.children) && typeof data.head.selfSize === 'number')
  t.true(data.samples.length > 20 && data.samples.every((s: object) => ['size', 'nodeId', 'ordinal'].every((k) => k in s)))

  type Collected = { samples: number; bytes: number; byStack: JsonStack[] }
  const report = JSON.parse(cli(['report', '--json', profile]).stdout) as { byStack: JsonStack[]; bytes: number; collected: Collected | null }
  t.is(tops(report.byStack)[0], 'retain', JSON.stringify(tops(report.byStack)))
  const retained = bytesIn(report.byStack, 'retain')
  const churned = bytesIn(report.byStack, 'churn')
  t.true(retained > 10 * 1024 * 1024, `${retained} bytes alive from retain`)
  t.true(churned < retained / 20, `what churn made is gone: ${churned} bytes of it alive, ${retained} of retain's`)

  // Churn apart from retention, where V8 says which samples' objects were collected.
  t.is(Array.isArray(data.collectedSamples), marksCollected, `V8 ${process.versions.v8}`)
  if (marksCollected) {
    const { collected } = report
    t.is(tops(collected!.byStack)[0], 'churn', JSON.stringify(tops(collected!.byStack)))
    t.true(bytesIn(collected!.byStack, 'churn') > 4 * bytesIn(collected!.byStack, 'retain'), JSON.stringify(collected!.byStack.slice(0, 3)))
    t.true(collected!.bytes > 20 * 1024 * 1024 && collected!.samples === data.collectedSamples.length, JSON.stringify({ ...collected, byStack: undefined }))
    t.regex(result.stderr, /; [\d,]+ samples of objects collected before the end, about [\d.]+ MiB, most allocated in churn /)
    t.regex(cli(['report', profile]).stdout, /\nJavaScript allocations collected before the end \([\d,]+ samples, about [\d.]+ MiB\), by stack \(innermost frame first\):\n {2}\+[\d.]+ MiB in [\d,]+ samples\n {6}churn /)
  } else {
    t.is(report.collected, null)
  }
  const html = join(dir, 'heap.html')
  t.is(cli(['report', '--html', html, profile]).status, 0)
  const page = readFileSync(html, 'utf8')
  t.true(page.includes('Live JavaScript allocations by call stack'))
  t.is(page.includes('JavaScript allocations collected before the end, by call stack: churn'), marksCollected)
  t.regex(cli(['report', profile]).stdout, new RegExp(String.raw`Live JavaScript allocations by stack \(innermost frame first\):\n {2}\+[\d.]+ MiB in [\d,]+ samples\n {6}retain +\S+retain-churn\.cjs:${retainLine}\n`))
})

for (const [signal, calls, busy] of [
  ['SIGINT', true, false],
  ['SIGTERM', false, false],
  ['SIGINT', false, true],
  ['SIGTERM', true, true],
] as const) {
  const mode = calls ? '--heap' : '--heap --no-calls'
  // Serial: the other tests block this process in spawnSync, and the program must be signalled
  // while it runs.
  test.serial(`${mode}: ${signal} to a program ${busy ? 'busy in a loop' : 'waiting'} writes its heap profile before it ends the process`, async (t) => {
    const dir = tempDir(`heap-${signal}${busy ? "-busy" : ""}`)
    const serve = join(fixtures, 'heap', 'serve.cjs')
    const args = [cliPath, 'run', '--heap', ...(calls ? [] : ['--no-calls']), '--log-dir', dir, '--', process.execPath, serve, ...(busy ? ['busy'] : [])]
    const run = await started(args, 'ready')
    process.kill(Number(/ready (\d+)/.exec(run.stdout)![1]), signal)
    const { stderr } = await run.exited
    const [profile] = logsIn(dir, '.heapprofile')
    t.truthy(profile, stderr)
    t.regex(stderr, /\.heapprofile: [\d,]+ samples of JavaScript objects still alive, about [\d.]+ MiB, most allocated in retain /)
    const report = JSON.parse(cli(['report', '--json', profile]).stdout) as { byStack: JsonStack[] }
    t.is(tops(report.byStack)[0], 'retain', JSON.stringify(tops(report.byStack)))
    if (calls) {
      const last = eventRows(parseLog(readFileSync(logsIn(dir)[0], 'utf8'))).at(-1)!
      t.deepEqual([last.kind, last.file, last.func], ['LAST', '<signal>', `<${signal}>`])
    }
  })
}

for (const mode of [[], ['--no-calls']]) {
  test(`${['--heap', ...mode].join(' ')}: a worker ended by terminate() while it waits in Atomics.wait still writes its heap profile`, (t) => {
    const dir = tempDir('heap-terminated')
    const fixture = join(fixtures, 'heap', 'terminated.cjs')
    const result = cli(['run', '--heap', ...mode, '--log-dir', dir, fixture])
    t.is(result.status, 0, result.stderr)
    t.is(result.stdout, node([fixture]).stdout)
    const worker = logsIn(dir, '.heapprofile').filter((path) => /\/\d{8}_\d{6}_\d+_\d+\.heapprofile$/.test(path))
    t.is(worker.length, 1, result.stderr)
    const data = JSON.parse(readFileSync(worker[0], 'utf8'))
    t.is(data.head.callFrame.functionName, '(root)')
    const report = JSON.parse(cli(['report', '--json', worker[0]]).stdout) as { byStack: JsonStack[] }
    t.is(tops(report.byStack)[0], 'retain', JSON.stringify(tops(report.byStack)))
    t.true(bytesIn(report.byStack, 'retain') > 10 * 1024 * 1024)
  })
}

test('--heap beside the per-call log: the report of the log shows both, and the exports take the heap profile', (t) => {
  const dir = tempDir('heap-and-calls')
  const result = cli(['run', '--heap', '--heap-interval', '16384', '--log-dir', dir, script])
  t.is(result.status, 0, result.stderr)
  t.is(result.stdout, untraced)
  const [log] = logsIn(dir)
  const heap = log.replace(/\.log$/, '.heapprofile')
  t.deepEqual(logsIn(dir, '.heapprofile'), [heap], 'named after its log')
  const text = cli(['report', log]).stdout
  t.regex(text, /RSS growth by stack/)
  t.regex(text, /\.heapprofile: [\d,]+ samples of JavaScript objects still alive/)
  t.regex(text, /Live JavaScript allocations by stack \(innermost frame first\):\n {2}\+[\d.]+ MiB in [\d,]+ samples\n {6}retain /)
  const html = join(dir, 'report.html')
  t.is(cli(['report', log, '--html', html]).status, 0)
  t.regex(readFileSync(html, 'utf8'), /data-flame-index="1"/, 'a flame graph of the live allocations too')

  const pprof = join(dir, 'heap.pb.gz')
  const exported = cli(['report', heap, '--pprof', pprof, '--speedscope', join(dir, 'heap.json'), '--collapsed', join(dir, 'heap.folded')])
  t.is(exported.status, 0, exported.stderr)
  const top = spawnSync('go', ['tool', 'pprof', '-top', pprof], { encoding: 'utf8' })
  t.is(top.status, 0, top.stderr)
  t.regex(top.stdout.split('\n').find((line) => /^\s+\d/.test(line))!, /\sretain$/, top.stdout)
  t.regex(readFileSync(join(dir, 'heap.folded'), 'utf8'), new RegExp(String.raw`;retain \(\S+retain-churn\.cjs:${retainLine}\) \d+\n`))
  for (const option of ['--svg', '--chrome-trace']) {
    const refused = cli(['report', heap, option, join(dir, 'x')])
    t.is(refused.status, 2)
    t.regex(refused.stderr, new RegExp(`${option} draws what happened over time; a heap profile holds what was alive at the end`))
  }
})

test('profile({ heap: true }): the summary names the heap profile; one profiler of a thread samples the heap at a time', (t) => {
  const dir = tempDir('heap-api')
  const result = node(['--require', registerPath, join(fixtures, 'heap', 'api.cjs'), dir], { env: { MEMTRACE_INDEX: join(root, 'dist', 'index.js') } })
  t.is(result.status, 0, result.stderr)
  const [refusal, summary] = result.stdout.trim().split('\n')
  t.regex(refusal, /^Error: heap: V8 samples a thread's heap for one profiler at a time, and \S+\.log does$/)
  const heap = JSON.parse(summary) as { path: string; samples: number; bytes: number; collected: { samples: number; bytes: number } | null }
  t.true(readdirSync(dir).includes(heap.path.split('/').at(-1)!))
  t.true(heap.samples > 100 && heap.bytes > 1024 * 1024, summary)
  // As the file says: its collected samples, where V8 marks them.
  const written = JSON.parse(readFileSync(heap.path, 'utf8'))
  t.deepEqual(heap.collected, marksCollected ? { samples: written.collectedSamples.length, bytes: written.collectedSamples.reduce((sum: number, s: { size: number }) => sum + s.size, 0) } : null)
})

test('heap options: clear errors before anything runs', (t) => {
  for (const [args, expected] of [
    [['--no-calls', script], /^memtrace: --no-calls records nothing without --heap: give --heap too/],
    [['--heap-interval', '100', script], /^memtrace: --heap-interval is for --heap: give --heap too/],
    [['--heap', '--heap-interval', '0', script], /^memtrace: --heap-interval must be a whole number from 1 to 1073741824, got "0"/],
  ] as const) {
    const result = cli(['run', ...args])
    t.is(result.status, 2, result.stderr)
    t.regex(result.stderr, expected)
  }
})

test("--heap: what memtrace allocates (the code it instrumented, its hot path's tables) stands apart, under (memtrace), never as the program's", (t) => {
  const dir = tempDir('heap-own')
  const ran = cli(['run', '--heap', '--heap-interval', '4096', '--log-dir', dir, join(fixtures, 'heap', 'markdown.cjs')])
  t.is(ran.status, 0, ran.stderr)
  const [profile] = readdirSync(dir).filter((name) => name.endsWith('.heapprofile'))
  const json = JSON.parse(cli(['report', '--json', '--top', '1000', join(dir, profile)]).stdout) as {
    bytes: number
    memtrace: { samples: number; bytes: number }
    byStack: JsonStack[]
  }
  const dist = join(root, 'dist')
  const program = json.byStack.filter((s) => s.frames[0]?.function !== '(memtrace)')
  t.deepEqual(program.filter((s) => s.frames.some((f) => f.file.startsWith(dist))), [], 'no stack of the program runs through memtrace')
  t.true(json.byStack.some((s) => s.frames[0]?.function === '(memtrace)' && s.frames.some((f) => f.file.startsWith(dist))))
  // markdown-it's code, instrumented, is hundreds of KiB that memtrace made.
  t.true(json.memtrace.bytes > 100 * 1024, `${json.memtrace.bytes}`)
  t.true(json.bytes > 0)
  t.regex(ran.stderr, /; memtrace's own, apart: about [\d.]+ [KM]iB$/m)
})
