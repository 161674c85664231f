/**
 * `memtrace run`: trace every Node process a command starts, one log each.
 *
 * The command runs with `--require memtrace/register` added to `NODE_OPTIONS`, which Node passes
 * on to every process it starts (npm scripts, child_process, workers); each process starts its
 * profiler at once and notes its log in a manifest, which this command reads at the end to
 * print each log's path and summary. `--require` rather than `--import`: with an `--import`
 * Node runs even a CommonJS entry through its ES module loader, which changes the stack of
 * errors thrown while loading it; `--require` leaves it as it is untraced, and still registers
 * the ES module hooks.
 */
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { isAbsolute, join, resolve } from 'node:path'

import { configFromEnv } from '../instrument/config.js'
import { compileGlob, GlobError } from '../instrument/glob.js'
import type { ProfileOptions } from '../profile/profiler.js'
import type { RunSettings } from '../install.js'
import { checkWritable, integerOption, parseOptions, sizeOption, startCommand, usage, type Command } from './command.js'
import { describeOverrun, LIMIT_EXIT_CODE, overruns, type Limits, type TracedLog } from './limits.js'
import { readProfileLog } from '../reports/logs.js'
import { readHeapProfile } from '../reports/heapprofile.js'
import { heapSummaryLine, summaryLine } from '../reports/text.js'

const HELP = `Usage: memtrace run [options] <script.js> [args...]
       memtrace run [options] -- <command> [args...]

Runs a Node script (or any command) with every Node process it starts traced: the RSS at each
call and return of their JavaScript, logged when it moves by at least --d-rss-trigger bytes.
Each process writes its own log, named YYYYMMDD_HHMMSS_<pid>.log, and each of its worker
threads one of its own, YYYYMMDD_HHMMSS_<pid>_<threadId>.log. At the end, the path and a
summary of each log go to stderr, and memtrace exits with the command's own exit code.

Options:
  --d-rss-trigger <bytes>  log an event when RSS moved this much since the last logged one;
                           0 logs every event (default: one page, 4096)
  --previous               also log the event just before each logged one (PREV: rows)
  --lines                  also an event at each statement (LINE rows), so that growth is
                           seen line by line
  --no-native-calls        no C_CALL/C_RETURN rows around calls of native functions
                           (JSON.parse, fs.readFileSync, addons, excluded files); they are
                           on by default (--native-calls)
  --gc                     also a GC row for each garbage collection: its kind, when it
                           started, how long it took, and how RSS moved
  --heap                   also sample the JavaScript heap (V8's sampling heap profiler): the
                           allocations still alive at the end, by stack, in a .heapprofile
                           beside each log (Chrome DevTools' Memory panel loads it)
  --heap-interval <bytes>  bytes allocated between two heap samples, on average (default 262144)
  --no-calls               with --heap: no per-call log and no instrumentation, the heap
                           sampler alone (a few percent of overhead)
  --no-stacks              rows without the call stack they happened in (STCK rows and
                           the @stack at the end of each row; on by default)
  --rss sampled|exact      sampled: a thread keeps RSS fresh every 100 µs, events cost
                           nanoseconds (default); exact: a kernel read at every event
  --log-dir <dir>          where the logs go (default: the working directory)
  --log-format text|binary text: the seed's text log (default); binary: the same rows as
                           records of about a dozen bytes, for --d-rss-trigger 0, where
                           writing text bounds the speed (memtrace report reads either;
                           memtrace report --text <log> prints a binary log as text)
  --message <text>         a line written at the top of each log
  --max-rss <size>         fail the run when a traced process's RSS goes over this size
                           (300MiB, 1.5GB, or bytes): memtrace names the process, its peak
                           and the functions that grew most up to the moment it went over,
                           and exits with code 86 once the command has ended
  --max-growth <size>      the same, for RSS growth since the process's profiler started
  --include <glob>         instrument only files matching this glob (repeatable)
  --exclude <glob>         do not instrument files matching this glob (repeatable)
                           (a glob with a / matches paths from the working directory, one
                           without matches a file name in any directory; ** spans directories)
  -h, --help               this text

Then read a log with \`memtrace report <log>\`, or all of them with \`memtrace report <log-dir>\`.`

const SPECS = {
  'd-rss-trigger': { value: true },
  previous: { value: false },
  lines: { value: false },
  'native-calls': { value: false },
  'no-native-calls': { value: false },
  gc: { value: false },
  'no-stacks': { value: false },
  heap: { value: false },
  'heap-interval': { value: true },
  'no-calls': { value: false },
  rss: { value: true },
  'log-dir': { value: true },
  'log-format': { value: true },
  message: { value: true },
  'max-rss': { value: true },
  'max-growth': { value: true },
  include: { value: true, repeat: true },
  exclude: { value: true, repeat: true },
} as const

const REGISTER = join(__dirname, '..', 'register.js')


/** Globs as every traced process should read them (a JSON array): relative paths made absolute here. */
function globs(name: string, values: string[] | undefined): string | undefined {
  const cwd = process.cwd()
  if (!values?.length) return undefined
  const absolute = values.map((glob) => {
    try {
      compileGlob(glob, cwd, `--${name}`)
    } catch (error) {
      if (error instanceof GlobError) throw usage('run', error.message)
      throw error
    }
    return glob.includes('/') && !isAbsolute(glob) && !/^[a-z][a-z0-9+.-]+:/i.test(glob) ? join(cwd, glob) : glob
  })
  return JSON.stringify(absolute)
}

export const run: Command = {
  name: 'run',
  help: HELP,
  async run(args) {
    const { options, rest, dashed } = parseOptions('run', args, SPECS, { commandFollows: true })
    const one = (name: keyof typeof SPECS) => options.get(name)?.[0]
    const rss = one('rss') ?? 'sampled'
    if (rss !== 'sampled' && rss !== 'exact') throw usage('run', `--rss must be sampled or exact, got ${JSON.stringify(rss)}`)
    const logFormat = one('log-format') ?? 'text'
    if (logFormat !== 'text' && logFormat !== 'binary') {
      throw usage('run', `--log-format must be text or binary, got ${JSON.stringify(logFormat)}`)
    }
    if (options.has('native-calls') && options.has('no-native-calls')) {
      throw usage('run', '--native-calls and --no-native-calls cannot both be given')
    }
    const nativeCalls = !options.has('no-native-calls')
    const logDir = resolve(one('log-dir') ?? '.')
    const profile: ProfileOptions = {
      logDir,
      dRssTrigger: integerOption('run', 'd-rss-trigger', one('d-rss-trigger')),
      previous: options.has('previous'),
      lines: options.has('lines'),
      nativeCalls,
      rss,
      message: one('message'),
      workers: true,
      gc: options.has('gc'),
      stacks: !options.has('no-stacks'),
      heap: options.has('heap'),
      heapInterval: integerOption('run', 'heap-interval', one('heap-interval'), 1, 1 << 30),
      logFormat,
    }
    if (options.has('no-calls') && !options.has('heap')) throw usage('run', '--no-calls records nothing without --heap: give --heap too')
    if (options.has('heap-interval') && !options.has('heap')) throw usage('run', '--heap-interval is for --heap: give --heap too')
    const limits: Limits = { maxRss: sizeOption('run', 'max-rss', one('max-rss')), maxGrowth: sizeOption('run', 'max-growth', one('max-growth')) }
    const limited = limits.maxRss !== undefined || limits.maxGrowth !== undefined
    if (limited && options.has('no-calls')) throw usage('run', '--max-rss and --max-growth read the per-call log, which --no-calls leaves out')
    const include = globs('include', options.get('include'))
    const exclude = globs('exclude', options.get('exclude'))
    if (rest.length === 0) {
      throw usage('run', dashed ? 'no command after --' : 'what should run? Give a script, or -- and a command')
    }
    if (!dashed && !existsSync(rest[0])) throw usage('run', `there is no script ${rest[0]}`)
    checkWritable(logDir)

    const work = mkdtempSync(join(tmpdir(), 'memtrace-run-'))
    const manifest = join(work, 'logs.jsonl')
    appendFileSync(manifest, '')
    const settings: RunSettings = { profile, manifest, ...(options.has('no-calls') ? { calls: false } : {}) }
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${JSON.stringify(REGISTER)}`.trim(),
      MEMTRACE_RUN: JSON.stringify(settings),
    }
    if (options.has('lines')) env.MEMTRACE_LINES = '1'
    env.MEMTRACE_NATIVE_CALLS = nativeCalls ? '1' : '0'
    if (include) env.MEMTRACE_INCLUDE = include
    if (exclude) env.MEMTRACE_EXCLUDE = exclude
    try {
      // Globs from the environment too: a bad one is a usage error here, not a failure in
      // every process the command starts.
      configFromEnv(env)
    } catch (error) {
      rmSync(work, { recursive: true, force: true })
      throw usage('run', (error as Error).message)
    }
    const [command, ...commandArgs] = dashed ? rest : [process.execPath, ...rest]

    let code: number
    try {
      code = (await startCommand(command, commandArgs, env).ended).code
    } catch (error) {
      rmSync(work, { recursive: true, force: true })
      throw error
    }

    // Each traced process notes its log as it starts, and why it is unfinished if it could not finish it.
    const failures = new Map<string, string>()
    const logs: Omit<TracedLog, 'report'>[] = []
    // Heap profiles of --no-calls, and those written beside logs (--heap).
    const heaps: string[] = []
    for (const line of readFileSync(manifest, 'utf8').split('\n').filter(Boolean)) {
      const entry = JSON.parse(line) as { pid: number; thread: number; argv?: string[]; log: string | null; heap?: string; failure?: string }
      if (entry.heap) heaps.push(entry.heap)
      if (!entry.log) continue
      if (entry.failure) failures.set(entry.log, entry.failure)
      else logs.push({ log: entry.log, pid: entry.pid, thread: entry.thread, argv: entry.argv })
    }
    rmSync(work, { recursive: true, force: true })
    if (profile.heap) heaps.push(...logs.map(({ log }) => log.replace(/\.log$/, '.heapprofile')).filter((heap) => existsSync(heap)))
    if (logs.length === 0 && heaps.length === 0) process.stderr.write('memtrace: no Node process was traced (did the command start one?)\n')
    let events = 0
    const read: TracedLog[] = []
    for (const traced of logs) {
      const { log } = traced
      try {
        const report = readProfileLog(log)
        read.push({ ...traced, report })
        events += report.events
        process.stderr.write(`memtrace: ${summaryLine(log, report, failures.get(log))}\n`)
      } catch (error) {
        process.stderr.write(`memtrace: ${log}: ${(error as Error).message}\n`)
      }
    }
    for (const heap of heaps) {
      try {
        process.stderr.write(`memtrace: ${heapSummaryLine(heap, readHeapProfile(heap))}\n`)
      } catch (error) {
        process.stderr.write(`memtrace: ${heap}: ${(error as Error).message}\n`)
      }
    }
    if (include && logs.length > 0 && events === 0) {
      process.stderr.write(
        `memtrace: no function ran in a file that --include matches (${options.get('include')!.join(', ')}). ` +
          `A glob with a / matches paths from the working directory, ${process.cwd()}; one without matches a file name in any directory.\n`,
      )
    }
    if (limited) {
      const over = overruns(read, limits)
      for (const overrun of over) process.stderr.write(describeOverrun(overrun).map((line) => `memtrace: ${line}\n`).join(''))
      if (over.length > 0) {
        process.stderr.write(`memtrace: exit code ${LIMIT_EXIT_CODE}: over a memory limit; the command itself exited with ${code}\n`)
        return LIMIT_EXIT_CODE
      }
    }
    return code
  },
}
