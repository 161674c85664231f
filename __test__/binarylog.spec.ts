// The binary log (`--log-format binary`, `logFormat: 'binary'`): the rows of the text log as
// small records, read by every reader of logs as that text.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'

import test from 'ava'

import { arithmetic, cli, cliPath, eventRows, fixtures, logsIn, parseLog, registerPath, root, started, tempDir, until, type Log } from './support/index.js'

const program = join(fixtures, 'corpus', 'functions.cjs')

/** The log of `program`, every event logged, in `format`. */
function logOf(format: 'text' | 'binary'): string {
  const dir = tempDir(`binary-log-${format}`)
  const run = cli(['run', '--log-format', format, '--d-rss-trigger', '0', '--log-dir', dir, program])
  if (run.status !== 0) throw new Error(run.stderr)
  return logsIn(dir)[0]
}

/** What two runs of one program have in common: each event, where and what (not RSS or time). */
const shape = (log: Log) => eventRows(log).map((r) => `${r.kind} ${r.event} ${r.what} ${r.func} ${r.file}:${r.line} ${r.stack}`)

test('every event of a program in a binary log: its text has the rows of the text log, and report reads it as it reads text', async (t) => {
  const [text, binary] = [logOf('text'), logOf('binary')]
  t.regex(readFileSync(binary, 'latin1').split('\n')[0], /^memtrace binary log 2: `memtrace report --text <this file>` prints it as text$/)
  const printed = cli(['report', '--text', binary])
  t.is(printed.status, 0, printed.stderr)
  const fromBinary = parseLog(printed.stdout)
  const fromText = parseLog(readFileSync(text, 'utf8'))
  t.true(eventRows(fromText).length > 1000)
  t.deepEqual(shape(fromBinary), shape(fromText))
  t.deepEqual(arithmetic(fromBinary, 0), [])
  t.true(statSync(binary).size * 8 < statSync(text).size, `${statSync(binary).size} bytes binary, ${statSync(text).size} text`)
  // The report of either: the same functions, with the same rows.
  const report = (file: string) => {
    const ran = cli(['report', '--json', '--top', '1000', file])
    t.is(ran.status, 0, ran.stderr)
    const json = JSON.parse(ran.stdout)
    const functions = json.functions.map((f: { function: string; atEntry: boolean; rows: number }) => `${f.function} ${f.atEntry} ${f.rows}`)
    return { complete: json.complete, events: json.events, rows: json.rows, functions: functions.sort() }
  }
  t.deepEqual(report(binary), report(text))
  // From standard input, which the report copies as it is (a binary log holds NUL bytes).
  const piped = cli(['report', '--text', '-'], { input: readFileSync(binary) })
  t.is(piped.stdout, printed.stdout)
  t.is(cli(['report', '--text', text]).stdout, readFileSync(text, 'utf8'), 'a text log is printed as it is')
  // A reader that has seen enough closes the pipe (as `| head` does): the text stops, quietly.
  t.true(printed.stdout.length > 256 * 1024, 'more text than a pipe holds')
  const reader = spawn(process.execPath, [cliPath, 'report', '--text', binary], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  reader.stderr.on('data', (chunk) => (stderr += chunk))
  const exited = once(reader, 'close')
  // Not read on: the pipe fills, the report waits for it to drain, and then it is closed.
  await once(reader.stdout, 'readable')
  reader.stdout.destroy()
  const [code] = await exited
  t.deepEqual([code, stderr], [0, ''])
})

test.serial('a binary log cut short by SIGKILL reads as the rows before the cut', async (t) => {
  const dir = tempDir('binary-sigkill')
  const env = { MEMTRACE_INDEX: join(root, 'dist', 'index.js'), MEMTRACE_TEST_LOG_FORMAT: 'binary' }
  // A loop that logs a row when RSS grows: a log that grows slowly enough to be read whole.
  const run = await started(['--require', registerPath, join(fixtures, 'profile', 'exits.cjs'), dir, 'busy'], 'ready', env)
  const [path] = logsIn(dir)
  await until('8 KiB of records in the log', () => statSync(path).size >= 8 * 1024)
  run.child.kill('SIGKILL')
  t.is((await run.exited).signal, 'SIGKILL')
  const printed = cli(['report', '--text', path])
  t.is(printed.status, 0, printed.stderr)
  const log = parseLog(printed.stdout, { allowIncomplete: true })
  t.false(log.complete)
  t.true(eventRows(log).length > 300, 'records were flushed while the process ran')
  t.deepEqual(arithmetic(log, 4096), [])
  const report = cli(['report', path])
  t.is(report.status, 0, report.stderr)
  t.regex(report.stdout, /work/)
})

test('a bad log format is refused before anything runs, naming the allowed ones', (t) => {
  const dir = tempDir('binary-bad')
  const run = cli(['run', '--log-format', 'csv', '--log-dir', dir, program])
  t.is(run.status, 2)
  t.regex(run.stderr, /--log-format must be text or binary, got "csv"/)
  t.deepEqual(logsIn(dir), [])
  t.is(cli(['monitor', '--log-dir', dir, '--', process.execPath, '-e', '0']).status, 0)
  const [monitor] = logsIn(dir, '.jsonl')
  const text = cli(['report', '--text', monitor])
  t.is(text.status, 2)
  t.regex(text.stderr, /--text prints a profiler log, and .*\.jsonl is a monitor log/)
  for (const args of [['--text', program, program], ['--text', '--json', program]]) {
    const both = cli(['report', ...args])
    t.is(both.status, 2)
    t.regex(both.stderr, /--text prints one log, and takes no other option/)
  }
})
