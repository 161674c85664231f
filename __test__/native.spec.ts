// Native calls: C_CALL and C_RETURN (C_EXCEPT when it throws) around each call of a function
// that is not instrumented JavaScript, at the call's line, named as the code names the callee.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import test from 'ava'

import { cli, eventRows, fixtures, logsIn, node, parseLog, registerPath, root, tempDir, type EventRow } from './support/index.js'

const MiB = 1024 * 1024
const script = join(fixtures, 'native', 'allocate.cjs')
/** The 1-based line of `text` in the fixture. */
const lineOf = (text: string) => readFileSync(script, 'utf8').split('\n').findIndex((line) => line.includes(text)) + 1

/** Runs the fixture under `memtrace run` with `options`, logging every event; its rows. */
function run(t: import('ava').ExecutionContext, options: string[]): EventRow[] {
  const dir = tempDir('native')
  const big = join(dir, 'big.bin')
  writeFileSync(big, Buffer.alloc(20 * MiB, 7))
  // Read RSS at each event, so that each row's growth is exactly its own (sampled, part of it
  // may land an event late on a loaded machine).
  const result = cli(['run', '--rss', 'exact', '--d-rss-trigger', '0', '--log-dir', dir, ...options, script, big])
  t.is(result.status, 0, result.stderr)
  t.is(result.stdout, `${16 * MiB} 200000 ${20 * MiB} ${16 * MiB} 2\n`)
  return eventRows(parseLog(readFileSync(logsIn(dir)[0], 'utf8'))).filter((r) => r.kind === 'NEXT')
}

test('each native call that allocates is a C row naming the callee at its line', (t) => {
  const rows = run(t, [])
  // JSON.parse's objects may partly reuse heap pages that the garbage made building its text
  // left free, so less of their 20 MiB shows in RSS.
  for (const [callee, text, least] of [
    ['Buffer.alloc', 'Buffer.alloc(', 12 * MiB],
    ['JSON.parse', 'JSON.parse(text)', 4 * MiB],
    ['fs.readFileSync', 'fs.readFileSync(', 12 * MiB],
    ['"xy".repeat(...).toUpperCase', 'toUpperCase()', 12 * MiB],
  ] as const) {
    const line = lineOf(text)
    const calls = rows.filter((r) => r.file === script && r.line === line && r.func === callee)
    t.deepEqual(
      calls.map((r) => r.what),
      ['C_CALL', 'C_RETURN'],
      `${callee} at line ${line}`,
    )
    t.true(calls[1].dRss >= least, `${callee} grew by ${calls[1].dRss / MiB} MiB`)
  }
  // One that throws ends in C_EXCEPT, as its caller's `catch` starts (and calls own()).
  const at = rows.findIndex((r) => r.line === lineOf("JSON.parse('{')") && r.what === 'C_CALL')
  t.deepEqual(
    rows.slice(at, at + 4).map((r) => `${r.what} ${r.func}`),
    ['C_CALL JSON.parse', 'C_EXCEPT JSON.parse', 'CALL own', 'RETURN own'],
  )
  // A call of instrumented JavaScript is its own CALL and RETURN, and no C row.
  t.true(rows.some((r) => r.func === 'own' && r.what === 'CALL'))
  t.false(rows.some((r) => r.func === 'own' && r.what.startsWith('C_')))
  // So is one of an async function, and of a generator.
  for (const name of ['later', 'pairs']) {
    t.true(rows.some((r) => r.func === name && r.what === 'CALL'), name)
    t.false(rows.some((r) => r.func === name && r.what.startsWith('C_')), name)
  }
})

test('the report counts C rows under the callee and its call site, in the tables by function and by line', (t) => {
  const dir = tempDir('native-report')
  const big = join(dir, 'big.bin')
  writeFileSync(big, Buffer.alloc(20 * MiB, 7))
  t.is(cli(['run', '--rss', 'exact', '--log-dir', dir, script, big]).status, 0)
  const log = logsIn(dir)[0]
  type Totals = { function: string; file: string; line: number; native: boolean; atEntry: boolean; growth: number }
  type Line = Totals & { text: string }
  const json = JSON.parse(cli(['report', '--json', log]).stdout) as { byGrowth: Totals[]; byLine: Line[] }
  const parse = json.byGrowth.find((f) => f.function === 'JSON.parse' && !f.atEntry)
  t.like(parse, { file: script, line: lineOf('JSON.parse(text)'), native: true })
  t.true(parse!.growth >= 4 * MiB, `${parse!.growth} bytes`)
  const line = json.byLine.find((l) => l.line === lineOf('Buffer.alloc('))
  t.like(line, { file: script, function: 'Buffer.alloc', native: true, text: 'const buffer = Buffer.alloc(16 << 20, 1)' })
  const text = cli(['report', log]).stdout
  t.regex(text, new RegExp(`\\+[\\d.]+ MiB +\\d+ +JSON\\.parse \\(native\\) +${script.replace(/[.]/g, '\\.')}:${lineOf('JSON.parse(text)')}\\n`))
})

test('--no-native-calls and MEMTRACE_NATIVE_CALLS=0 leave calls as they were; profile() then cannot ask for them', (t) => {
  const rows = run(t, ['--no-native-calls'])
  t.false(rows.some((r) => r.what.startsWith('C_')))
  t.true(rows.some((r) => r.func === 'work' && r.what === 'RETURN'))
  t.regex(cli(['run', '--native-calls', '--no-native-calls', script]).stderr, /--native-calls and --no-native-calls cannot both be given/)

  const code = `const { profile } = require(${JSON.stringify(join(root, 'dist', 'index.js'))})
try { profile({ nativeCalls: true, logDir: process.argv[1] }).stop(); console.log('ok') } catch (error) { console.log(error.message) }`
  const dir = tempDir('native-api')
  const without = node(['--require', registerPath, '-e', code, dir], { env: { MEMTRACE_NATIVE_CALLS: '0' } })
  t.regex(without.stdout, /^profile\(\{ nativeCalls: true \}\) needs code instrumented with C_CALL and C_RETURN/)
  t.is(node(['--require', registerPath, '-e', code, dir]).stdout, 'ok\n')
})
