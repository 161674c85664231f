// Invisible: a traced program can observe nothing different. Each check runs code nobody here
// wrote, untraced and under `memtrace run`, and expects the same: a sample of test262, the
// functions of 17 popular packages (their source text, the stack traces of errors thrown through
// them, the names V8 gives them, what their closures let the collector take), and real tools
// (webpack with terser, esbuild, a failing Jest and Vitest suite, c8, Node's type stripping).
// `npm run test:invisible` runs test262's directories whole and every check on every Node.
import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import test from 'ava'

import { compare262, listTests } from '../scripts/invisible/test262.mjs'
import { differences, twice } from '../scripts/invisible/twice.mjs'
import { cli, fixtures, logsIn, root, tempDir } from './support/index.js'

const corpus = join(fixtures, 'invisible')
const nodeMajor = Number(process.versions.node.split('.')[0])

/** Output that must be the same: exit status, stdout and stderr. */
function same(t: import('ava').ExecutionContext, ran: ReturnType<typeof twice>, what: string): void {
  const { untraced, traced } = ran
  t.is(traced.status, untraced.status, `${what}: exit status`)
  t.true(untraced.stdout === traced.stdout, `${what}: stdout differs\n${differences(untraced.stdout, traced.stdout)}`)
  t.true(untraced.stderr === traced.stderr, `${what}: stderr differs\n${differences(untraced.stderr, traced.stderr)}`)
}

test('test262: a sample of functions, classes, generators, async, arguments, eval, try, calls and toString ends the same traced (with lines) as untraced', async (t) => {
  const sample = join(fixtures, 'test262')
  const { results, differ } = await compare262({ root: sample, files: listTests(sample, ['test']) })
  t.true(results.length >= 100, `${results.length} runs`)
  t.deepEqual(differ, [])
  t.log(`${results.length} tests, ${results.filter((r) => r.untraced.passed).length} pass untraced on Node ${process.version}`)
})

// With --lines on the first Node version of the run only (MEMTRACE_LONG_TESTS), to keep `npm
// test` short; `npm run test:invisible` runs both everywhere.
const modes = process.env.MEMTRACE_LONG_TESTS === '0' ? [[]] : [[], ['--lines']]
for (const options of modes) {
  const mode = options.length ? 'with --lines' : 'with the defaults'
  test(`17 packages, ${mode}: toString of every exported function and method is its source`, (t) => {
    const ran = twice({ args: ['corpus.mjs', 'texts'], options, cwd: corpus })
    same(t, ran, 'texts')
    t.true(Number(/functions: (\d+)/.exec(ran.untraced.stdout)?.[1]) > 3000)
  })

  test(`17 packages, ${mode}: errors thrown through them have the stacks they have untraced`, (t) => {
    same(t, twice({ args: ['corpus.mjs', 'stacks'], options, cwd: corpus }), 'stacks')
  })
}

test('17 packages: what their closures and the issue example held is collected traced as untraced', (t) => {
  const ran = twice({ args: ['--expose-gc', 'corpus.mjs', 'weak'], cwd: corpus })
  same(t, ran, 'weak')
  t.notRegex(ran.untraced.stdout, /alive/)
})

test('17 packages: V8 names their anonymous functions as it does untraced', (t) => {
  const args = ['--allow-natives-syntax', 'corpus.mjs', 'names']
  same(t, twice({ args, options: ['--no-native-calls'], cwd: corpus }), 'names without native calls')
  // With native calls, a function defined in the arguments of a call memtrace rewrote loses the
  // callee's name from the name V8 infers (README, Limitations): that, and nothing else.
  const { untraced, traced } = twice({ args, cwd: corpus })
  const before = untraced.stdout.split('\n')
  const after = traced.stdout.split('\n')
  t.is(after.length, before.length)
  const other = before.filter((line, i) => {
    if (line === after[i]) return false
    const [path, name] = line.split('\t')
    const [tracedPath, tracedName] = after[i].split('\t')
    return path !== tracedPath || !name.endsWith(`.${tracedName}`)
  })
  t.deepEqual(other, [])
})

test('webpack with terser-webpack-plugin and esbuild make byte-identical bundles', (t) => {
  const out = tempDir('bundle')
  const bundles: string[] = []
  const prepare = () => rmSync(out, { recursive: true, force: true })
  const webpack = twice({ args: ['webpack.cjs', out], cwd: join(corpus, 'bundle'), prepare: () => {
    try {
      bundles.push(readFileSync(join(out, 'main.js'), 'utf8'))
    } catch {
      // Before the first run.
    }
    prepare()
  } })
  bundles.push(readFileSync(join(out, 'main.js'), 'utf8'))
  same(t, webpack, 'webpack')
  t.is(bundles.length, 2)
  t.is(bundles[1], bundles[0])
  t.regex(bundles[0], /^\(\(\)=>\{"use strict";/)
  const esbuild = twice({ args: ['esbuild.mjs'], cwd: join(corpus, 'bundle') })
  same(t, esbuild, 'esbuild')
  t.true(esbuild.untraced.stdout.length > 200)
})

/** A test runner's report without its timings (a test's is printed only when it took long enough). */
const untimed = (text: string) =>
  text
    .replace(/ \(\d+(\.\d+)?\s?m?s\)/g, '')
    .replace(/\d+(\.\d+)?\s?m?s\b/g, 'T')
    .replace(/^\s*(Start at|Duration|Time:).*$/gm, '')

for (const [runner, args] of [
  ['Jest', [join(root, 'node_modules', 'jest', 'bin', 'jest.js'), '--runInBand', '--ci']],
  ['Vitest', [join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', 'sum.spec.mjs', '--pool', 'forks']],
] as const) {
  test(`a failing ${runner} suite prints the same failures: messages, code frames, places`, (t) => {
    const ran = twice({ args: [...args], cwd: join(corpus, 'failing'), env: { CI: '1', FORCE_COLOR: '0', NO_COLOR: '1' } })
    t.is(ran.untraced.status, 1)
    t.is(ran.traced.status, 1)
    const [untraced, traced] = [ran.untraced, ran.traced].map((r) => untimed(r.stdout + r.stderr))
    t.true(untraced === traced, differences(untraced, traced))
    t.regex(untraced, /sum\.(test\.js|spec\.mjs):\d+:\d+/)
    t.regex(untraced, /expected 3 to be 4|Expected: 4/)
  })
}

test('c8: a program that imports a data: module gets the same lcov report', (t) => {
  const dir = tempDir('c8')
  for (const name of ['lib.js', 'main.js']) writeFileSync(join(dir, name), readFileSync(join(fixtures, 'coverage', name)))
  writeFileSync(join(dir, 'esm.mjs'), "import { classify } from './lib.js'\nconst { double } = await import('data:text/javascript,export const double = (x) => x * 2')\nconsole.log(classify(3), double(2))\n")
  const reports: string[] = []
  const collect = () => {
    try {
      reports.push(readFileSync(join(dir, 'coverage', 'lcov.info'), 'utf8'))
    } catch {
      // Before the first run.
    }
    rmSync(join(dir, 'coverage'), { recursive: true, force: true })
  }
  const c8 = join(root, 'node_modules', 'c8', 'bin', 'c8.js')
  const ran = twice({ args: [c8, '--reporter=lcovonly', process.execPath, 'esm.mjs'], cwd: dir, prepare: collect })
  collect()
  same(t, ran, 'c8')
  t.is(reports.length, 2)
  t.is(reports[1], reports[0])
  t.regex(reports[0], /SF:lib\.js/)
})

test('TypeScript that Node strips of its types is traced, named by its .mts and .ts files, and runs the same', (t) => {
  if (nodeMajor < 22 || !process.features.typescript) {
    t.pass(`Node ${process.version} does not strip types`)
    return
  }
  const dir = tempDir('strip')
  const source = 'interface Shape { area(): number }\nfunction grow(n: number): number[] {\n  const out: number[] = []\n  for (let i = 0; i < n; i++) out.push(i)\n  return out\n}\nconst s: Shape = { area: () => 2 }\nconsole.log(grow(3).length, s.area())\nexport {}\n'
  writeFileSync(join(dir, 'a.mts'), source)
  writeFileSync(join(dir, 'b.ts'), source)
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }')
  for (const file of ['a.mts', 'b.ts']) {
    const ran = twice({ args: [file], cwd: dir })
    same(t, ran, file)
    t.is(ran.untraced.stdout, '3 2\n')
    const logs = join(dir, `logs-${file}`)
    t.is(cli(['run', '--d-rss-trigger', '0', '--log-dir', logs, file], { cwd: dir }).status, 0)
    const [log] = logsIn(logs)
    t.regex(readFileSync(log, 'utf8'), new RegExp(`CALL +${join(dir, file).replace(/[.]/g, '\\.')} +# +2 grow`))
  }
})

test('a file that declares with using where V8 does not know it fails with V8 own SyntaxError', (t) => {
  const dir = tempDir('using')
  writeFileSync(join(dir, 'u.cjs'), "function f() {\n  using p = { [Symbol.dispose]() { console.log('disposed') } }\n  return 1\n}\nconsole.log(f())\n")
  const ran = twice({ args: ['u.cjs'], cwd: dir })
  same(t, ran, 'using')
  t.is(ran.untraced.status, nodeMajor >= 24 ? 0 : 1)
})
