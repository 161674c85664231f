// Worker threads: under `memtrace run` (and with `profile({ workers: true })`) each worker thread
// records into a log of its own, named after the pid and its threadId, that ends however the
// worker does.
import { readFileSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'

import test from 'ava'

import { cli, eventRows, fixtures, logsIn, node, parseLog, registerPath, root, tempDir, type Log } from './support/index.js'

const MiB = 1024 * 1024
const pool = join(fixtures, 'workers', 'pool.cjs')
const fill = join(fixtures, 'workers', 'fill.cjs')
const untraced = `${[1, 2, 3, 4].map((n) => 32 * MiB + n).join(' ')}\n`

/** The thread a worker's log names in its first MSG row, or null for a main thread's log. */
function threadOf(log: Log): { thread: number; pid: number } | null {
  const first = log.rows.find((r) => r.kind === 'MSG')
  const m = first && 'text' in first ? /^thread (\d+) of process (\d+) \(started \d{4}-\d\d-\d\dT[\d:.]+Z, uptime \d+\.\d{6} s\)$/.exec(first.text) : null
  return m ? { thread: Number(m[1]), pid: Number(m[2]) } : null
}

test('memtrace run: the main thread and each of four workers write a log of their own; each worker ranks its allocation first', (t) => {
  t.is(node([pool]).stdout, untraced)
  // Five runs in a row, none crashing as its workers exit.
  for (let run = 0; run < 5; run++) {
    const dir = tempDir('workers')
    // RSS read at each event: the four workers allocate at once, and each sees its own growth whole.
    const result = cli(['run', '--rss', 'exact', '--no-native-calls', '--log-dir', dir, pool])
    t.is(result.status, 0, result.stderr)
    t.is(result.stdout, untraced)
    const logs = logsIn(dir)
    t.is(logs.length, 5, logs.join(' '))
    const parsed = logs.map((path) => ({ path, log: parseLog(readFileSync(path, 'utf8')) }))
    const main = parsed.filter(({ log }) => threadOf(log) === null)
    t.is(main.length, 1)
    const pid = Number(/_(\d+)\.log$/.exec(main[0].path)![1])
    const workers = parsed.filter(({ log }) => threadOf(log) !== null)
    t.deepEqual(
      workers.map(({ path, log }) => basename(path).endsWith(`_${pid}_${threadOf(log)!.thread}.log`) && threadOf(log)!.pid === pid),
      [true, true, true, true],
    )
    for (const { path, log } of workers) {
      t.is(eventRows(log).at(-1)!.file, '<exit>', path)
      type Totals = { function: string; file: string; growth: number; atEntry: boolean }
      const json = JSON.parse(cli(['report', '--json', path]).stdout) as { byGrowth: Totals[] }
      // Growth seen at a function's entry was made before it, here often by another worker.
      const own = json.byGrowth.find((f) => !f.atEntry)
      t.like(own, { function: 'fillBuffer', file: fill }, path)
      // RSS is the process's: another thread giving pages back meanwhile, or the allocator
      // reusing pages freed before, takes some off (seen: 25 of 32 MiB on a loaded machine).
      t.true(own!.growth >= 16 * MiB, `${own!.growth} bytes of 32 MiB in ${path}`)
    }
    // memtrace run sums up every log it saw.
    t.is(result.stderr.match(/^memtrace: \S+\.log: /gm)?.length, 5, result.stderr)

    // The report of the directory joins the five logs of the process, with a thread column.
    type Totals = { thread: string | number; function: string; atEntry: boolean }
    type Stack = { thread: string | number; growth: number; frames: { function: string }[] }
    type Joined = { processes: { pid: number; threads: { thread: string | number }[]; byGrowth: Totals[]; byStack: Stack[] }[]; logs: number }
    const joined = JSON.parse(cli(['report', '--json', '--top', '50', dir]).stdout) as Joined
    t.is(joined.logs, 5)
    t.is(joined.processes.length, 1)
    t.is(joined.processes[0].pid, pid)
    t.deepEqual(joined.processes[0].threads.map((th) => th.thread), ['main', ...workers.map(({ log }) => threadOf(log)!.thread).sort((a, b) => a - b)])
    // (A row seen at a function's entry may hold what another thread made meanwhile.)
    const grew = joined.processes[0].byGrowth.filter((f) => f.function === 'fillBuffer' && !f.atEntry)
    t.deepEqual(grew.map((f) => f.thread).sort(), workers.map(({ log }) => threadOf(log)!.thread).sort())
    // And by stack: each worker's fillBuffer, called from its message listener, with its thread.
    const stacks = joined.processes[0].byStack.filter((s) => s.frames.at(-1)?.function === 'fillBuffer' && s.growth >= 16 * MiB)
    t.deepEqual(stacks.map((s) => s.thread).sort(), workers.map(({ log }) => threadOf(log)!.thread).sort(), JSON.stringify(joined.processes[0].byStack))
    t.true(joined.processes[0].byStack.every((s, i, all) => i === 0 || s.growth <= all[i - 1].growth))
    const text = cli(['report', '--top', '50', dir]).stdout
    t.regex(text, new RegExp(`^process ${pid} \\(started \\d{4}-[\\d-]+T[\\d:.]+Z\\): the main thread and 4 workers, `))
    const line = readFileSync(fill, 'utf8').split('\n').findIndex((l) => l.startsWith('function fillBuffer')) + 1
    t.is(text.match(new RegExp(`^ +\\+[\\d.]+ MiB +1 +worker \\d+ +fillBuffer +\\S+fill\\.cjs:${line}$`, 'gm'))?.length, 4, text)
    t.regex(text, /growth seen by one thread may have been made by another/)
    t.is(text.match(new RegExp(`^ {2}\\+[\\d.]+ MiB in \\d+ rows?, worker \\d+\n {6}fillBuffer +\\S+fill\\.cjs:${line}$`, 'gm'))?.length, 4, text)
  }
})

test('memtrace run: a worker terminated mid-run leaves a complete log that says so', (t) => {
  const dir = tempDir('workers-terminated')
  const result = cli(['run', '--d-rss-trigger', '0', '--log-dir', dir, pool, 'terminate'])
  t.is(result.status, 0, result.stderr)
  const endless = logsIn(dir)
    .map((path) => parseLog(readFileSync(path, 'utf8')))
    .filter((log) => eventRows(log).some((r) => r.func === 'spin'))
  t.is(endless.length, 1)
  t.deepEqual(
    [endless[0].complete, eventRows(endless[0]).at(-1)!.kind, eventRows(endless[0]).at(-1)!.file],
    [true, 'LAST', '<terminated>'],
  )
})

test('profile({ workers: true }) records the workers started while it runs, beside its own log', (t) => {
  const dir = tempDir('profile-workers')
  const script = join(fixtures, 'workers', 'profiled.cjs')
  const result = node(['--require', registerPath, script, join(dir, 'main.log')], { env: { MEMTRACE_INDEX: join(root, 'dist', 'index.js') } })
  t.is(result.status, 0, result.stderr)
  const [sizes, pid] = result.stdout.split('\n')
  t.is(sizes, `${32 * MiB + 1} ${32 * MiB + 2}`)
  // The worker started after stop() is not recorded; the one before is, though given an env of its own.
  const logs = logsIn(dir)
  t.is(logs.length, 2, logs.join(' '))
  const path = logs.find((l) => !l.endsWith('main.log'))!
  const worker = parseLog(readFileSync(path, 'utf8'))
  const thread = threadOf(worker)
  t.is(thread?.pid, Number(pid))
  t.true(basename(path).endsWith(`_${pid}_${thread?.thread}.log`), path)
  t.true(eventRows(worker).some((r) => r.func === 'Buffer.alloc' && r.file === fill && r.what === 'C_RETURN'))
})

test('memtrace report of several logs: clear errors for a directory without logs, standard input among others, and a monitor log', (t) => {
  const empty = tempDir('no-logs')
  // Another tool's log is none of memtrace's.
  writeFileSync(join(empty, 'npm-debug.log'), 'npm ERR! nothing\n')
  const none = cli(['report', empty])
  t.is(none.status, 1)
  t.is(none.stderr, `memtrace: there are no profiler logs (YYYYMMDD_HHMMSS_<pid>.log) in ${empty}\n`)
  const dir = tempDir('several')
  t.is(cli(['run', '--log-dir', dir, pool]).status, 0)
  const [log] = logsIn(dir)
  const stdin = cli(['report', log, '-'])
  t.is(stdin.status, 2)
  t.regex(stdin.stderr, /^memtrace: standard input \(-\) is one log, reported alone\n/)
  const watched = tempDir('several-monitor')
  t.is(cli(['monitor', '--log-dir', watched, '--', process.execPath, '-e', '0']).status, 0)
  const [monitorLog] = logsIn(watched, '.jsonl')
  const mixed = cli(['report', log, monitorLog])
  t.is(mixed.status, 1)
  t.is(mixed.stderr, `memtrace: ${monitorLog} is a monitor log: monitor logs are reported one at a time\n`)
})

test('memtrace report tells two processes of one pid apart by when they started (pids repeat in containers)', (t) => {
  const first = tempDir('pid-first')
  t.is(cli(['run', '--log-dir', first, pool]).status, 0)
  // The same logs, as if a later run had got the same pid: started an hour after.
  const later = tempDir('pid-later')
  for (const log of logsIn(first)) {
    const text = readFileSync(log, 'utf8').replace(/\(started ([^,]+),/, (_, iso: string) => `(started ${new Date(Date.parse(iso) + 3_600_000).toISOString()},`)
    writeFileSync(join(later, basename(log)), text)
  }
  type Joined = { processes: { pid: number; started: string; threads: unknown[] }[] }
  const joined = JSON.parse(cli(['report', '--json', first, later]).stdout) as Joined
  t.is(joined.processes.length, 2)
  t.is(joined.processes[0].pid, joined.processes[1].pid)
  t.deepEqual(joined.processes.map((p) => p.threads.length), [5, 5])
  t.is(Date.parse(joined.processes[1].started) - Date.parse(joined.processes[0].started), 3_600_000)
})

test('--chrome-trace of a directory puts each thread of the process on a track of its own, on the process\'s uptime', (t) => {
  const dir = tempDir('trace-threads')
  // RSS read at each event, so that each worker's Buffer.alloc row is logged whatever the sampler's lag.
  t.is(cli(['run', '--rss', 'exact', '--log-dir', dir, pool]).status, 0)
  const trace = join(tempDir('trace-out'), 'trace.json')
  t.is(cli(['report', '--chrome-trace', trace, dir]).status, 0)
  type Event = { name: string; ph: string; ts: number; pid: number; tid: number; args?: { name?: string } }
  const { traceEvents } = JSON.parse(readFileSync(trace, 'utf8')) as { traceEvents: Event[] }
  const logs = logsIn(dir).map((path) => parseLog(readFileSync(path, 'utf8')))
  const pid = threadOf(logs.find((log) => threadOf(log))!)!.pid
  t.true(traceEvents.every((e) => e.pid === pid), 'one process')
  const threads = traceEvents.filter((e) => e.ph === 'M' && e.name === 'thread_name').map((e) => `${e.tid} ${e.args?.name}`)
  const workers = logs.map(threadOf).filter((w) => w !== null).map((w) => w!.thread).sort((a, b) => a - b)
  t.deepEqual(threads.sort(), ['0 main', ...workers.map((w) => `${w} worker ${w}`)].sort())
  // Each worker's rows on its own track, after the main thread started them.
  const firstOf = (tid: number) => Math.min(...traceEvents.filter((e) => e.tid === tid && e.ph !== 'M').map((e) => e.ts))
  for (const w of workers) t.true(firstOf(w) > firstOf(0), `worker ${w}`)
  const grown = traceEvents.filter((e) => e.ph === 'i' && e.name === 'Buffer.alloc').map((e) => e.tid)
  t.deepEqual([...new Set(grown)].sort((a, b) => a - b), workers)
})
