/**
 * What every `memtrace` command shares: its shape, its errors, reading its arguments, checking
 * where its logs go, and passing signals on to the command it runs.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { constants } from 'node:os'
import { dirname, join } from 'node:path'

import { native } from '../native.js'
import { parseSize, SIZE_FORMS } from '../size.js'

/** One command. Its `help` is what `memtrace <name> --help` prints. */
export interface Command {
  name: string
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

/** `--help` (or `-h`) among a command's options: `memtrace` prints the command's `help`. */
export class HelpRequested extends Error {}

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

/** Short spellings every command takes. */
const SHORT: Record<string, string> = { h: 'help' }

/**
 * Reads `--name value`, `--name=value` and switches; `--help` or `-h`, which every command takes,
 * throws {@link HelpRequested}. With `commandFollows`, options end at the
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
    const [name, inline] = arg.startsWith('--') ? splitOnce(arg.slice(2), '=') : [SHORT[arg.slice(1)] ?? arg.slice(1), undefined]
    if (name === 'help' && inline === undefined) throw new HelpRequested()
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

/** A whole number from `min` to `max` from option `--name`. */
export function integerOption(command: string, name: string, value: string | undefined, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined
  const number = Number(value)
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(number) || number < min || number > max) {
    throw usage(command, `--${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(value)}`)
  }
  return number
}

/** A size in bytes from option `--name` (`300MiB`, `1.5GB`, `4096`), more than zero. */
export function sizeOption(command: string, name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const bytes = parseSize(value)
  if (bytes === undefined || bytes <= 0) throw usage(command, `--${name} must be a size above zero: ${SIZE_FORMS}; got ${JSON.stringify(value)}`)
  return bytes
}

/** How a command ended, as `memtrace run` and `monitor` report it. */
export interface Ended {
  /** The exit code a shell would report: the command's own, or 128 + the signal's number. */
  code: number
  exitCode: number | null
  signal: NodeJS.Signals | null
}

/**
 * Starts `command` in a process group of its own (see `crates/core/src/child.rs`) and passes on
 * to it, once, each SIGINT, SIGTERM and SIGHUP that memtrace gets: what is sent to the command
 * or to its group reaches it directly, and what is sent to memtrace or to memtrace's group
 * through memtrace, so every signal arrives exactly once. `ended` resolves when it has ended.
 */
export function startCommand(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): { pid: number; ended: Promise<Ended>; signal(name: NodeJS.Signals): void } {
  let child: InstanceType<typeof native.NativeCommand>
  try {
    child = new native.NativeCommand(command, args, Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined)) as Record<string, string>)
  } catch (error) {
    throw new CommandError(`cannot run ${command}: ${(error as Error).message}`, 127)
  }
  const signal = (name: NodeJS.Signals) => {
    try {
      child.signal(constants.signals[name])
    } catch {
      // It has ended already.
    }
  }
  const stop = onSignals(signal)
  const ended = child.wait().then(
    (exit) => {
      stop()
      const signal = exit.signal == null ? null : signalName(exit.signal)
      return { code: exitCodeOf(exit.code ?? null, signal), exitCode: exit.code ?? null, signal }
    },
    (error: Error) => {
      stop()
      throw new CommandError(`lost track of ${command}: ${error.message}`)
    },
  )
  return { pid: child.pid, ended, signal }
}

function signalName(number: number): NodeJS.Signals | null {
  return (Object.entries(constants.signals).find(([, n]) => n === number)?.[0] as NodeJS.Signals | undefined) ?? null
}

/** Calls `handler` on the signals that end a command; returns what removes it again. */
export function onSignals(handler: (signal: NodeJS.Signals) => void): () => void {
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']
  for (const signal of signals) process.on(signal, handler)
  return () => signals.forEach((signal) => process.off(signal, handler))
}

/** The exit code a shell reports for a child that exited with `code` or died of `signal`. */
export function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  return code ?? 128 + (signal ? constants.signals[signal] : 0)
}

/** Fails now, before the command starts, if logs cannot be written to `dir`. */
export function checkWritable(dir: string): void {
  try {
    // Not mkdirSync's `recursive`: on Node 20 it loops forever under /proc.
    const missing: string[] = []
    for (let at = dir; !existsSync(at); at = dirname(at)) missing.unshift(at)
    for (const path of missing) mkdirSync(path)
    // A page of data, not an empty file, which a full disk still takes.
    const probe = join(dir, `.memtrace-probe-${process.pid}`)
    try {
      writeFileSync(probe, Buffer.alloc(4096, 32))
    } finally {
      rmSync(probe, { force: true })
    }
  } catch (error) {
    throw new CommandError(`cannot write logs to ${dir}: ${(error as Error).message}. Choose another --log-dir.`)
  }
}
