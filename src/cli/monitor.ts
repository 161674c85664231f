/**
 * `memtrace monitor`: the RSS of a command and of every process it starts (or of a running
 * process and its descendants), at a fixed interval, as JSON Lines: each process and the sum.
 */
import { resolve } from 'node:path'

import { DEFAULT_INTERVAL_MS, monitorHeader } from '../monitor.js'
import { native } from '../native.js'
import { checkWritable, CommandError, integerOption, onSignals, parseOptions, startCommand, usage, type Command } from './command.js'
import { bytes, counted } from '../reports/appearance.js'

const HELP = `Usage: memtrace monitor [options] -- <command> [args...]
       memtrace monitor [options] --pid <pid>

Records the RSS of a command and all its descendants (or of a running process and its
descendants) every interval: each process and their sum, one JSON object per line, in a log
named YYYYMMDD_HHMMSS_<pid>.jsonl after the process watched. It ends when the command (or the process) ends, or on
Ctrl-C, and exits with the command's exit code. Cheap: one scan of the process table per
interval. On a terminal, a status line shows the elapsed time and the RSS.

Options:
  --interval <s>     seconds between samples (default ${DEFAULT_INTERVAL_MS / 1000})
  --pid <pid>        watch this running process instead of starting a command
  --log-dir <dir>    where the log goes (default: the working directory)
  --message <text>   a note kept in the log's header
  -h, --help         this text

Then draw the log with \`memtrace report <log> --html report.html\`.`

const SPECS = {
  interval: { value: true },
  pid: { value: true },
  'log-dir': { value: true },
  message: { value: true },
} as const

/** Seconds (`--interval`, or `option` of `command`) as a whole number of milliseconds, from 0.001 to one hour. */
export function intervalMs(value: string | undefined, command = 'monitor', option = 'interval'): number {
  if (value === undefined) return DEFAULT_INTERVAL_MS
  const seconds = Number(value)
  if (!/^\d*\.?\d+$/.test(value) || seconds < 0.001 || seconds > 3600) {
    throw usage(command, `--${option} must be a number of seconds from 0.001 to 3600, got ${JSON.stringify(value)}`)
  }
  return Math.round(seconds * 1000)
}

/** Shows elapsed time and RSS on one line of a terminal, rewritten in place. */
export function statusLine(read: () => { rss: number; t: number }): () => void {
  if (!process.stderr.isTTY) return () => {}
  const draw = () => {
    const { rss, t } = read()
    process.stderr.write(`\rmemtrace: ${t.toFixed(1)} s, RSS ${bytes(rss)}\x1b[K`)
  }
  const timer = setInterval(draw, 1000)
  return () => {
    clearInterval(timer)
    process.stderr.write('\r\x1b[K')
  }
}

export const monitorCommand: Command = {
  name: 'monitor',
  help: HELP,
  async run(args) {
    const { options, rest, dashed } = parseOptions('monitor', args, SPECS, { commandFollows: true })
    const one = (name: keyof typeof SPECS) => options.get(name)?.[0]
    const interval = intervalMs(one('interval'))
    const attach = integerOption('monitor', 'pid', one('pid'), 1, 0xffff_ffff)
    if (attach !== undefined && rest.length > 0) throw usage('monitor', 'give --pid or a command, not both')
    if (attach === undefined && rest.length === 0) {
      throw usage('monitor', dashed ? 'no command after --' : 'what should be watched? Give -- and a command, or --pid')
    }
    const logDir = resolve(one('log-dir') ?? '.')
    checkWritable(logDir)

    let command: ReturnType<typeof startCommand> | null = null
    let pid = attach
    if (pid === undefined) {
      const [program, ...args] = rest
      command = startCommand(program, args, process.env)
      pid = command.pid
    } else {
      try {
        native.rssOf(pid)
      } catch (error) {
        throw new CommandError(`cannot watch process ${pid}: ${(error as Error).message}`)
      }
    }

    let watcher: InstanceType<typeof native.NativeMonitor>
    try {
      watcher = new native.NativeMonitor({
        logDir,
        pid,
        intervalMs: interval,
        header: monitorHeader({ watched: 'tree', pid, command: attach === undefined ? rest : null, intervalMs: interval, message: one('message') }),
      })
    } catch (error) {
      command?.signal('SIGTERM')
      throw new CommandError(`${(error as Error).message}. Choose another --log-dir.`)
    }
    const clear = statusLine(() => {
      const s = watcher.summary()
      return { rss: s.lastRss, t: s.lastT }
    })

    // A command gets the signals memtrace gets, once (see startCommand); with --pid, Ctrl-C
    // just ends the watch.
    const ending: { code: number; exitCode?: number; signal?: string } = command
      ? await command.ended.then((e) => ({ code: e.code, exitCode: e.exitCode ?? undefined, signal: e.signal ?? undefined }))
      : await new Promise((done) => {
          const finish = (result: { code: number; signal?: string }) => {
            stop()
            clearInterval(poll)
            done(result)
          }
          const stop = onSignals((signal) => finish({ code: 0, signal }))
          const poll = setInterval(() => watcher.gone && finish({ code: 0 }), Math.min(interval, 250))
        })
    clear()
    const summary = watcher.stop(ending.exitCode, ending.signal)
    process.stderr.write(
      summary.samples === 0
        ? `memtrace: ${watcher.path}: no samples: the command ended before the first one\n`
        : `memtrace: ${watcher.path}: ${counted(summary.samples, 'sample')}, peak RSS ${bytes(summary.peakRss)} at ${summary.peakT.toFixed(1)} s\n`,
    )
    return ending.code
  },
}
