#!/usr/bin/env node
/**
 * The `memtrace` command: one subcommand per file, listed below.
 */
import { CommandError, HelpRequested, type Command } from './command.js'
import { attachCommand } from './attach.js'
import { diff } from './diff.js'
import { monitorCommand } from './monitor.js'
import { report } from './report.js'
import { run } from './run.js'

const COMMANDS: Command[] = [run, monitorCommand, attachCommand, report, diff]

const HELP = `Usage: memtrace <command> [options]

Record with \`memtrace run\` (every call), \`memtrace monitor\` (over time) or \`memtrace
attach\` (a process already running), then read the log with \`memtrace report\`, as text,
JSON, an HTML page, or for pprof, speedscope and Perfetto; compare two runs with \`memtrace
diff\`.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(8)} ${c.summary}`).join('\n')}

Options:
  -h, --help     this text (\`memtrace help <command>\` or \`memtrace <command> --help\`:
                 a command's options)
  -v, --version  memtrace's version`

function commandNamed(name: string): Command {
  const command = COMMANDS.find((c) => c.name === name)
  if (!command) throw new CommandError(`'${name}' is not a memtrace command; the commands are: ${COMMANDS.map((c) => c.name).join(', ')}`, 2)
  return command
}

async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args
  if (name === '--version' || name === '-v') {
    console.log((require('../../package.json') as { version: string }).version)
    return 0
  }
  if (name === 'help' && rest.length > 0) {
    console.log(commandNamed(rest[0]).help)
    return 0
  }
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(HELP)
    return name === undefined ? 2 : 0
  }
  const command = commandNamed(name)
  try {
    return await command.run(rest)
  } catch (error) {
    if (!(error instanceof HelpRequested)) throw error
    console.log(command.help)
    return 0
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (error: unknown) => {
    if (error instanceof CommandError) {
      process.stderr.write(`memtrace: ${error.message}\n`)
      process.exitCode = error.exitCode
    } else {
      // A bug of memtrace's, not the user's: one line, and the stack only when asked for.
      process.stderr.write(`memtrace: internal error: ${(error as Error)?.message ?? error}\n`)
      if (process.env.MEMTRACE_DEBUG === '1') process.stderr.write(`${(error as Error)?.stack}\n`)
      process.exitCode = 70
    }
  },
)
