/**
 * `memtrace diff <before> <after>`: which functions and stacks grow more memory, or less, after
 * a change; with `--fail-over`, a CI gate on the total.
 */
import { diffRuns, exceeds, describeLimit, renderDiff, renderDiffMarkdown, type FailOver } from '../reports/diff.js'
import { logKind, readProfileLog } from '../reports/logs.js'
import { parseSize, SIZE_FORMS } from '../size.js'
import { CommandError, integerOption, parseOptions, usage, type Command } from './command.js'
import { LIMIT_EXIT_CODE } from './limits.js'
import { logsNamed, orCommandError } from './report.js'

const HELP = `Usage: memtrace diff [options] <before> <after>

Compares two runs, each a profiler log or a directory of them (every process of a
\`memtrace run\`): the RSS growth of each run (how far RSS rose above where each log started,
summed over its logs), then the functions, and the call stacks where both runs have them, whose
growth (the sum of their rows' positive dRSS) changed, most change first.

Options:
  --fail-over <size|percent>
                  exit with code ${LIMIT_EXIT_CODE} when the after run's growth is more than this
                  above the before run's: a size (1MiB, 500kB, bytes) or a share of
                  the before run's growth (10%)
  --markdown      print a Markdown table instead (a pull-request comment, a CI job summary)
  --json          print the comparison as JSON instead
  --top <n>       how many functions and stacks each table lists (default 20)
  -h, --help      this text`

/** `--fail-over`: a size, or a percentage of the before run's growth. */
function failOver(value: string | undefined): FailOver | undefined {
  if (value === undefined) return undefined
  const percent = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(value)
  if (percent) return { fraction: Number(percent[1]) / 100 }
  const size = parseSize(value)
  if (size === undefined) throw usage('diff', `--fail-over must be a size (${SIZE_FORMS}) or a percentage (10%), got ${JSON.stringify(value)}`)
  return { bytes: size }
}

/** The profiler logs of one side, read. */
function run(arg: string): Promise<{ path: string; report: ReturnType<typeof readProfileLog> }[]> {
  const logs = logsNamed([arg])
  return orCommandError(async () => {
    const read = []
    for (const path of logs) {
      if ((await logKind(path, path)) !== 'profile') throw new CommandError(`${path} is not a profiler log: memtrace diff compares the logs of memtrace run and profile()`)
      read.push({ path, report: readProfileLog(path) })
    }
    return read
  })
}

export const diff: Command = {
  name: 'diff',
  help: HELP,
  async run(args) {
    const { options, rest } = parseOptions('diff', args, {
      'fail-over': { value: true },
      markdown: { value: false },
      json: { value: false },
      top: { value: true },
    })
    if (rest.length !== 2) throw usage('diff', `give two runs, before and after (a log or a directory of logs each); got ${rest.length}`)
    if (options.has('markdown') && options.has('json')) throw usage('diff', '--markdown and --json cannot both be given')
    const top = integerOption('diff', 'top', options.get('top')?.[0], 1) ?? 20
    const limit = failOver(options.get('fail-over')?.[0])
    const [before, after] = [await run(rest[0]), await run(rest[1])]
    const compared = diffRuns(before, after)
    const over = limit !== undefined && exceeds(compared, limit)
    if (options.has('json')) {
      const { functions, stacks, ...totals } = compared
      console.log(JSON.stringify({ ...totals, functions: functions.slice(0, top), stacks: stacks.slice(0, top), failOver: limit ? { limit, exceeded: over } : null }, null, 2))
    } else {
      console.log(options.has('markdown') ? renderDiffMarkdown(compared, top) : renderDiff(compared, top))
    }
    if (!over) return 0
    process.stderr.write(`memtrace: RSS growth rose by more than --fail-over ${describeLimit(limit!)}: exit code ${LIMIT_EXIT_CODE}\n`)
    return LIMIT_EXIT_CODE
  },
}
