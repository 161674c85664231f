// Memory budgets: `memtrace run --max-rss/--max-growth`, the leak check of `memtrace/testing`
// in four real test runners, and `memtrace diff`.
import { copyFileSync, mkdirSync, readdirSync, symlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import test from 'ava'

import { cli, fixtures, logsIn, node, registerPath, root, tempDir } from './support/index.js'

const leaks = (name: string) => join(fixtures, 'leaks', name)
const hoard = leaks('hoard.cjs')
const LIMIT_EXIT_CODE = 86

test('--max-rss below the peak: exit 86, naming the limit, the process and the function that grew', (t) => {
  const dir = tempDir('max-rss')
  const result = cli(['run', '--log-dir', dir, '--max-rss', '100MiB', hoard, '128'])
  t.is(result.stdout, 'kept 128 MiB\n', 'the program ran to its end')
  t.is(result.status, LIMIT_EXIT_CODE, result.stderr)
  t.regex(result.stderr, /memtrace: process \d+ \(node \S*hoard\.cjs 128\) went over --max-rss 100\.0 MiB \(peak RSS 1\d\d\.\d MiB\)\n/)
  t.regex(result.stderr, /memtrace: {3}it crossed at RSS 1\d\d\.\d MiB, in /)
  // The first place named is where the memory was taken, with the function that took it.
  t.regex(result.stderr, /most growth up to then:\nmemtrace: +\+[\d.]+ MiB {2}Buffer\.alloc \(native\) \(\S*hoard\.cjs:5\), called from hoard < <module>\n/)
  t.regex(result.stderr, /memtrace: exit code 86: over a memory limit; the command itself exited with 0\n$/)
})

test('--max-rss above the peak: the program\'s own exit code; below it with a failing program: both are said', (t) => {
  const dir = tempDir('max-rss-codes')
  const above = cli(['run', '--log-dir', dir, '--max-rss', '4GiB', hoard, '16', '3'])
  t.is(above.status, 3, above.stderr)
  t.notRegex(above.stderr, /went over/)
  const both = cli(['run', '--log-dir', dir, '--max-rss', `${100 * 1024 * 1024}`, hoard, '128', '3'])
  t.is(both.status, LIMIT_EXIT_CODE, both.stderr)
  t.regex(both.stderr, /went over --max-rss 100\.0 MiB/)
  t.regex(both.stderr, /exit code 86: over a memory limit; the command itself exited with 3\n$/)
})

test('--max-growth applies to each process of a command, naming the one that went over', (t) => {
  const dir = tempDir('max-growth')
  const script = `"$0" "$1" 64 && "$0" "$1" 2`
  const result = cli(['run', '--log-dir', dir, '--max-growth', '32MiB', '--', 'sh', '-c', script, process.execPath, hoard])
  t.is(result.stdout, 'kept 64 MiB\nkept 2 MiB\n')
  t.is(result.status, LIMIT_EXIT_CODE, result.stderr)
  const over = [...result.stderr.matchAll(/process \d+ \((.*?)\) went over --max-growth 32\.0 MiB \(growth (\d+)\.\d MiB\)/g)]
  t.deepEqual(
    over.map((m) => m[1].replace(/\S*hoard/, 'hoard')),
    ['node hoard.cjs 64'],
    result.stderr,
  )
  t.true(Number(over[0][2]) >= 48, 'most of the 64 MiB is counted as growth')
})

test('limits: bad sizes and --no-calls are usage errors naming the option', (t) => {
  const cases: [string[], RegExp][] = [
    [['--max-rss', '1.5XB'], /^memtrace: --max-rss must be a size above zero: bytes, or a number with a unit: 300MiB, 1\.5GB, 64KiB \(kB MB GB TB, KiB MiB GiB TiB\); got "1\.5XB"\n/],
    [['--max-growth', '0'], /^memtrace: --max-growth must be a size above zero: .*; got "0"\n/],
    [['--max-rss', '-5MiB'], /^memtrace: --max-rss must be a size above zero/],
    [['--max-rss', '1GB', '--heap', '--no-calls'], /^memtrace: --max-rss and --max-growth read the per-call log, which --no-calls leaves out\n/],
  ]
  for (const [args, expected] of cases) {
    const result = cli(['run', ...args, hoard, '1'])
    t.is(result.status, 2, args.join(' '))
    t.regex(result.stderr, expected)
    t.is(result.stdout, '', 'the program did not run')
  }
  const fine = cli(['run', '--log-dir', tempDir('sizes'), '--max-rss', '1.5GB', '--max-growth', '1073741824', hoard, '1'])
  t.is(fine.status, 0, fine.stderr)
})

/** A project with the leak tests of fixtures/leaks, and memtrace and the test runners in its node_modules. */
function leakProject(): string {
  const dir = tempDir('leak-project')
  for (const name of readdirSync(join(fixtures, 'leaks'))) copyFileSync(leaks(name), join(dir, name))
  mkdirSync(join(dir, 'node_modules'))
  symlinkSync(root, join(dir, 'node_modules', 'memtrace'))
  for (const runner of ['ava', 'jest', 'vitest']) symlinkSync(join(root, 'node_modules', runner), join(dir, 'node_modules', runner))
  return dir
}

// Each runs fixtures/leaks/<runner>.test.*: checkLeak flags the function that keeps 1 MiB per call
// and passes the one that frees it, ten times in a row each, and assertNoLeak's message names the
// growth and, through the profiler, the function.
const RUNNERS: Record<string, { args: string[]; passed: RegExp }> = {
  'node:test': { args: ['--test', '--test-reporter=tap', 'node.test.mjs'], passed: /^# pass 2$/m },
  ava: { args: ['node_modules/ava/entrypoints/cli.mjs', 'ava.test.mjs'], passed: /^ {2}2 tests passed$/m },
  jest: { args: ['node_modules/jest/bin/jest.js', '--rootDir', '.', '--testMatch', '**/jest.test.cjs'], passed: /^Tests: +2 passed, 2 total$/m },
  vitest: { args: ['node_modules/vitest/vitest.mjs', 'run', '--color=false', 'vitest.test.mjs'], passed: /^ +Tests +2 passed \(2\)$/m },
}

for (const [runner, { args, passed }] of Object.entries(RUNNERS)) {
  test(`checkLeak in ${runner}: a function that keeps 1 MiB per call is flagged, one that frees it is not, 10 times in a row`, (t) => {
    const result = node(args, { cwd: leakProject(), env: { NODE_OPTIONS: `--require ${registerPath}`, NO_COLOR: '1', CI: '1' } })
    const output = `${result.stdout}\n${result.stderr}`
    t.is(result.status, 0, output)
    t.regex(output, passed)
  })
}

/** Logs of fixtures/leaks/app.cjs under memtrace run, without the leak and with it. */
function beforeAndAfter(): { before: string; after: string } {
  const dirs = { before: tempDir('diff-before'), after: tempDir('diff-after') }
  for (const [side, dir] of Object.entries(dirs)) {
    const result = cli(['run', '--log-dir', dir, leaks('app.cjs')], { env: { LEAK: side === 'after' ? '1' : '0' } })
    if (result.status !== 0) throw new Error(result.stderr)
  }
  return dirs
}

interface DiffJson {
  before: { growth: number; logs: string[] }
  after: { growth: number; logs: string[] }
  change: number
  functions: { name: string; where: string; before: number; after: number; change: number }[]
  stacks: { name: string; where: string; change: number }[]
  failOver: { exceeded: boolean } | null
}

test('memtrace diff names the leak a change added first, by function and by stack', (t) => {
  const { before, after } = beforeAndAfter()
  const json = JSON.parse(cli(['diff', '--json', before, after]).stdout) as DiffJson
  const app = leaks('app.cjs')
  t.deepEqual([json.functions[0].name, json.functions[0].where, json.functions[0].before], ['Buffer.alloc (native) in remember', `${app}:11`, 0])
  // Most of the 40 MiB kept; on a loaded machine the sampler's lag puts some of it in other rows.
  t.true(json.functions[0].after >= 16 << 20, `${json.functions[0].after} bytes`)
  t.deepEqual([json.stacks[0].name, json.stacks[0].where], ['<module> > remember > Buffer.alloc (native)', `${app}:11`])
  t.true(json.change >= 16 << 20 && json.after.growth > json.before.growth)
  t.is(json.failOver, null)
  const text = cli(['diff', before, after])
  t.is(text.status, 0)
  t.regex(text.stdout, /^before: .*\nafter: {2}.*\nRSS growth [\d.]+ MiB before, [\d.]+ MiB after: \+[\d.]+ MiB \(\+[\d.]+%\)/)
  t.regex(text.stdout, /Growth by function, most change first:\n +change +before +after +function\n +\+[\d.]+ MiB +0 B +[\d.]+ MiB {2}Buffer\.alloc \(native\) in remember \(\S+app\.cjs:11\)\n/)
})

test('memtrace diff --fail-over: exit 86 when growth rose by more, 0 when not, as a size or a share', (t) => {
  const { before, after } = beforeAndAfter()
  const cases: [string[], number][] = [
    [['--fail-over', '10%', before, after], 86],
    [['--fail-over', '16MiB', before, after], 86],
    [['--fail-over', '1GiB', before, after], 0],
    [['--fail-over', '1000%', before, after], 0],
    // Growth that fell never fails.
    [['--fail-over', '0%', after, before], 0],
    [['--fail-over', '1', after, before], 0],
  ]
  for (const [args, code] of cases) {
    const result = cli(['diff', ...args])
    t.is(result.status, code, `${args.join(' ')}: ${result.stderr}`)
    t.is(/rose by more than --fail-over/.test(result.stderr), code === 86)
  }
  const json = JSON.parse(cli(['diff', '--json', '--fail-over', '10%', before, after]).stdout) as DiffJson
  t.deepEqual(json.failOver, { limit: { fraction: 0.1 }, exceeded: true })
})

test('memtrace diff --markdown renders as tables', async (t) => {
  const { before, after } = beforeAndAfter()
  const result = cli(['diff', '--markdown', '--top', '3', before, after])
  t.is(result.status, 0, result.stderr)
  const { default: MarkdownIt } = (await import('markdown-it' as string)) as { default: new () => { render(text: string): string } }
  const html = new MarkdownIt().render(result.stdout)
  const tables = [...html.matchAll(/<table>([\s\S]*?)<\/table>/g)].map(([, table]) =>
    [...table.matchAll(/<tr>([\s\S]*?)<\/tr>/g)].map(([, row]) => [...row.matchAll(/<t[hd][^>]*>([\s\S]*?)<\/t[hd]>/g)].map(([, cell]) => cell)),
  )
  t.is(tables.length, 2, html)
  t.deepEqual(tables[0][0], ['Change', 'Before', 'After', 'Function', 'Where'])
  t.deepEqual(tables[0][1].slice(1, 4), ['0 B', tables[0][1][2], '<code>Buffer.alloc (native) in remember</code>'])
  t.true(tables.every((rows) => rows.length === 4 && rows.every((cells) => cells.length === 5)))
  t.is(tables[1][1][3], '<code>&lt;module&gt; &gt; remember &gt; Buffer.alloc (native)</code>')
})

test('memtrace diff: bad arguments are usage errors; what is not a profiler log is named', (t) => {
  const { before } = beforeAndAfter()
  const monitorDir = tempDir('diff-monitor')
  t.is(cli(['monitor', '--log-dir', monitorDir, '--', process.execPath, '-e', '0']).status, 0)
  const [monitorLog] = logsIn(monitorDir, '.jsonl')
  const cases: [string[], number, RegExp][] = [
    [[before], 2, /^memtrace: give two runs, before and after \(a log or a directory of logs each\); got 1\n/],
    [['--fail-over', 'lots', before, before], 2, /^memtrace: --fail-over must be a size \(.*\) or a percentage \(10%\), got "lots"\n/],
    [['--markdown', '--json', before, before], 2, /^memtrace: --markdown and --json cannot both be given\n/],
    [['--top', '0', before, before], 2, /^memtrace: --top must be a whole number from 1 to \d+, got "0"\n/],
    [[before, monitorLog], 1, /^memtrace: \S+\.jsonl is not a profiler log: memtrace diff compares the logs of memtrace run and profile\(\)\n$/],
    [[before, join(before, 'missing.log')], 1, /^memtrace: cannot open \S+missing\.log: /],
  ]
  for (const [args, code, expected] of cases) {
    const result = cli(['diff', ...args])
    t.is(result.status, code, args.join(' '))
    t.regex(result.stderr, expected)
  }
})

test('checkLeak: bad options are TypeErrors naming them; a function that throws rejects with its error and leaves no files', async (t) => {
  const { checkLeak, assertNoLeak } = (await import(join(root, 'dist', 'testing.js'))) as typeof import('../dist/testing.js')
  const cases: [unknown, unknown, RegExp][] = [
    [42, undefined, /^checkLeak\(fn\) must be a function, got 42$/],
    [() => 0, { iterations: 1 }, /^iterations must be an integer from 3 to 1000000, got 1$/],
    [() => 0, { warmup: -1 }, /^warmup must be an integer from 0 to 1000000, got -1$/],
    [() => 0, { maxGrowthPerIteration: '1 lots' }, /^maxGrowthPerIteration must be a whole number of bytes, or a size: .*, got "1 lots"$/],
    [() => 0, { colour: 'red' }, /^checkLeak options has no option "colour"; the options are: iterations, warmup, maxGrowthPerIteration, logDir$/],
  ]
  for (const [fn, options, message] of cases) {
    await t.throwsAsync(checkLeak(fn as () => unknown, options as object), { instanceOf: TypeError, message })
  }
  const before = new Set(readdirSync(tmpdir()))
  let calls = 0
  const failing = () => {
    if (++calls === 8) throw new Error('the eighth call fails')
  }
  await t.throwsAsync(assertNoLeak(failing), { message: 'the eighth call fails' })
  t.deepEqual(readdirSync(tmpdir()).filter((name) => name.startsWith('memtrace-leak-') && !before.has(name)), [])
  // Without the loader hooks (this process has none), the figures come all the same, and a note says why no function is named.
  const report = await checkLeak(() => Buffer.alloc(1 << 20, 1).length)
  t.false(report.leaked)
  t.deepEqual(report.topFunctions, [])
  t.true(report.notes.some((note) => note.startsWith('functions are not named: memtrace cannot trace: its loader hooks are not installed')))
})

test('checkLeak under the loader hooks: a log directory that cannot be written rejects before any call is measured', (t) => {
  const code = `
    const { checkLeak } = require(${JSON.stringify(join(root, 'dist', 'testing.js'))})
    let calls = 0
    checkLeak(() => calls++, { warmup: 0, logDir: '/proc/memtrace/logs' }).then(
      () => console.log('resolved'),
      (error) => console.log(calls, error.constructor.name, error.message),
    )`
  const result = node(['--require', registerPath, '-e', code])
  t.is(result.status, 0, result.stderr)
  t.regex(result.stdout, /^0 Error .*\/proc\/memtrace\/logs/)
})
