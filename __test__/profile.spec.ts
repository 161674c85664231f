// The per-call profiler: the log's grammar and arithmetic, attribution, every way a process
// can end, nothing dropped, nesting, and the API's errors. Real child processes throughout.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

import test from 'ava'

import {
  arithmetic,
  cli,
  cliPath,
  eventRows,
  fixtures,
  logsIn,
  node,
  parseLog,
  registerPath,
  root,
  started,
  tempDir,
  traced,
  until,
} from './support/index.js'

const MiB = 1024 * 1024
const env = { MEMTRACE_INDEX: join(root, 'dist', 'index.js') }
const profileFixture = (name: string) => join(fixtures, 'profile', name)
/** `node --require memtrace/register <fixture> …args`. */
const withHooks = (name: string, ...args: string[]) => node(['--require', registerPath, profileFixture(name), ...args], { env })


const readLog = (path: string) => parseLog(readFileSync(path, 'utf8'))

test('a real program logs rows that parse strictly and add up, with and without PREV rows', (t) => {
  for (const previous of [false, true]) {
    const dir = tempDir('grammar')
    const args = ['run', '--log-dir', dir, '--message', 'grammar check', ...(previous ? ['--previous'] : [])]
    const run = cli([...args, join(fixtures, 'packages', 'markdown.cjs'), join(root, 'node_modules')])
    t.is(run.status, 0, run.stderr)
    const [path] = logsIn(dir)
    const log = readLog(path)
    t.is(log.message, 'grammar check')
    const rows = eventRows(log)
    t.true(rows.filter((r) => r.kind === 'NEXT').length > 20)
    t.is(rows.some((r) => r.kind === 'PREV'), previous)
    t.deepEqual(arithmetic(log, 4096), [])
    const report = JSON.parse(cli(['report', '--json', path]).stdout) as { events: number; rows: number }
    t.is(rows.at(-1)!.event, report.events + 1, 'LAST is one past the last event')
    t.is(report.rows, log.rows.length)
    t.regex(run.stderr, new RegExp(`memtrace: ${path}: [\\d,]+ events, [\\d,]+ rows logged, peak RSS [\\d.]+ MiB at .*, largest growth \\+`))
  }
})

test('with a trigger of 0 every event is logged, even through a ring of two records', (t) => {
  for (const previous of ['', 'previous']) {
    const log = join(tempDir('tiny-ring'), 'many.log')
    const result = withHooks('many.cjs', log, previous)
    t.is(result.status, 0, result.stderr)
    const { events } = JSON.parse(result.stdout) as { events: number }
    t.is(events, 200 * 251 * 2)
    const parsed = readLog(log)
    const next = eventRows(parsed).filter((r) => r.kind === 'NEXT')
    t.is(next.length, events)
    t.true(
      next.every((r, i) => r.event === i + 1),
      'NEXT rows are events 1, 2, 3, … with none missing',
    )
    t.false(parsed.rows.some((r) => r.kind === 'PREV'), 'with every event logged there is never a PREV')
    t.deepEqual(arithmetic(parsed, 0), [])
  }
})

test("the tracer's own memory stays under 16 MiB through millions of logged events", (t) => {
  const result = withHooks('bounded.cjs')
  t.is(result.status, 0, result.stderr)
  const { events, grown } = JSON.parse(result.stdout) as { events: number; grown: number }
  t.is(events, 40000 * 101 * 2)
  t.true(grown < 16 * MiB, `RSS grew by ${(grown / MiB).toFixed(1)} MiB while logging ${events} events`)
})

test('a function that allocates and touches 32 MiB gets its growth, and the report ranks it first', (t) => {
  // With native calls (the default) the growth is Buffer.alloc's, at its line in allocate32;
  // without them, allocate32's own.
  for (const nativeCalls of ['1', '0']) {
    const dir = tempDir('attribution')
    const result = node(['--require', registerPath, profileFixture('allocate.cjs'), dir], { env: { ...env, MEMTRACE_NATIVE_CALLS: nativeCalls } })
    t.is(result.status, 0, result.stderr)
    const [path] = logsIn(dir)
    const rows = eventRows(readLog(path))
    const [grower, line, enter, leave] = nativeCalls === '1' ? ['Buffer.alloc', 10, 'C_CALL', 'C_RETURN'] : ['allocate32', 9, 'CALL', 'RETURN']
    const call = rows.findIndex((r) => r.func === grower && r.line === line && r.what === enter)
    const ret = rows.findIndex((r) => r.func === grower && r.line === line && r.what === leave)
    t.true(ret > 0, `${grower} returned in the log`)
    const within = rows.slice(call < 0 ? 0 : call + 1, ret + 1).filter((r) => r.kind === 'NEXT')
    const grown = within.reduce((sum, r) => sum + r.dRss, 0)
    t.true(grown >= 30 * MiB, `rows inside ${grower} add up to ${grown / MiB} MiB`)

    const report = cli(['report', path])
    t.is(report.status, 0, report.stderr)
    const growthTable = report.stdout.split('RSS growth by function:')[1]
    // "  +31.8 MiB     2  allocate32  /path:6": bytes, unit, rows, function, where.
    const first = growthTable.split('\n')[2].trim().split(/\s+/)
    t.is(first[3], grower, report.stdout)
    t.is(first.at(-1), `${profileFixture('allocate.cjs')}:${line}`, report.stdout)
    type Totals = { function: string; growth: number; release: number; native: boolean }
    const json = JSON.parse(cli(['report', '--json', path]).stdout) as { functions: Totals[]; byGrowth: Totals[] }
    t.is(json.byGrowth[0].function, grower)
    t.is(json.byGrowth[0].native, nativeCalls === '1')
    t.true(json.byGrowth[0].growth >= 30 * MiB)
    // Every function, in the table's order: most growth first.
    t.is(json.functions[0].function, grower)
    t.true(json.functions.length >= 2)
    t.true(json.functions.every((f, i) => i === 0 || f.growth <= json.functions[i - 1].growth), JSON.stringify(json.functions))
  }
})

for (const [how, code] of [
  ['normal', 0],
  ['exit', 7],
  ['throw', 1],
  ['reject', 1],
] as const) {
  test(`ending by ${how} leaves a complete log and the exit code untraced code would have`, (t) => {
    const untraced = withHooks('exits.cjs', tempDir('exit-untraced'), how, 'untraced')
    t.is(untraced.status, code)
    const dir = tempDir(`exit-${how}`)
    const result = withHooks('exits.cjs', dir, how)
    t.is(result.status, untraced.status)
    t.is(result.signal, null)
    t.is(result.stderr.replace(/\n\s+at .*/g, ''), untraced.stderr.replace(/\n\s+at .*/g, ''))
    const log = readLog(logsIn(dir)[0])
    t.true(log.complete)
    const last = eventRows(log).at(-1)!
    t.is(last.kind, 'LAST')
    t.is(last.file, '<exit>')
  })
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  // Serial: the other tests block this process in spawnSync, and these children must be
  // signalled while they run.
  test.serial(`${signal} during a busy loop ends the log and then the process, as untraced`, async (t) => {
    const dir = tempDir(`signal-${signal}`)
    const run = await started(['--require', registerPath, profileFixture('exits.cjs'), dir, 'busy'], 'ready', env)
    const [path] = logsIn(dir)
    // Signalled while rows are reaching the file, so the handler ends a log that is in use.
    await until('rows in the log', () => statSync(path).size > 4096)
    run.child.kill(signal)
    const { code, signal: died } = await run.exited
    t.is(code, null)
    t.is(died, signal)
    const log = readLog(logsIn(dir)[0])
    t.true(log.complete)
    const last = eventRows(log).at(-1)!
    t.deepEqual([last.kind, last.file, last.func], ['LAST', '<signal>', `<${signal}>`])
    t.true(eventRows(log).length > 3)
    t.deepEqual(arithmetic(log, 4096), [])
  })
}

test.serial('SIGINT after the program stopped listening for it still ends the log, then the process as untraced', async (t) => {
  const log = join(tempDir('unlistened'), 'unlistened.log')
  const run = await started(['--require', registerPath, profileFixture('unlistened.cjs'), log], 'ready', env)
  run.child.kill('SIGINT')
  const { code, signal } = await run.exited
  t.deepEqual([code, signal], [null, 'SIGINT'])
  const last = eventRows(readLog(log)).at(-1)!
  t.deepEqual([last.kind, last.file, last.func], ['LAST', '<signal>', '<SIGINT>'])
})

test.serial('after SIGKILL every line in the log is whole', async (t) => {
  const dir = tempDir('sigkill')
  const run = await started(['--require', registerPath, profileFixture('exits.cjs'), dir, 'steady'], 'ready', env)
  const [path] = logsIn(dir)
  // Wait until rows are reaching the file, then kill while they still are.
  await until('64 KiB of rows in the log', () => statSync(path).size >= 64 * 1024)
  run.child.kill('SIGKILL')
  const { signal } = await run.exited
  t.is(signal, 'SIGKILL')
  const log = parseLog(readFileSync(path, 'utf8'), { allowIncomplete: true })
  t.false(log.complete)
  t.true(eventRows(log).length > 100, 'rows were flushed while the process ran')
  t.deepEqual(arithmetic(log, 0), [])
})

for (const [command, sentTo] of [
  ['run', 'memtrace\'s process group'],
  ['run', 'memtrace alone'],
  ['run', 'the program alone'],
  ['monitor', 'memtrace\'s process group'],
  ['monitor', 'memtrace alone'],
] as const) {
  // Serial: the other tests block this process in spawnSync, and the program must be
  // signalled while it runs. Its graceful shutdown takes longer than a second.
  test.serial(`memtrace ${command}: one SIGINT sent to ${sentTo} reaches the program once`, async (t) => {
    const dir = tempDir('ctrl-c')
    const args = command === 'run' ? ['run', '--log-dir', dir, profileFixture('graceful.cjs')] : ['monitor', '--log-dir', dir, '--', process.execPath, profileFixture('graceful.cjs')]
    // Detached: memtrace in a process group of its own, as a shell would start it.
    const run = spawn(process.execPath, [cliPath, ...args], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    run.stdout!.on('data', (chunk) => (stdout += chunk))
    const exited = new Promise<number | null>((done) => run.on('exit', done))
    await until('the program to be ready', () => stdout.includes('ready'))
    const program = Number(/ready (\d+)/.exec(stdout)![1])
    const target = sentTo === 'the program alone' ? program : sentTo === 'memtrace alone' ? run.pid! : -run.pid!
    process.kill(target, 'SIGINT')
    t.is(await exited, 0)
    t.is(stdout, `ready ${program}\nfirst SIGINT: finishing up\nclean exit\n`)
    if (command === 'run') t.true(readLog(logsIn(dir)[0]).complete)
  })
}

test.serial('memtrace run on a terminal: Ctrl-C reaches the program once, which can read the terminal', async (t) => {
  const dir = tempDir('tty')
  const command = [process.execPath, cliPath, 'run', '--log-dir', dir, profileFixture('graceful.cjs')]
  // `script` runs memtrace on a pseudo-terminal; a \x03 typed into it is the terminal's Ctrl-C,
  // which the kernel sends to the terminal's foreground process group.
  const pty = spawn('script', ['-qec', command.map((word) => `'${word}'`).join(' '), '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] })
  let output = ''
  pty.stdout!.on('data', (chunk) => (output += chunk))
  const exited = new Promise<number | null>((done) => pty.on('exit', done))
  await until('the program to be ready', () => output.includes('ready'))
  pty.stdin!.write('hello\r')
  await until('the program to read the terminal', () => output.includes('read hello'))
  pty.stdin!.write('\x03')
  t.is(await exited, 0)
  t.regex(output, /first SIGINT: finishing up\r?\n/)
  t.regex(output, /clean exit\r?\n/)
  t.false(output.includes('second SIGINT'), output)
  t.true(readLog(logsIn(dir)[0]).complete)
})

test('a process started after its memtrace run has ended runs untraced, with one line saying so', async (t) => {
  const dir = tempDir('daemon')
  const logs = tempDir('daemon-logs')
  const result = cli(['run', '--log-dir', logs, profileFixture('daemon.cjs'), dir])
  t.is(result.status, 0, result.stderr)
  const ran = join(dir, 'ran')
  await until('the daemon to run', () => existsSync(ran))
  const pid = Number(readFileSync(ran, 'utf8'))
  t.is(readFileSync(join(dir, 'stderr'), 'utf8'), `memtrace: not tracing process ${pid}: its memtrace run has ended\n`)
  t.deepEqual(logsIn(logs).filter((log) => log.endsWith(`_${pid}.log`)), [], 'no log of the daemon')
  t.true(logsIn(logs).some((log) => log.endsWith(`_${result.stdout.trim()}.log`)), 'the script itself was traced')
})

test('a worker terminated with its profiler running leaves a complete log', (t) => {
  const log = join(tempDir('terminated'), 'worker.log')
  const result = node(['--require', registerPath, profileFixture('terminated.cjs'), log], { env })
  t.is(result.stdout, 'terminated\n', result.stderr)
  const last = eventRows(readLog(log)).at(-1)!
  t.deepEqual([last.kind, last.file], ['LAST', '<terminated>'])
})

test('any --message, even one that looks like a marker or JSON, is kept and read back', (t) => {
  for (const message of ['SOF', '{"json":1}', 'two\nlines']) {
    const dir = tempDir('message')
    const result = cli(['run', '--message', message, '--log-dir', dir, profileFixture('child.cjs')])
    t.is(result.status, 0, result.stderr)
    const report = JSON.parse(cli(['report', '--json', logsIn(dir)[0]]).stdout) as { message: string }
    t.is(report.message, message)
  }
})

test('any string round-trips through message(): empty, blank, lone surrogates, control characters', (t) => {
  const texts = ['', '   ', 'ends in a space ', 'bad\ud800name', 'tail\udc00', 'nul\0 bell\x07 esc\x1b', 'two\nlines\r\n\tand tab', 'back\\slash \\n', 'plain text # with a hash']
  const log = join(tempDir('messages'), 'messages.log')
  const result = withHooks('messages.cjs', log, JSON.stringify(texts))
  t.is(result.status, 0, result.stderr)
  // Read back by the report (Rust) and by this suite's own reader.
  const report = JSON.parse(cli(['report', '--json', log]).stdout) as { message: string; messages: { text: string }[]; damage?: unknown }
  t.is(report.damage, null)
  t.is(report.message, texts[0])
  t.deepEqual(report.messages.map((m) => m.text), texts)
  const parsed = readLog(log)
  t.is(parsed.message, texts[0])
  t.deepEqual(parsed.rows.filter((r) => r.kind === 'MSG').map((r) => (r as { text: string }).text), texts)
  // Ordinary text reads as written.
  t.true(readFileSync(log, 'utf8').includes('# plain text # with a hash\n'))
})

test('stopped profilers free their memory and threads at once; suspended ones cost nothing', (t) => {
  const result = withHooks('idle.cjs', tempDir('idle'))
  t.is(result.status, 0, result.stderr)
  const out = JSON.parse(result.stdout) as {
    loopGrowth: number
    idleCpuPerSecond: number
    idleThreads: Record<string, number>
    threadsAfter: Record<string, number>
  }
  // 300 profilers of 2 MiB rings, started and stopped: without freeing at stop, 600 MiB.
  t.true(out.loopGrowth < 64 * MiB, `RSS grew by ${out.loopGrowth / MiB} MiB over 300 profile().stop()`)
  // One sampler for the process, whatever the number of profilers.
  t.is(out.idleThreads['memtrace-sample'], 1, JSON.stringify(out.idleThreads))
  t.deepEqual(out.threadsAfter['memtrace-writer'] ?? 0, 0, 'writers end with their logs')
  t.deepEqual(out.threadsAfter['memtrace-io'] ?? 0, 0)
  // 49 suspended and one recording cost about what one does; 50 samplers took 1.5 s a second.
  t.true(out.idleCpuPerSecond < 0.8, `${out.idleCpuPerSecond} s of CPU per second of idling`)
})

test('what a module\'s top level allocates is its own: <module> at line 1, CommonJS and ES modules', (t) => {
  // Without native calls, <module> returns with the growth; with them, Buffer.alloc does, called
  // from the module's top level (its line 2).
  for (const [option, grower, what, line] of [
    ['--no-native-calls', '<module>', 'RETURN', 1],
    ['--native-calls', 'Buffer.alloc', 'C_RETURN', 2],
  ] as const) {
    const dir = tempDir('modules')
    // RSS read at each event: sampled, part of the growth may land an event late.
    const result = cli(['run', option, '--rss', 'exact', '--log-dir', dir, join(fixtures, 'modules', 'main.mjs')])
    t.is(result.status, 0, result.stderr)
    t.is(result.stdout, `${2 * (16 << 20)}\n`)
    const rows = eventRows(readLog(logsIn(dir)[0]))
    for (const file of ['keeps.cjs', 'keeps.mjs']) {
      const inFile = rows.filter((r) => r.file === join(fixtures, 'modules', file))
      t.true(inFile.filter((r) => r.func === '<module>').every((r) => r.line === 1), file)
      const own = inFile.filter((r) => r.func === grower && r.line === line && r.kind === 'NEXT' && r.what === what)
      const grown = own.reduce((sum, r) => sum + r.dRss, 0)
      t.true(grown >= 14 * MiB, `${file} ${option}: ${grower} grew by ${grown / MiB} MiB`)
    }
  }
})

test('profilers nest: the outer log names the inner one and resumes after it', (t) => {
  const dir = tempDir('nested')
  const result = withHooks('nested.cjs', dir)
  t.is(result.status, 0, result.stderr)
  const depths = JSON.parse(result.stdout) as { depthInside: number; depthAfter: number; depthEnd: number; inner: number; outer: number }
  t.like(depths, { depthInside: 2, depthAfter: 1, depthEnd: 0 })
  const outer = readLog(join(dir, 'outer.log'))
  const inner = readLog(join(dir, 'inner.log'))
  const messages = outer.rows.filter((r) => r.kind === 'MSG').map((r) => (r as { text: string }).text)
  t.deepEqual(messages, ['before the inner one', `Detaching this profile. New file: ${join(dir, 'inner.log')}`, 'Re-attaching this profile.'])
  // One call of work() each time: the outer profiler counted nothing while the inner one ran.
  t.is(depths.inner, 2)
  t.is(depths.outer, 4)
  t.is(eventRows(inner).filter((r) => r.kind === 'NEXT').length, depths.inner)
  t.is(eventRows(outer).filter((r) => r.kind === 'NEXT').length, depths.outer)
  t.deepEqual(arithmetic(outer, 0), [])
  t.deepEqual(arithmetic(inner, 0), [])
})

test('`using` ends the log when the block ends', (t) => {
  const log = join(tempDir('using'), 'using.log')
  const result = node(['--require', registerPath, '--import', 'tsx', profileFixture('using.ts'), log], { cwd: root })
  t.is(result.status, 0, result.stderr)
  t.is(result.stdout, 'inside 1 true\nafter 0\n')
  const rows = eventRows(readLog(log))
  // One spelling of the file in every row, though the profiler started and stopped in an ES
  // module, whose stack frames name it by URL; and the LAST row is the user's block, not memtrace.
  const file = profileFixture('using.ts')
  t.deepEqual([rows[0].kind, rows[0].file], ['FRST', file])
  t.true(rows.some((r) => r.kind === 'NEXT' && r.func === 'work' && r.file === file))
  t.deepEqual([rows.at(-1)!.kind, rows.at(-1)!.file], ['LAST', file])
})

test('bad options are TypeErrors that name the option and what it allows; a bad log location fails at once', (t) => {
  const dir = tempDir('options')
  const result = withHooks('options.cjs', dir)
  t.is(result.status, 0, result.stderr)
  t.deepEqual(result.stdout.trim().split('\n'), [
    'TypeError: profile() options must be an object, got 42',
    'TypeError: dRssTrigger must be an integer from 0 to 9007199254740991, got -1',
    'TypeError: dRssTrigger must be an integer from 0 to 9007199254740991, got 1.5',
    'TypeError: dRssTrigger must be an integer from 0 to 9007199254740991, got "4096"',
    "TypeError: rss must be one of 'sampled', 'exact', got \"fast\"",
    'TypeError: previous must be true or false, got "yes"',
    'TypeError: workers must be true or false, got 1',
    'TypeError: stacks must be true or false, got "no"',
    'TypeError: heap must be true or false, got "yes"',
    'TypeError: heapInterval must be an integer from 1 to 1073741824, got 0',
    "TypeError: logFormat must be one of 'text', 'binary', got \"csv\"",
    'TypeError: rssPeriodUs must be an integer from 0 to 10000000, got -3',
    'TypeError: ringSize must be an integer from 2 to 16777216, got 1',
    "TypeError: record must be one of 'count', 'rss', 'filter', 'log', got \"everything\"",
    'TypeError: logPath and logDir cannot both be given: logPath names the file, logDir a directory for a new one',
    'TypeError: logDir must be a non-empty string, got ""',
    'TypeError: profile() options has no option "colour"; the options are: logPath, logDir, message, dRssTrigger, previous, rss, rssPeriodUs, ringSize, record, lines, nativeCalls, workers, gc, stacks, heap, heapInterval, logFormat',
    'Error: cannot create the log file /proc/memtrace-cannot-write-here/x.log: No such file or directory (os error 2)',
    'Error: cannot create the log directory /proc/memtrace-cannot-write-here: No such file or directory (os error 2)',
    'depth 0',
    'inherited logPath ignored true',
  ])
  t.is(logsIn(dir).length, 1, 'no log was started by a failed profile(), one by the last')
})

test('code that runs while profile() finds its call site is recorded after FRST, not before', (t) => {
  const log = join(tempDir('prepare'), 'prepare.log')
  const result = traced([profileFixture('prepare-stack-trace.cjs'), log], { env })
  t.is(result.status, 0, result.stderr)
  const rows = eventRows(readLog(log))
  t.is(rows[0].kind, 'FRST')
  t.true(rows.some((row) => row.what === 'CALL' && row.func === 'prepareStackTrace'), 'the stack trace made while recording is in the log')
})

test('profile() without the loader hooks says how to install them', (t) => {
  const result = node([profileFixture('no-hooks.cjs')], { env })
  t.regex(result.stdout, /^Error: memtrace cannot trace: its loader hooks are not installed in this thread\. Run the program with `node --import memtrace\/register app\.js` \(or `memtrace run app\.js`\)/)
})

test('memtrace run traces every Node process a command starts, one log each, and keeps its exit code', (t) => {
  const dir = tempDir('two-processes')
  const child = profileFixture('child.cjs')
  const script = `"$0" "$1" one && "$0" "$1" two; exit 5`
  const result = cli(['run', '--log-dir', dir, '--', 'sh', '-c', script, process.execPath, child])
  t.is(result.stdout, 'hello from one\nhello from two\n')
  t.is(result.status, 5)
  const logs = logsIn(dir)
  t.is(logs.length, 2)
  for (const log of logs) {
    const parsed = readLog(log)
    t.true(parsed.complete)
    t.regex(result.stderr, new RegExp(`memtrace: ${log}: `))
    // The first row is where the process started: its script, not memtrace's own code.
    const first = eventRows(parsed)[0]
    t.deepEqual([first.kind, first.file, first.func], ['FRST', child, '<memtrace run>'])
  }
})

test('memtrace run: bad options exit 2 with the allowed values; an unwritable log dir stops it before the command runs', (t) => {
  const marker = join(tempDir('marker'), 'ran')
  const script = profileFixture('child.cjs')
  const cases: [string[], RegExp][] = [
    [['--rss', 'fast', script], /^memtrace: --rss must be sampled or exact, got "fast"\nRun `memtrace run --help` for the options\.\n$/],
    [['--d-rss-trigger', '-5', script], /^memtrace: --d-rss-trigger must be a whole number from 0 to 9007199254740991, got "-5"/],
    [['--d-rss-trigger', '99999999999999999999999', script], /^memtrace: --d-rss-trigger must be a whole number from 0 to 9007199254740991, got "99999999999999999999999"/],
    [['--colour', script], /^memtrace: unknown option --colour\n/],
    [['--log-dir'], /^memtrace: --log-dir needs a value/],
    [[], /^memtrace: what should run\? Give a script, or -- and a command/],
  ]
  for (const [args, expected] of cases) {
    const result = cli(['run', ...args])
    t.is(result.status, 2, args.join(' '))
    t.regex(result.stderr, expected)
  }
  const unwritable = cli(['run', '--log-dir', '/proc/memtrace/logs', '--', 'sh', '-c', `touch ${marker}`])
  t.is(unwritable.status, 1)
  t.regex(unwritable.stderr, /^memtrace: cannot write logs to \/proc\/memtrace\/logs: .*Choose another --log-dir\.\n$/)
  t.false(existsSync(marker), 'the command did not run')
  const missing = cli(['run', '--', 'memtrace-no-such-command'])
  t.is(missing.status, 127)
  t.regex(missing.stderr, /memtrace: cannot run memtrace-no-such-command: no such command/)
  // A bad glob from the environment is refused before the command starts, naming the variable.
  for (const [value, position] of [['lib/[abc', 5], ['[', 1]] as const) {
    const badEnv = cli(['run', '--', 'sh', '-c', `touch ${marker}`], { env: { MEMTRACE_INCLUDE: value } })
    t.is(badEnv.status, 2)
    t.is(badEnv.stderr, `memtrace: MEMTRACE_INCLUDE glob "${value}" is not valid: '[' at position ${position} is never closed\nRun \`memtrace run --help\` for the options.\n`)
    t.false(existsSync(marker), 'the command did not run')
  }
})

/**
 * A directory where writing fails after about `bytes`: a small tmpfs where this user may mount
 * one (root), else a file-size limit on the commands run through `wrap` (ulimit -f). Either way
 * a write fails as it would on a full disk (ENOSPC, or EFBIG).
 */
function smallDisk(bytes: number) {
  const dir = tempDir('small-disk')
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'tmpfs', dir]).status === 0
  return {
    dir,
    mounted,
    wrap: (args: string[]): [string, string[]] =>
      mounted ? [process.execPath, args] : ['sh', ['-c', `ulimit -f ${Math.ceil(bytes / 512)}; exec "$0" "$@"`, process.execPath, ...args]],
    cleanup: () => mounted && spawnSync('umount', [dir]),
  }
}

test.serial('a disk that fills while logging: said at once, the program goes on, the summary gives the cause', (t) => {
  const disk = smallDisk(256 * 1024)
  t.teardown(disk.cleanup)
  const [command, args] = disk.wrap([cliPath, 'run', '--d-rss-trigger', '0', '--log-dir', disk.dir, profileFixture('busy.cjs')])
  const result = spawnSync(command, args, { encoding: 'utf8' })
  t.is(result.status, 0, result.stderr)
  t.is(result.stdout, 'done 250000\n')
  const [log] = logsIn(disk.dir)
  const cause = disk.mounted ? 'No space left on device \\(os error 28\\)' : 'File too large \\(os error 27\\)'
  const warning = new RegExp(`memtrace: cannot write ${log}: ${cause}; the log stops here and the program goes on untraced\\n`, 'g')
  t.is(result.stderr.match(warning)?.length, 1, result.stderr)
  t.regex(result.stderr, new RegExp(`memtrace: ${log}: .*INCOMPLETE: cannot write the log: ${cause}\\n`))
  t.false(result.stderr.includes('memtrace: memtrace'), result.stderr)
  // What was written is still a log, read up to where the disk filled.
  t.is(cli(['report', log]).status, 0)
})

test.serial('a --log-dir on a disk that is already full stops memtrace run before the command starts', (t) => {
  const disk = smallDisk(64 * 1024)
  t.teardown(disk.cleanup)
  if (disk.mounted) {
    // Fill it.
    const filler = join(disk.dir, 'filler')
    try {
      writeFileSync(filler, Buffer.alloc(1 << 20))
    } catch {
      // Full.
    }
  }
  const marker = join(tempDir('marker'), 'ran')
  const [command, args] = disk.mounted
    ? disk.wrap([cliPath, 'run', '--log-dir', disk.dir, '--', 'sh', '-c', `touch ${marker}`])
    : ['sh', ['-c', `ulimit -f 0; exec "$0" "$@"`, process.execPath, cliPath, 'run', '--log-dir', disk.dir, '--', 'sh', '-c', `touch ${marker}`]]
  const result = spawnSync(command, args, { encoding: 'utf8' })
  t.is(result.status, 1, result.stderr)
  t.regex(result.stderr, new RegExp(`^memtrace: cannot write logs to ${disk.dir}: .*Choose another --log-dir\\.\\n$`))
  t.false(existsSync(marker), 'the command did not run')
  t.deepEqual(logsIn(disk.dir), [], 'no empty log is left behind')
})

test('memtrace run says so when --include matched no file whose functions ran', (t) => {
  const dir = tempDir('include-nothing')
  const nothing = cli(['run', '--log-dir', dir, '--include', 'lib/**', profileFixture('child.cjs')])
  t.is(nothing.status, 0, nothing.stderr)
  t.regex(nothing.stderr, /memtrace: no function ran in a file that --include matches \(lib\/\*\*\)\. A glob with a \/ matches paths from the working directory, .*; one without matches a file name in any directory\.\n$/)
  const something = cli(['run', '--log-dir', dir, '--include', 'child.cjs', profileFixture('child.cjs')])
  t.is(something.status, 0, something.stderr)
  t.false(something.stderr.includes('no function ran'), something.stderr)
})

test('memtrace report reads a damaged log up to the damage and names its line; --help and unknown commands behave', (t) => {
  const dir = tempDir('report')
  t.is(withHooks('allocate.cjs', dir).status, 0)
  const [path] = logsIn(dir)
  const lines = readFileSync(path, 'utf8').split('\n')
  const last = lines.findLastIndex((line) => line.startsWith('NEXT: '))
  const text = [...lines]
  text[last] = text[last].replace(/^NEXT: \d+/, 'NEXT: twelve')
  const damaged = join(dir, 'damaged.txt')
  writeFileSync(damaged, text.join('\n'))
  const bad = cli(['report', damaged])
  t.is(bad.status, 0, bad.stderr)
  t.is(bad.stderr, `memtrace: ${damaged} is damaged at line ${last + 1}: Event "twelve" is not a whole number; reported up to it\n`)
  t.regex(bad.stdout, new RegExp(`DAMAGED at line ${last + 1}: Event "twelve" is not a whole number; this report covers the rows above it`))
  const rowsAbove = lines.slice(0, last).filter((line) => /^(FRST|NEXT|PREV|MSG):/.test(line)).length
  const json = JSON.parse(cli(['report', '--json', damaged]).stdout) as { rows: number; damage: { line: number } }
  t.deepEqual([json.rows, json.damage.line], [rowsAbove, last + 1])
  // Damage in the header leaves nothing to report: an error.
  const header = join(dir, 'header.txt')
  writeFileSync(header, lines.join('\n').replace('HEDR:', 'HEAD:'))
  const refused = cli(['report', header])
  t.is(refused.status, 1)
  t.regex(refused.stderr, /^memtrace: .*header\.txt is not a readable memtrace log: line 2: /)
  // What a crash can leave after a log (NULs), or a device of them, ends the reading at once.
  const crashed = join(dir, 'crashed.txt')
  writeFileSync(crashed, Buffer.concat([Buffer.from(lines.slice(0, last).join('\n') + '\n'), Buffer.alloc(8 << 20)]))
  t.regex(cli(['report', crashed]).stderr, new RegExp(`damaged at line ${last + 1}: holds NUL bytes`))
  const zero = cli(['report', '/dev/zero'])
  t.is(zero.status, 1)
  t.regex(zero.stderr, /line 1: holds NUL bytes/)
  // Standard input and pipes, which cannot seek.
  const piped = node([cliPath, 'report', '-'], { input: readFileSync(path, 'utf8') })
  t.is(piped.status, 0, piped.stderr)
  t.is(piped.stdout, cli(['report', path]).stdout.replace(path, '<stdin>'))
  const none = cli(['report', join(dir, 'nope.log')])
  t.is(none.status, 1)
  t.regex(none.stderr, /^memtrace: cannot open .*nope\.log: no such file or directory\n$/)
  t.is(cli(['report']).status, 2)
  t.is(cli(['--help']).status, 0)
  t.regex(cli(['--help']).stdout, /Record with `memtrace run` \(every call\), `memtrace monitor` \(over time\) or `memtrace\nattach` \(a process already running\), then read the log with `memtrace report`/)
  const unknown = cli(['frobnicate'])
  t.is(unknown.status, 2)
  t.regex(unknown.stderr, /^memtrace: 'frobnicate' is not a memtrace command; the commands are: run, monitor, attach, report, diff\n$/)
  const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version
  for (const flag of ['--version', '-v']) t.deepEqual([cli([flag]).status, cli([flag]).stdout], [0, `${version}\n`], flag)
  for (const command of ['run', 'monitor', 'report']) {
    const help = cli([command, '--help'])
    t.regex(help.stdout, new RegExp(`^Usage: memtrace ${command} `), command)
    t.is(cli([command, '-h']).stdout, help.stdout, `${command} -h`)
    t.is(cli(['help', command]).stdout, help.stdout, `help ${command}`)
  }
  // Among a command's other options.
  t.is(cli(['report', '--top', '3', '--help']).stdout, cli(['report', '--help']).stdout)
  // After the script, --help is the script's.
  const echo = join(dir, 'echo.cjs')
  writeFileSync(echo, 'console.log(process.argv.slice(2).join(" "))\n')
  t.is(cli(['run', '--log-dir', dir, echo, '--help']).stdout, '--help\n')
})

test('memtrace report --json holds exactly the rows of the text tables', (t) => {
  const dir = tempDir('report-json')
  t.is(withHooks('allocate.cjs', dir).status, 0)
  const [path] = logsIn(dir)
  const text = cli(['report', '--top', '3', path]).stdout
  type Row = { function: string; atEntry: boolean; native: boolean; growth: number; release: number; package: string }
  const json = JSON.parse(cli(['report', '--json', '--top', '3', path]).stdout) as { byGrowth: Row[]; byRelease: Row[]; byPackage: Row[] }
  /** The names in the rows of a text table ("none" when it has none). */
  const names = (title: string, column: number) => {
    const block = text.split(`${title}:`)[1].split('\n\n')[0]
    return block.trim() === 'none' ? [] : block.trim().split('\n').slice(1).map((line) => line.trim().split(/\s{2,}/)[column])
  }
  const notes = (f: Row) => [f.native && 'native', f.atEntry && 'at entry'].filter(Boolean).join(', ')
  const named = (f: Row) => (notes(f) ? `${f.function} (${notes(f)})` : f.function)
  t.deepEqual(names('RSS growth by function', 2), json.byGrowth.map(named))
  t.deepEqual(names('RSS release by function', 2), json.byRelease.map(named))
  t.deepEqual(names('RSS growth by package', 3), json.byPackage.map((p) => p.package))
  t.true(json.byGrowth.length > 0 && json.byGrowth.length <= 3)
  t.true(json.byRelease.every((f) => f.release > 0), 'byRelease lists only functions that released memory')
  t.deepEqual(json.byPackage.map((p) => p.package), ['(not in node_modules)'])
  t.regex(text, /peak RSS [\d.]+ MiB at event [\d,]+ \([\d.]+ s\): (<exit>|\S+ \(\S+:\d+\))\n/, 'a place that is no file is named once')
})
