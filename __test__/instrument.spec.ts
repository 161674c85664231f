// The instrumenter, end to end: programs behave the same traced as untraced, every function
// reports its events (checked against V8's own call counter), and bad input is handled as
// Node would handle it.
import { cpSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import test from 'ava'

import {
  cli,
  eventRows,
  fixtures,
  logsIn,
  node,
  parseLog,
  registerPath,
  root,
  tempDir,
  traced,
  type EventRow,
} from './support/index.js'

const corpus = join(fixtures, 'corpus')

/** Both runs, with everything a user could see. */
function same(t: import('ava').ExecutionContext, args: string[], env: NodeJS.ProcessEnv = {}) {
  const plain = node(args, { env })
  const withHooks = node(['--require', registerPath, ...args], { env })
  t.is(withHooks.stdout, plain.stdout)
  t.is(withHooks.stderr, plain.stderr)
  t.is(withHooks.status, plain.status)
  return plain
}

/**
 * Runs `node …args` untraced, then under `memtrace run` logging every event: what a user sees
 * must be the same, but for memtrace's own summary lines. Returns the untraced run and the
 * rows of the traced run's log.
 */
function sameWhenTraced(t: import('ava').ExecutionContext, args: string[], options: string[] = []) {
  const plain = node(args)
  const dir = tempDir('same')
  const run = cli(['run', '--d-rss-trigger', '0', '--log-dir', dir, ...options, ...args])
  t.is(run.stdout, plain.stdout)
  t.is(run.stderr.replace(/^memtrace: .*\.log: .*\n/gm, ''), plain.stderr)
  t.is(run.status, plain.status)
  return { plain, rows: eventRows(parseLog(readFileSync(logsIn(dir)[0], 'utf8'))) }
}

/** The functions of `file` that reported a CALL. */
const called = (rows: EventRow[], file: string) => new Set(rows.filter((r) => r.file === file && r.what === 'CALL').map((r) => r.func))

for (const file of readdirSync(corpus).filter((name) => /\.(cjs|mjs|js)$/.test(name))) {
  test(`${file} prints the same output traced as untraced, and its functions report their calls`, (t) => {
    const { plain, rows } = sameWhenTraced(t, [join(corpus, file)])
    t.true(plain.stdout.length > 0)
    t.is(plain.status, 0)
    const functions = called(rows, join(corpus, file))
    t.true(functions.size >= 5, `functions that reported a CALL: ${[...functions].join(', ')}`)
  })

  test(`${file} prints the same output with LINE events, and its statements report them`, (t) => {
    const { plain, rows } = sameWhenTraced(t, [join(corpus, file)], ['--lines'])
    t.is(plain.status, 0)
    const lines = new Set(rows.filter((r) => r.file === join(corpus, file) && r.what === 'LINE' && r.kind === 'NEXT').map((r) => r.line))
    t.true(lines.size >= 5, `lines that reported: ${[...lines].join(', ')}`)
  })
}

/**
 * CALL, RESUME and C_CALL open a frame; RETURN, EXCEPT, YIELD, C_RETURN and C_EXCEPT close the
 * innermost one, which must be theirs.
 */
function unbalanced(rows: EventRow[]): string[] {
  const problems: string[] = []
  const stack: string[] = []
  for (const row of rows.filter((r) => r.kind === 'NEXT')) {
    const key = `${row.func} (${row.file}:${row.line})`
    if (row.what === 'CALL' || row.what === 'RESUME' || row.what === 'C_CALL') stack.push(key)
    else if (stack.pop() !== key) problems.push(`event ${row.event}: ${row.what} of ${key} does not close the innermost open function`)
  }
  return [...problems, ...stack.map((key) => `${key} never returned`)]
}

test('CALL and RETURN nest, counting YIELD and RESUME, through every construct of the corpus', (t) => {
  for (const file of readdirSync(corpus).filter((name) => /\.(cjs|mjs)$/.test(name))) {
    const dir = tempDir('balance')
    const result = cli(['run', '--d-rss-trigger', '0', '--log-dir', dir, join(corpus, file)])
    t.is(result.status, 0, result.stderr)
    const rows = eventRows(parseLog(readFileSync(logsIn(dir)[0], 'utf8')))
    t.true(rows.length > 20, file)
    t.deepEqual(unbalanced(rows), [], file)
    if (file === 'async.mjs' || file === 'generators.cjs') {
      t.true(rows.some((r) => r.what === 'YIELD') && rows.some((r) => r.what === 'RESUME'), file)
    }
  }
})

test('every function reports as many calls as V8 itself counts', (t) => {
  const dir = tempDir('oracle')
  const log = join(dir, 'oracle.log')
  const counts = join(dir, 'v8.json')
  const result = traced([join(fixtures, 'oracle', 'driver.mjs'), log, counts, join(root, 'dist', 'index.js')])
  t.is(result.status, 0, result.stderr)
  const workload = join(fixtures, 'oracle', 'workload.cjs')
  const ours = new Map<number, { calls: number; resumes: number }>()
  for (const row of eventRows(parseLog(readFileSync(log, 'utf8')))) {
    if (row.file !== workload) continue
    const entry = ours.get(row.line) ?? { calls: 0, resumes: 0 }
    if (row.what === 'CALL') entry.calls++
    if (row.what === 'RESUME') entry.resumes++
    ours.set(row.line, entry)
  }
  const v8 = JSON.parse(readFileSync(counts, 'utf8')) as { name: string; line: number; count: number }[]
  t.true(v8.length >= 15)
  for (const { name, line, count } of v8) {
    const { calls, resumes } = ours.get(line) ?? { calls: 0, resumes: 0 }
    // V8 counts an async function or generator again at every resumption, and a generator once
    // more when it is created (our CALL comes when its body starts, at the first next()).
    const expected = calls + resumes + (name === 'range' ? calls : 0)
    t.is(expected, count, `${name} at line ${line}: V8 counted ${count}, memtrace ${calls} CALL + ${resumes} RESUME`)
  }
})

test('markdown-it renders real markdown to byte-identical HTML when traced', (t) => {
  const args = [join(fixtures, 'packages', 'markdown.cjs'), join(root, 'node_modules')]
  const plain = same(t, args)
  t.regex(plain.stdout, /\n(\d{2,}) pages\n$/)
  // And under a running profiler, with markdown-it's own functions in the log.
  const dir = tempDir('markdown')
  const run = cli(['run', '--log-dir', dir, ...args])
  t.is(run.stdout, plain.stdout)
  const functions = new Set(eventRows(parseLog(readFileSync(logsIn(dir)[0], 'utf8'))).map((r) => r.file))
  t.true([...functions].some((file) => file.includes('/node_modules/markdown-it/')), [...functions].join('\n'))
})

test('the TypeScript 5.9 compiler type-checks a project with the same diagnostics when traced', (t) => {
  const tsc = join(root, 'node_modules', 'typescript', 'lib', 'tsc.js')
  const args = [tsc, '-p', join(fixtures, 'packages', 'ts-project'), '--pretty', 'false']
  const plain = node(args)
  t.regex(plain.stdout, /error TS2322/)
  t.is(plain.status, 2)
  const dir = tempDir('tsc')
  const run = cli(['run', '--log-dir', dir, ...args])
  t.is(run.stdout, plain.stdout)
  t.is(run.status, plain.status)
  const rows = eventRows(parseLog(readFileSync(logsIn(dir)[0], 'utf8')))
  // tsc.js is a stub that loads the compiler from _tsc.js.
  t.true(rows.some((r) => r.file.endsWith('/node_modules/typescript/lib/_tsc.js')))
})

test('an ESM-only package is instrumented through the ES module hook', (t) => {
  const script = join(fixtures, 'packages', 'change-case.mjs')
  const plain = same(t, [script])
  t.regex(plain.stdout, /memoryTracerForNode/)
  const dir = tempDir('esm')
  const run = cli(['run', '--d-rss-trigger', '0', '--log-dir', dir, script])
  t.is(run.stdout, plain.stdout)
  const rows = eventRows(parseLog(readFileSync(logsIn(dir)[0], 'utf8')))
  // change-case ships dist/index.js with a source map that holds its src/index.ts: the log
  // names that, at camelCase's line there.
  const changeCase = rows.filter((r) => r.file.endsWith('/node_modules/change-case/src/index.ts'))
  const camelCase = changeCase.find((r) => r.what === 'CALL' && r.func === 'camelCase')
  const map = JSON.parse(readFileSync(join(root, 'node_modules', 'change-case', 'dist', 'index.js.map'), 'utf8')) as { sourcesContent: string[] }
  t.is(camelCase?.line, map.sourcesContent[0].split('\n').findIndex((line) => line.includes('export function camelCase(')) + 1)
})

for (const lines of [false, true]) {
  test(`every .js, .mjs and .cjs file under node_modules still compiles as the same kind once instrumented${lines ? ', with LINE events' : ''}`, (t) => {
    const result = node([
      '--experimental-vm-modules',
      '--no-warnings',
      join(fixtures, 'broad', 'check.mjs'),
      join(root, 'node_modules'),
      root,
      ...(lines ? ['lines'] : []),
    ])
    t.is(result.status, 0, result.stderr)
    const summary = JSON.parse(result.stdout) as {
      checked: number
      modules: number
      commonjs: number
      leftAsIs: number
      leftAsIsFiles: string[]
      broken: string[]
    }
    t.log(`checked ${summary.checked} files (${summary.modules} ES modules, ${summary.commonjs} CommonJS); ${summary.leftAsIs} left as they were`)
    t.deepEqual(summary.broken, [])
    t.true(summary.checked > 3000)
    t.true(summary.modules > 100 && summary.commonjs > 100)
    t.deepEqual(summary.leftAsIsFiles, [])
  })
}

for (const file of ['bad.cjs', 'bad.mjs']) {
  test(`a syntax error in ${file} is exactly Node's own`, (t) => {
    const plain = same(t, [join(fixtures, 'syntax', file)])
    t.regex(plain.stderr, /SyntaxError: Unexpected token '\*'/)
    t.is(plain.status, 1)
  })
}

test('a syntax error in a required file is exactly Node\'s own; the requiring frame keeps its line', (t) => {
  const script = join(fixtures, 'syntax', 'requires-bad.cjs')
  const plain = node([script])
  const traced = node(['--require', registerPath, script])
  t.regex(plain.stderr, /SyntaxError: Unexpected token '\*'/)
  t.is(traced.status, plain.status)
  // The require() is the first code of the requiring module, on whose line the module's own
  // <module> entry is inserted: that one frame's column moves (see the README's limitations).
  const column = (stderr: string) => stderr.replace(/(requires-bad\.cjs:\d+):\d+\)/g, '$1:COLUMN)')
  t.is(column(traced.stderr), column(plain.stderr))
})

test('an uncaught error is reported where it was thrown, not where memtrace passed it on', (t) => {
  const script = join(fixtures, 'syntax', 'throws.cjs')
  const header = (stderr: string) => stderr.split('\n').slice(0, 6).join('\n')
  const plain = node([script])
  const traced = node(['--require', registerPath, script])
  t.regex(plain.stderr, /throws\.cjs:3\n +throw new Error\('thrown on line 3'\)\n +\^/)
  t.is(header(traced.stderr), header(plain.stderr))
  t.is(traced.status, plain.status)
})

test('a stack taken while CommonJS modules run their top level has the frames it has untraced', (t) => {
  const script = join(fixtures, 'stacks', 'top-level.cjs')
  const frames = (run: { stdout: string; stderr: string }) => (run.stdout + run.stderr).split('\n').filter((line) => line.startsWith('    at '))
  // Without source maps the columns of instrumented lines move (see the README's limitations).
  const withoutColumns = (line: string) => line.replace(/(top-level(-dep)?\.cjs:\d+):\d+\)/, '$1)')
  for (const maps of [[], ['--enable-source-maps']]) {
    const plain = node([...maps, script])
    const traced = node([...maps, '--require', registerPath, script])
    t.is(traced.status, plain.status)
    t.regex(plain.stderr, /Error: rejected at the top level/)
    t.is(frames(plain).filter((line) => line.includes('top-level')).length, 5, plain.stdout + plain.stderr)
    const comparable = maps.length ? (line: string) => line : withoutColumns
    t.deepEqual(frames(traced).map(comparable), frames(plain).map(comparable), maps.join(' '))
  }
})

test('a URL glob such as data:* excludes only what it names', (t) => {
  const dir = tempDir('url-glob')
  const result = cli(['run', '--d-rss-trigger', '0', '--log-dir', dir, '--exclude', 'data:*', join(corpus, 'functions.cjs')])
  t.is(result.status, 0, result.stderr)
  t.true(eventRows(parseLog(readFileSync(logsIn(dir)[0], 'utf8'))).some((r) => r.func === 'fib'))
})

test('instrumented functions still show their own source to toString, so they can be sent to another realm', (t) => {
  const dir = tempDir('tostring')
  const realm = join(dir, 'realm.cjs')
  writeFileSync(
    realm,
    "const vm = require('node:vm')\nfunction add(a, b) { return a + b }\nconst twice = (x) => x * 2\n" +
      'console.log(vm.runInNewContext(`(${add})(1, 2) + (${twice})(4)`), add.toString(), add(twice(1), 1))\n',
  )
  const { plain, rows } = sameWhenTraced(t, [realm])
  t.is(plain.stdout, '11 function add(a, b) { return a + b } 3\n')
  t.deepEqual([...called(rows, realm)].sort(), ['<module>', 'add', 'twice'], 'the functions that showed their source were instrumented')
})

test('MEMTRACE_DEBUG says which files were instrumented and which were left alone, and why', (t) => {
  const dir = tempDir('debug')
  const cache = join(dir, 'cache')
  const env = { MEMTRACE_DEBUG: '1', MEMTRACE_CACHE_DIR: cache, MEMTRACE_EXCLUDE: '**/generators.cjs' }
  const functions = traced([join(corpus, 'functions.cjs')], { env })
  t.regex(functions.stderr, /memtrace: instrumented .*functions\.cjs: \d+ functions\n/)
  const excluded = traced([join(corpus, 'generators.cjs')], { env })
  t.regex(excluded.stderr, /memtrace: skipped .*generators\.cjs: not matched by the include globs, or matched by an exclude glob/)
  const bad = traced([join(fixtures, 'syntax', 'bad.cjs')], { env })
  t.regex(bad.stderr, /memtrace: left .*bad\.cjs as it is: it does not parse as CommonJS \(Unexpected token.*\(3:\d+\)\)/)
})

test('the second run takes plans from the cache, and a damaged cache entry is ignored', (t) => {
  const cache = join(tempDir('cache'), 'plans')
  const env = { MEMTRACE_DEBUG: '1', MEMTRACE_CACHE_DIR: cache }
  const script = join(corpus, 'functions.cjs')
  const first = traced([script], { env })
  t.regex(first.stderr, /instrumented .*functions\.cjs: \d+ functions\n/)
  const second = traced([script], { env })
  t.regex(second.stderr, /instrumented .*functions\.cjs: \d+ functions, plan from the cache\n/)
  t.is(second.stdout, first.stdout)
  for (const entry of readdirSync(cache)) {
    const path = join(cache, entry)
    const bytes = readFileSync(path)
    bytes[bytes.length >> 1] ^= 0xff
    writeFileSync(path, bytes)
  }
  const third = traced([script], { env })
  t.is(third.status, 0, third.stderr)
  t.is(third.stdout, first.stdout)
  t.regex(third.stderr, /instrumented .*functions\.cjs: \d+ functions\n/)
  t.regex(traced([script], { env }).stderr, /functions\.cjs: \d+ functions, plan from the cache\n/)
})

test('include globs choose what is instrumented; a bad glob is a clear error', (t) => {
  const dir = tempDir('include')
  const script = join(corpus, 'functions.cjs')
  const run = cli(['run', '--d-rss-trigger', '0', '--log-dir', dir, '--include', '**/nothing-matches/**', script])
  t.is(run.status, 0)
  t.deepEqual(
    eventRows(parseLog(readFileSync(logsIn(dir)[0], 'utf8'))).filter((r) => r.kind === 'NEXT'),
    [],
    'nothing was instrumented, so nothing was logged',
  )
  const bad = cli(['run', '--include', 'src/{a,b', script])
  t.is(bad.status, 2)
  t.regex(bad.stderr, /^memtrace: --include glob "src\/\{a,b" is not valid: a '\{' is never closed\n/)
  const envBad = traced([script], { env: { MEMTRACE_EXCLUDE: 'lib/[abc' } })
  t.not(envBad.status, 0)
  t.regex(envBad.stderr, /MEMTRACE_EXCLUDE glob "lib\/\[abc" is not valid: '\[' at position 5 is never closed/)
})

test('TypeScript run through tsx is instrumented after tsx has compiled it, with its names and file names', (t) => {
  const dir = tempDir('tsx')
  const script = join(fixtures, 'tsx', 'app.ts')
  const plain = node(['--import', 'tsx', script], { cwd: root })
  t.is(plain.stdout, '5\n')
  const run = cli(['run', '--d-rss-trigger', '0', '--log-dir', dir, '--', process.execPath, '--import', 'tsx', script], { cwd: root })
  t.is(run.stdout, plain.stdout)
  const rows = eventRows(parseLog(readFileSync(logsIn(dir)[0], 'utf8')))
  const called = (file: string) => new Set(rows.filter((r) => r.file === file && r.what === 'CALL').map((r) => r.func))
  // esbuild keeps the names of arrow functions with __name(fn, "scale"), which names them too.
  const names = called(script)
  t.true(names.has('distance') && names.has('scale') && !names.has('<anonymous>'), [...names].join(', '))
  // At the lines of the TypeScript source, through tsx's source map.
  const line = (func: string) => rows.find((r) => r.file === script && r.func === func && r.what === 'CALL')?.line
  t.deepEqual([line('distance'), line('scale')], [lineOf(script, 'function distance'), lineOf(script, 'const scale')])
  // tsx loads CommonJS TypeScript for an ES module under a name with a query (on Node 20); the
  // log names the file.
  const main = join(fixtures, 'tsx-commonjs', 'main.mts')
  const commonjs = tempDir('tsx-commonjs')
  const mixed = cli(['run', '--d-rss-trigger', '0', '--log-dir', commonjs, '--', process.execPath, '--import', 'tsx', main], { cwd: root })
  t.is(mixed.stdout, '2\n', mixed.stderr)
  const mixedRows = eventRows(parseLog(readFileSync(logsIn(commonjs)[0], 'utf8')))
  t.true(mixedRows.some((r) => r.file === join(fixtures, 'tsx-commonjs', 'lib.ts') && r.func === 'helper'), 'helper() in lib.ts')
  t.false(mixedRows.some((r) => r.file.includes('?')), 'no file name keeps a loader\'s query')
})

test('workers run instrumented code with hooks of their own', (t) => {
  const dir = tempDir('worker')
  mkdirSync(join(dir, 'app'))
  writeFileSync(
    join(dir, 'app', 'main.cjs'),
    `const { Worker } = require('node:worker_threads')
const w = new Worker(require('node:path').join(__dirname, 'work.mjs'))
w.on('message', (m) => console.log('worker said', m))`,
  )
  writeFileSync(join(dir, 'app', 'work.mjs'), `import { parentPort } from 'node:worker_threads'\nfunction answer() { return 42 }\nparentPort.postMessage(answer())\n`)
  const result = traced([join(dir, 'app', 'main.cjs')], { env: { MEMTRACE_DEBUG: '1' } })
  t.is(result.stdout, 'worker said 42\n')
  t.regex(result.stderr, /instrumented .*work\.mjs: 2 functions/)
})

test('frozen built-ins: a frozen globalThis runs the program untraced with one line; a frozen Function.prototype is still traced', (t) => {
  const app = join(fixtures, 'frozen', 'app.cjs')
  const env = { MEMTRACE_INDEX: join(root, 'dist', 'index.js') }
  const log = join(tempDir('frozen'), 'app.log')
  const frozenGlobals = node(['--require', join(fixtures, 'frozen', 'globals.cjs'), '--require', registerPath, app, log], { env })
  t.is(frozenGlobals.status, 0, frozenGlobals.stderr)
  const why = 'globalThis was frozen or sealed before memtrace/register ran, so the functions that instrumented code calls cannot be defined; load memtrace/register first'
  t.regex(frozenGlobals.stderr, new RegExp(`^memtrace: not tracing process \\d+: ${why.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\n$`))
  t.is(frozenGlobals.stdout, `memtrace cannot trace: ${why}.\n42\n`)

  const frozenFunctions = node(['--require', join(fixtures, 'frozen', 'function-prototype.cjs'), '--require', registerPath, app, log], { env })
  t.is(frozenFunctions.status, 0, frozenFunctions.stderr)
  t.is(frozenFunctions.stdout, '42\n')
  t.true(eventRows(parseLog(readFileSync(log, 'utf8'))).some((r) => r.func === 'double' && r.what === 'CALL'), 'double() was traced')
})

test('deep recursion: a traced frame is bigger, by a measured ratio, and --stack-size buys the depth back', (t) => {
  const script = join(fixtures, 'syntax', 'depth.cjs')
  const depth = (args: string[]) => {
    const result = node(args)
    t.is(result.status, 0, result.stderr)
    const [reached, error] = result.stdout.trim().split(' ')
    t.is(error, 'RangeError')
    return Number(reached)
  }
  const untraced = depth([script])
  const traced = depth(['--require', registerPath, script])
  const ratio = traced / untraced
  t.log(`depth ${untraced} untraced, ${traced} traced: x${ratio.toFixed(2)} on Node ${process.version}`)
  // The README says what remains: the try/finally every function gets, and the code around its
  // calls, cost about half (a third without native calls).
  t.true(ratio > 0.45 && ratio < 1, `x${ratio}`)
  // V8's stack is 984 KiB by default; as much more as the frames grew gives the depth back.
  const bigger = depth([`--stack-size=${Math.ceil(984 / ratio) + 64}`, '--require', registerPath, script])
  t.true(bigger >= untraced, `${bigger} with a bigger stack, ${untraced} untraced`)
})

for (const jest of ['jest', 'jest-29']) {
  test(`${jest}: code that Jest compiles through vm is traced, and the suite passes as untraced`, (t) => {
    const args = [join(root, 'node_modules', jest, 'bin', 'jest.js'), '--rootDir', join(fixtures, 'jest'), '--runInBand']
    const summary = (stderr: string) => /Tests: +.*\n/.exec(stderr)?.[0]
    const plain = node(args)
    t.is(plain.status, 0, plain.stderr)
    t.regex(summary(plain.stderr) ?? '', /2 passed, 2 total/)
    const dir = tempDir('jest')
    // RSS read at each event: sampled, part of the growth may land an event late.
    const run = cli(['run', '--rss', 'exact', '--log-dir', dir, '--', process.execPath, ...args])
    t.is(run.status, 0, run.stderr)
    t.is(summary(run.stderr), summary(plain.stderr))
    const cache = join(fixtures, 'jest', 'src', 'cache.js')
    const rows = logsIn(dir).flatMap((log) => eventRows(parseLog(readFileSync(log, 'utf8'))))
    // remember() allocates in Buffer.alloc, a native call on its line 5.
    const grown = rows
      .filter((r) => r.kind === 'NEXT' && r.file === cache && r.func === 'Buffer.alloc' && r.line === 5 && r.what === 'C_RETURN')
      .reduce((sum, r) => sum + r.dRss, 0)
    // Two 8 MiB blocks.
    t.true(grown >= 14 * 1024 * 1024, `Buffer.alloc in remember(), the code under test, grew by ${grown} bytes`)
  })
}

/** The 1-based line of `text` in `file`. */
const lineOf = (file: string, text: string) => readFileSync(file, 'utf8').split('\n').findIndex((line) => line.includes(text)) + 1

test('code built by tsc with --sourceMap is logged at the lines of its TypeScript source', (t) => {
  const project = tempDir('tsc-maps')
  cpSync(join(fixtures, 'sourcemaps'), project, { recursive: true })
  const tsc = node([join(root, 'node_modules', 'typescript', 'lib', 'tsc.js'), '-p', project])
  t.is(tsc.status, 0, tsc.stdout)
  const dir = tempDir('tsc-maps-logs')
  const run = cli(['run', '--d-rss-trigger', '0', '--log-dir', dir, join(project, 'dist', 'main.js')])
  t.is(run.stdout, '7\n', run.stderr)
  const rows = eventRows(parseLog(readFileSync(logsIn(dir)[0], 'utf8'))).filter((r) => r.what === 'CALL')
  const at = (func: string) => rows.filter((r) => r.func === func).map((r) => `${r.file}:${r.line}`)
  const main = join(project, 'src', 'main.ts')
  const shapes = join(project, 'src', 'shapes.ts')
  t.deepEqual([...new Set(at('total'))], [`${main}:${lineOf(main, 'export function total')}`])
  t.deepEqual([...new Set(at('area'))], [`${shapes}:${lineOf(shapes, 'export function area')}`])
  t.deepEqual([...new Set(at('<module>'))].sort(), [`${main}:1`, `${shapes}:1`])
  t.false(rows.some((r) => r.file.includes(`${join(project, 'dist')}`)), 'no row names the compiled code')
})

test('with --lines, growth is reported by the statement that made it, with its text', (t) => {
  const script = join(fixtures, 'lines', 'grow.cjs')
  // The statement's LINE row has the growth; with native calls on, Buffer.alloc's C_RETURN on
  // the same line has it first, and the line is named by its function only if its LINE row is
  // logged too.
  for (const [option, names] of [
    ['--no-native-calls', ['grow']],
    ['--native-calls', ['grow', 'Buffer.alloc (native)']],
  ] as const) {
    const dir = tempDir('lines')
    const run = cli(['run', '--lines', option, '--rss', 'exact', '--log-dir', dir, script])
    t.is(run.stdout, '2\n', run.stderr)
    type Line = { file: string; line: number; function: string; native: boolean; growth: number; text: string }
    const report = JSON.parse(cli(['report', '--json', logsIn(dir)[0]]).stdout) as { byLine: Line[] }
    const top = report.byLine[0]
    t.like(top, { file: script, line: lineOf(script, 'Buffer.alloc'), text: 'const buffer = Buffer.alloc(8 << 20, 1)' })
    const name = top.native ? `${top.function} (native)` : top.function
    t.true((names as readonly string[]).includes(name), name)
    t.true(top.growth >= 7 * 1024 * 1024, `${top.growth} bytes`)
    const text = cli(['report', logsIn(dir)[0]]).stdout
    const row = new RegExp(`RSS growth by line:\\n.*\\n +\\+[\\d.]+ MiB +\\d+ +\\S+grow\\.cjs:5 +${name.replace(/[()]/g, '\\$&')} +const buffer = Buffer\\.alloc\\(8 << 20, 1\\)\\n`)
    t.regex(text, row)
  }
})

test('profile({ lines: true }) needs code instrumented with LINE events, and says how to get them', (t) => {
  const code = `const { profile } = require(${JSON.stringify(join(root, 'dist', 'index.js'))})
try { profile({ lines: true, logDir: process.argv[1] }).stop(); console.log('ok') } catch (error) { console.log(error.message) }`
  const dir = tempDir('lines-api')
  const without = node(['--require', registerPath, '-e', code, dir])
  t.regex(without.stdout, /^profile\(\{ lines: true \}\) needs code instrumented with a LINE event at each statement: run with MEMTRACE_LINES=1/)
  const withLines = node(['--require', registerPath, '-e', code, dir], { env: { MEMTRACE_LINES: '1' } })
  t.is(withLines.stdout, 'ok\n', withLines.stderr)
})
