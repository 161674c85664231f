#!/usr/bin/env node
/**
 * The `memtrace` command: one subcommand per file, listed below.
 */
import { CommandError, type Command } from './command.js'
import { monitorCommand } from './monitor.js'
import { report } from './report.js'
import { run } from './run.js'

const COMMANDS: Command[] = [run, monitorCommand, report]

const HELP = `Usage: memtrace <command> [options]

Record with \`memtrace run\` (every call) or \`memtrace monitor\` (over time), then read
the log with \`memtrace report\`, as text or as an HTML page.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(8)} ${c.summary}`).join('\n')}

Run \`memtrace <command> --help\` for a command's options.`

async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    console.log(HELP)
    return name === undefined ? 2 : 0
  }
  const command = COMMANDS.find((c) => c.name === name)
  if (!command) throw new CommandError(`'${name}' is not a memtrace command; the commands are: ${COMMANDS.map((c) => c.name).join(', ')}`, 2)
  return command.run(rest)
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
