#!/usr/bin/env node
/**
 * The `memtrace` command: one subcommand per file, listed below, each loaded only when it runs
 * (what the others load, the inspector client and the HTML report among it, would add a tenth
 * to the start of every `memtrace run`; see bench/startup.bench.mjs).
 */
import { CommandError, HelpRequested, type Command } from './command.js'

const COMMANDS: { name: string; summary: string; load(): Command }[] = [
  { name: 'run', summary: 'run a script or command with every Node process it starts traced', load: () => require('./run.js').run },
  { name: 'monitor', summary: 'record the RSS of a command and its child processes over time', load: () => require('./monitor.js').monitorCommand },
  {
    name: 'attach',
    summary: 'record RSS, V8 heap and a heap profile of a running Node process, through its inspector',
    load: () => require('./attach.js').attachCommand,
  },
  { name: 'report', summary: 'tell what a log says, as text, JSON, an HTML page or an SVG chart', load: () => require('./report.js').report },
  { name: 'diff', summary: 'compare two runs: the functions and stacks whose memory growth changed', load: () => require('./diff.js').diff },
]

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
  return command.load()
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
