/**
 * What every `memtrace` command shares: its shape, its errors, and reading its arguments.
 */

/** One command. Its `help` is what `memtrace <name> --help` prints. */
export interface Command {
  name: string
  /** One line, for `memtrace --help`. */
  summary: string
  help: string
  /** Runs the command; resolves to the process exit code. */
  run(args: string[]): Promise<number>
}

/** A failure the user can act on: printed as `memtrace: <message>`, then exit with `exitCode`. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = 1,
  ) {
    super(message)
  }
}

/** A usage mistake: exit code 2, with a pointer to the help. */
export function usage(command: string, message: string): CommandError {
  return new CommandError(`${message}\nRun \`memtrace ${command} --help\` for the options.`, 2)
}

export interface OptionSpec {
  /** Takes a value (`--log-dir <dir>`) rather than being a switch (`--previous`). */
  value: boolean
  /** May be given more than once; the values are collected. */
  repeat?: boolean
}

export interface Parsed {
  options: Map<string, string[]>
  /** Arguments after the options: the first non-option, and everything after it or after `--`. */
  rest: string[]
  /** Whether the rest came after `--`. */
  dashed: boolean
}

/**
 * Reads `--name value`, `--name=value` and switches. With `commandFollows`, options end at the
 * first argument that is not one (or `--`): everything from there on belongs to the command
 * being run. Otherwise options and arguments may come in any order, until `--`.
 */
export function parseOptions(
  command: string,
  args: string[],
  specs: Record<string, OptionSpec>,
  { commandFollows = false } = {},
): Parsed {
  const options = new Map<string, string[]>()
  const positional: string[] = []
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]
    if (arg === '--') return { options, rest: [...positional, ...args.slice(i + 1)], dashed: true }
    if (!arg.startsWith('-') || arg === '-') {
      if (commandFollows) return { options, rest: args.slice(i), dashed: false }
      positional.push(arg)
      continue
    }
    const [name, inline] = arg.startsWith('--') ? splitOnce(arg.slice(2), '=') : [arg.slice(1), undefined]
    const spec = specs[name]
    if (!spec) throw usage(command, `unknown option ${arg}`)
    let value = 'true'
    if (spec.value) {
      value = inline ?? args[++i]
      if (value === undefined) throw usage(command, `--${name} needs a value`)
    } else if (inline !== undefined) {
      throw usage(command, `--${name} takes no value`)
    }
    if (options.has(name) && !spec.repeat) throw usage(command, `--${name} is given twice`)
    options.set(name, [...(options.get(name) ?? []), value])
  }
  return { options, rest: positional, dashed: false }
}

function splitOnce(text: string, separator: string): [string, string | undefined] {
  const at = text.indexOf(separator)
  return at < 0 ? [text, undefined] : [text.slice(0, at), text.slice(at + 1)]
}

/** A whole number of at least `min` from option `--name`. */
export function integerOption(command: string, name: string, value: string | undefined, min = 0): number | undefined {
  if (value === undefined) return undefined
  const number = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(number) || number < min) {
    throw usage(command, `--${name} must be a whole number of at least ${min}, got ${JSON.stringify(value)}`)
  }
  return number
}
