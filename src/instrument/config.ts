/**
 * What to instrument and where to cache, read from the environment so that every thread and
 * process of a traced program (workers, the ESM hooks thread, child processes) agrees:
 *
 * - `MEMTRACE_INCLUDE`, `MEMTRACE_EXCLUDE`: globs separated by the path delimiter (`:`, or `;`
 *   on Windows), or a JSON array of globs (what `memtrace run` passes, since a glob may hold a
 *   `:`, as `data:*` does). Default: include every file; memtrace's own code is always excluded.
 * - `MEMTRACE_CACHE_DIR`: where instrumentation plans are cached; `off` turns the cache off.
 *   Default: the user's cache directory (`$XDG_CACHE_HOME/memtrace`, `~/.cache/memtrace`,
 *   `~/Library/Caches/memtrace`, `%LOCALAPPDATA%\memtrace`).
 * - `MEMTRACE_DEBUG=1`: say on stderr which files were instrumented, skipped, and why.
 * - `MEMTRACE_LINES=1`: each statement also reports a LINE event, for `profile({ lines: true })`.
 * - `MEMTRACE_NATIVE_CALLS=0`: calls of functions that are not instrumented JavaScript do not
 *   report C_CALL and C_RETURN (they do by default, for `profile({ nativeCalls })`).
 */
import { homedir } from 'node:os'
import { delimiter, join, resolve } from 'node:path'

import { compileGlob } from './glob.js'

export interface InstrumentConfig {
  include: string[]
  exclude: string[]
  /** The directory relative globs are resolved against. */
  root: string
  cacheDir: string | null
  debug: boolean
  /** Each statement reports a LINE event (`MEMTRACE_LINES=1`). */
  lines: boolean
  /** Calls of native functions report C_CALL and C_RETURN (unless `MEMTRACE_NATIVE_CALLS=0`). */
  nativeCalls: boolean
}

/** What `install.ts` hands each generation of the ES module hooks (see `hooks.mts`). */
export interface HooksData {
  generation: number
  config: InstrumentConfig
}

/** memtrace's own code: its compiled TypeScript and the binding loader. */
const OWN = [join(__dirname, '..', '**'), join(__dirname, '..', '..', 'index.js')]

export function defaultCacheDir(): string {
  const env = process.env
  if (process.platform === 'win32') return join(env.LOCALAPPDATA ?? join(homedir(), 'AppData', 'Local'), 'memtrace', 'cache')
  if (process.platform === 'darwin') return join(homedir(), 'Library', 'Caches', 'memtrace')
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'memtrace')
}

/**
 * The globs in an environment variable: a JSON array of strings when it is one (a glob may
 * itself start with `[`, a character class), else separated by the path delimiter.
 */
function globs(value: string | undefined): string[] {
  if (value?.startsWith('[')) {
    try {
      const list: unknown = JSON.parse(value)
      if (Array.isArray(list) && list.every((glob) => typeof glob === 'string')) return list
    } catch {
      // Globs, then; a bad one is named by compileGlob.
    }
  }
  return (value ?? '').split(delimiter).filter((glob) => glob !== '')
}

/** The configuration from the environment; bad globs throw a TypeError naming the variable. */
export function configFromEnv(env: NodeJS.ProcessEnv = process.env): InstrumentConfig {
  const cache = env.MEMTRACE_CACHE_DIR
  const config: InstrumentConfig = {
    include: globs(env.MEMTRACE_INCLUDE),
    exclude: globs(env.MEMTRACE_EXCLUDE),
    root: process.cwd(),
    cacheDir: cache === 'off' ? null : cache ? resolve(cache) : defaultCacheDir(),
    debug: env.MEMTRACE_DEBUG === '1',
    lines: env.MEMTRACE_LINES === '1',
    nativeCalls: env.MEMTRACE_NATIVE_CALLS !== '0',
  }
  // Fail now, naming the variable, rather than on the first file.
  for (const glob of config.include) compileGlob(glob, config.root, 'MEMTRACE_INCLUDE')
  for (const glob of config.exclude) compileGlob(glob, config.root, 'MEMTRACE_EXCLUDE')
  return config
}

/** The globs as the matcher uses them: user include (null: everything), user exclude plus our own code. */
export function compiledGlobs(config: InstrumentConfig): { include: RegExp[] | null; exclude: RegExp[] } {
  const include = config.include.length
    ? config.include.map((glob) => compileGlob(glob, config.root, 'MEMTRACE_INCLUDE'))
    : null
  const exclude = [
    ...config.exclude.map((glob) => compileGlob(glob, config.root, 'MEMTRACE_EXCLUDE')),
    ...OWN.map((glob) => compileGlob(glob, config.root, 'memtrace')),
  ]
  return { include, exclude }
}
