/**
 * One file through the instrumenter: included or not, parsed or not, cached or not.
 */
import { existsSync, writeSync } from 'node:fs'
import { isAbsolute } from 'node:path'

import { native } from '../native.js'
import { compiledGlobs, type InstrumentConfig } from './config.js'
import { matcher } from './glob.js'

/** How Node runs the source: an ES module, CommonJS (a function body), or a classic script (`vm.Script`). */
export type SourceKind = 'module' | 'commonjs' | 'script'

/**
 * The source to run: instrumented, or as it was when excluded or when it does not parse (Node
 * then throws its own SyntaxError).
 */
export type Transformer = (source: string, file: string, kind: SourceKind) => string

export function transformer(config: InstrumentConfig): Transformer {
  const { include, exclude } = compiledGlobs(config)
  const included = matcher(include, exclude)
  // Written at once: from a hooks thread or a worker that is about to end, process.stderr's
  // asynchronous writes can be lost.
  const debug = config.debug ? (text: string) => writeSync(2, `memtrace: ${text}\n`) : null
  return (source, name, kind) => {
    const file = withoutQuery(name)
    if (!included(file)) {
      debug?.(`skipped ${file}: not matched by the include globs, or matched by an exclude glob`)
      return source
    }
    // Through Node-API a string becomes UTF-8, where a lone surrogate cannot go.
    if (!source.isWellFormed()) {
      debug?.(`left ${file} as it is: it holds a lone surrogate, which would not survive instrumenting`)
      return source
    }
    const map = isAbsolute(file) && mapNeeded()
    const result = native.instrument(source, file, kind, {
      lines: config.lines,
      nativeCalls: config.nativeCalls,
      sourceMap: map,
      cacheDir: config.cacheDir ?? undefined,
      acceptsUsing: ACCEPTS_USING,
    })
    if (result.error) {
      const as = { module: 'an ES module', commonjs: 'CommonJS', script: 'a script' }[kind]
      debug?.(`left ${file} as it is: it does not parse as ${as} (${result.error})`)
      return source
    }
    debug?.(`instrumented ${file}: ${result.functions} functions${result.cached ? ', plan from the cache' : ''}`)
    for (const why of result.skipped) debug?.(`  left one function of ${file} as it is: ${why}`)
    // The last sourceMappingURL comment is the one that counts: ours, chained with the file's own.
    return result.map ? `${result.code}\n//# sourceMappingURL=${result.map}` : result.code
  }
}

/** Whether this runtime knows `using` declarations (V8 13.4: Node 24 and later). */
export const ACCEPTS_USING = (() => {
  try {
    new Function('{ using x = null }')
    return true
  } catch {
    return false
  }
})()

/**
 * Whether the instrumented code needs a source map of memtrace's (only files get one: coverage
 * tools take every map Node hands them for a file's): for coverage tools
 * (`NODE_V8_COVERAGE`, which c8 sets), which map what V8 counted through the maps Node hands
 * them; and for stack traces where Node reads source maps (`--enable-source-maps`,
 * `process.setSourceMapsEnabled`) but memtrace cannot map them itself (`traces.ts`).
 */
function mapNeeded(): boolean {
  if (process.env.NODE_V8_COVERAGE) return true
  const read =
    (process as { sourceMapsEnabled?: boolean }).sourceMapsEnabled ||
    process.execArgv.includes('--enable-source-maps') ||
    process.env.NODE_OPTIONS?.includes('--enable-source-maps')
  return Boolean(read) && !native.stackTracesMapped()
}

/**
 * A loader may add a query to a file's name (tsx: `lib.ts?tsx-commonjs-export-preparse=1`); the
 * log names the file. A name whose `?` is part of the file's own name is kept.
 */
function withoutQuery(name: string): string {
  const query = name.indexOf('?')
  if (query < 0 || !isAbsolute(name) || existsSync(name)) return name
  return existsSync(name.slice(0, query)) ? name.slice(0, query) : name
}
