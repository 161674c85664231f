// Call stacks: the shadow stack on the hot path, STCK rows in the log, growth by stack in the
// report, and the exports other tools read (pprof, speedscope, folded stacks, Chrome trace).
import { spawnSync } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { basename, join } from 'node:path'

import test from 'ava'

import { cli, eventRows, fixtures, framesOf, logsIn, parseLog, root, tempDir, type Log } from './support/index.js'

const MiB = 1024 * 1024
const twoPaths = join(fixtures, 'stacks', 'two-paths.cjs')

/** Runs `args` under `memtrace run --rss exact` (each row's growth its own) in a new directory; the log's path and text. */
function traced(t: import('ava').ExecutionContext, args: string[], options: string[] = []): { dir: string; path: string; log: Log } {
  const dir = tempDir('stacks')
  const result = cli(['run', '--rss', 'exact', '--log-dir', dir, ...options, ...args])
  t.is(result.status, 0, result.stderr)
  const [path] = logsIn(dir)
  return { dir, path, log: parseLog(readFileSync(path, 'utf8')) }
}

interface JsonStack {
  growth: number
  rows: number
  frames: { function: string; file: string; line: number; kind: string }[]
}

test('growth by stack: one leaking function reached through two paths shows both, with their shares', (t) => {
  const { path, log } = traced(t, [twoPaths], ['--no-native-calls'])
  // The log: every row of the leak names a stack, outermost first, that STCK rows define.
  const leaks = eventRows(log).filter((r) => r.kind === 'NEXT' && r.func === 'leak' && r.what === 'RETURN')
  const paths = new Set(leaks.map((r) => framesOf(log, r.stack).join(' > ')))
  t.deepEqual([...paths].sort(), ['<module> > main > viaA > leak', '<module> > main > viaB > leak'])

  const report = JSON.parse(cli(['report', '--json', path]).stdout)
  const stacks: JsonStack[] = report.byStack
  const named = (s: JsonStack) => s.frames.map((f) => f.function).join(' > ')
  const viaA = stacks.find((s) => named(s) === '<module> > main > viaA > leak')!
  const viaB = stacks.find((s) => named(s) === '<module> > main > viaB > leak')!
  // What RSS shows of each Buffer depends on the allocator (pages it kept from before, or gives
  // back): the shares are roughly three to one.
  t.true(viaA.growth >= 20 * MiB && viaB.growth >= 6 * MiB, `through viaA: ${viaA.growth / MiB} MiB of 24, viaB: ${viaB.growth / MiB} of 8`)
  t.true(viaA.growth > 2 * viaB.growth && viaA.growth < 5 * viaB.growth, `through viaA: ${viaA.growth / MiB} MiB of 24, viaB: ${viaB.growth / MiB} of 8`)
  t.true(stacks.indexOf(viaA) < stacks.indexOf(viaB), 'most growth first')
  t.deepEqual(viaA.frames[3], { function: 'leak', name: 'leak', file: twoPaths, line: 7, kind: 'function' })

  // caller() allocated right before calling callee(): seen at callee's CALL, it is caller's.
  const caller = stacks.find((s) => named(s) === '<module> > main > caller')
  t.true(caller !== undefined && caller.growth >= 2 * MiB, 'the growth seen as callee was called is its caller\'s')
  const functions: { function: string; atEntry: boolean; growth: number }[] = report.functions
  t.false(
    functions.some((f) => f.atEntry && f.function !== '<module>'),
    `no (at entry) row but the module's, whose caller is Node: ${JSON.stringify(functions.filter((f) => f.atEntry))}`,
  )
  t.true(functions.find((f) => f.function === 'caller')!.growth >= 2 * MiB)

  const text = cli(['report', path]).stdout
  t.regex(text, /RSS growth by stack \(innermost frame first\):\n {2}\+2\d\.\d MiB in \d+ rows\n {6}leak +\S+two-paths\.cjs:7\n {6}viaA /)
})

test('with stacks off the rows are the seed\'s and the report has no table by stack', (t) => {
  const { path, log } = traced(t, [twoPaths], ['--no-stacks'])
  t.is(log.stacks.size, 0)
  t.true(eventRows(log).every((r) => r.stack === null))
  const text = cli(['report', path]).stdout
  t.notRegex(text, /by stack/)
  const exported = cli(['report', path, '--pprof', join(tempDir('no-stacks'), 'x.pb.gz')])
  t.is(exported.status, 1)
  t.regex(exported.stderr, /names no call stacks: it was recorded with --no-stacks/)
})

test('100,000 frames deep, then a stack overflow caught: every stack stays right', (t) => {
  const deep = join(fixtures, 'stacks', 'deep.cjs')
  const dir = tempDir('deep')
  // A stack big enough for 100,000 frames, and a V8 limit within it.
  const result = spawnSync(
    'bash',
    ['-c', 'ulimit -s 131072 && exec "$0" "$@"', process.execPath, join(root, 'dist', 'cli', 'main.js'), 'run', '--rss', 'exact', '--log-dir', dir, '--', process.execPath, '--stack-size=60000', deep, '100000'],
    { encoding: 'utf8' },
  )
  t.is(result.status, 0, result.stderr)
  t.is(result.stdout, '100000 true\n', 'the program ran as untraced')
  const log = parseLog(readFileSync(logsIn(dir)[0], 'utf8'))
  const rows = eventRows(log).filter((r) => r.kind === 'NEXT')
  const bottom = rows.find((r) => r.what === 'C_RETURN' && r.func === 'Buffer.alloc' && framesOf(log, r.stack).at(-1) === 'down')!
  t.is(framesOf(log, bottom.stack).length, 2 + 100_001, 'the module, main and 100,001 calls of down')
  const line = readFileSync(deep, 'utf8').split('\n').indexOf('  kept.push(Buffer.alloc(4 * 1024 * 1024, 3))') + 1
  const after = rows.find((r) => r.what === 'C_RETURN' && r.func === 'Buffer.alloc' && r.line === line)!
  t.deepEqual(framesOf(log, after.stack), ['<module>', 'main', 'after'])
})

test('--pprof: go tool pprof reads the profile and lists the leaking function first', (t) => {
  const { dir, path } = traced(t, [twoPaths], ['--no-native-calls'])
  const profile = join(dir, 'growth.pb.gz')
  const result = cli(['report', path, '--pprof', profile])
  t.is(result.status, 0, result.stderr)
  t.regex(result.stderr, new RegExp(`memtrace: wrote ${profile}\\n`))
  t.is(readFileSync(profile)[0], 0x1f, 'gzipped')
  const top = spawnSync('go', ['tool', 'pprof', '-top', profile], { encoding: 'utf8' })
  t.is(top.status, 0, top.stderr)
  t.regex(top.stdout, /Type: rss_growth/)
  const first = top.stdout.split('\n').find((line) => /^\s+\d/.test(line))!
  t.regex(first, /\sleak$/, top.stdout)
  const rows = spawnSync('go', ['tool', 'pprof', '-top', '-sample_index=rows', profile], { encoding: 'utf8' })
  t.regex(rows.stdout, /Type: rows/)
})

test('--speedscope: the file validates against speedscope\'s schema, weighted by growth', (t) => {
  const { dir, path } = traced(t, [twoPaths], ['--no-native-calls'])
  const file = join(dir, 'growth.speedscope.json')
  t.is(cli(['report', path, '--speedscope', file]).status, 0)
  const data = JSON.parse(readFileSync(file, 'utf8'))
  const require = createRequire(import.meta.url)
  const Ajv = require('ajv')
  const schema = JSON.parse(readFileSync(require.resolve('speedscope/dist/release/file-format-schema.json'), 'utf8'))
  const validate = new Ajv({ allErrors: true, strict: false }).compile(schema)
  t.true(validate(data), JSON.stringify(validate.errors))
  const [profile] = data.profiles
  t.is(profile.unit, 'bytes')
  const frames: { name: string }[] = data.shared.frames
  const heaviest = profile.samples[profile.weights.indexOf(Math.max(...profile.weights))]
  t.deepEqual(
    heaviest.map((i: number) => frames[i].name),
    ['<module>', 'main', 'viaA', 'leak'],
  )
  t.is(profile.endValue, profile.weights.reduce((a: number, b: number) => a + b, 0))
})

test('--collapsed: folded stacks, one line per stack, bytes last', (t) => {
  const { dir, path } = traced(t, [twoPaths], ['--no-native-calls'])
  const file = join(dir, 'growth.folded')
  t.is(cli(['report', path, '--collapsed', file]).status, 0)
  const lines = readFileSync(file, 'utf8').trimEnd().split('\n')
  t.true(lines.every((line) => /^[^\n]+ \d+$/.test(line)), lines.join('\n'))
  const weight = (suffix: string) =>
    lines.filter((l) => l.replace(/ \d+$/, '').split(';').map((f) => f.replace(/ \(.*\)$/, '')).join(';').endsWith(suffix)).map((l) => Number(l.split(' ').at(-1)))
  const [a] = weight('main;viaA;leak')
  const [b] = weight('main;viaB;leak')
  t.true(a > 2 * b && a < 5 * b, `viaA ${a}, viaB ${b}: about three to one`)
})

test('--chrome-trace: each row\'s instant event carries its stack', (t) => {
  const { dir, path } = traced(t, [twoPaths], ['--no-native-calls'])
  const file = join(dir, 'trace.json')
  t.is(cli(['report', path, '--chrome-trace', file]).status, 0)
  const events: { name: string; ph: string; args?: { stack?: string } }[] = JSON.parse(readFileSync(file, 'utf8')).traceEvents
  const leak = events.find((e) => e.ph === 'i' && e.name === 'leak')!
  t.regex(leak.args!.stack!, /^<module> \(\S+two-paths\.cjs:\d+\) → main \(\S+:\d+\) → via[AB] \(\S+:\d+\) → leak \(\S+two-paths\.cjs:7\)$/)
})

test('exports read every log given, their stacks merged, and say what is wrong with bad input', (t) => {
  const first = traced(t, [twoPaths], ['--no-native-calls'])
  const second = traced(t, [twoPaths], ['--no-native-calls'])
  const out = tempDir('merged')
  const folded = (...logs: string[]) => {
    const file = join(out, `${logs.length}-${logs.map((l) => basename(l)).join('-')}.folded`)
    t.is(cli(['report', ...logs, '--collapsed', file]).status, 0)
    return new Map(readFileSync(file, 'utf8').trimEnd().split('\n').map((l) => [l.replace(/ \d+$/, ''), Number(l.split(' ').at(-1))]))
  }
  const [one, two, both] = [folded(first.path), folded(second.path), folded(first.path, second.path)]
  t.deepEqual([...both.keys()].sort(), [...new Set([...one.keys(), ...two.keys()])].sort(), 'one line per stack, whichever log it came from')
  for (const [stack, bytes] of both) t.is(bytes, (one.get(stack) ?? 0) + (two.get(stack) ?? 0), stack)
  const monitor = cli(['monitor', '--log-dir', out, '--', process.execPath, '-e', '0'])
  t.is(monitor.status, 0, monitor.stderr)
  const [monitorLog] = logsIn(out, '.jsonl')
  for (const [args, expected] of [
    [[first.path, '--pprof', join(out, 'missing', 'x.pb.gz')], /^memtrace: --pprof: cannot write \S+x\.pb\.gz: No such file or directory/],
    [[monitorLog, '--speedscope', join(out, 'x.json')], /--speedscope exports a profiler log; this is a monitor log/],
    [[first.path, '--collapsed'], /--collapsed needs a value/],
  ] as const) {
    const result = cli(['report', ...args])
    t.not(result.status, 0)
    t.regex(result.stderr, expected)
  }
})

/** Tests of native code alone that take long: `scripts/test.mjs` runs them with its first Node only. */
const long = process.env.MEMTRACE_LONG_TESTS === '0' ? test.skip : test

long('a log of several GB is reported and exported in memory that stays flat', async (t) => {
  // The export benchmark's log: a program's rows over 2,000 stacks.
  const workload: string = '../bench/workloads/log.mjs'
  const { writeLog } = (await import(workload)) as { writeLog(path: string, bytes: number): number }
  const dir = tempDir('big-log')
  const small = join(dir, 'small.log')
  const big = join(dir, 'big.log')
  // Gigabytes on disk: removed whatever happens, a full disk included.
  try {
    writeLog(small, 64 * MiB)
    const bytes = writeLog(big, 2.5 * 1024 * MiB)
    // What `memtrace report` reads for its tables, then each export of stacks, in one process.
    const peak = (log: string) => {
      const script = `
        const { native } = require(${JSON.stringify(join(root, 'dist', 'native.js'))})
        const log = process.argv[1], out = process.argv[2]
        const report = native.readLog(log)
        for (const format of ['pprof', 'speedscope', 'collapsed']) native.exportStacks([{ file: log, path: log }], out + '.' + format, format, 'big')
        console.log(JSON.stringify({ rows: report.rows, stacks: report.stacks.parent.length, maxRss: process.resourceUsage().maxRSS * 1024 }))`
      const result = spawnSync(process.execPath, ['-e', script, log, join(dir, 'export')], { encoding: 'utf8' })
      t.is(result.status, 0, result.stderr)
      return JSON.parse(result.stdout) as { rows: number; stacks: number; maxRss: number }
    }
    const [few, many] = [peak(small), peak(big)]
    t.true(many.rows > 30 * few.rows, `${many.rows} rows read of ${bytes} bytes`)
    t.is(many.stacks, few.stacks, 'the same stacks')
    t.true(many.maxRss - few.maxRss < 32 * MiB, `peak RSS ${few.maxRss / MiB} MiB for 64 MiB of log, ${many.maxRss / MiB} MiB for ${bytes / MiB} MiB`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
