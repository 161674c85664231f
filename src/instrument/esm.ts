/**
 * ES modules: instrumented in a `load` hook, after every other loader has had its say.
 *
 * Where Node has `module.registerHooks` (>= 22.15, >= 23.5), the hook is synchronous and runs on
 * the loading thread: no hooks thread to start, and a module that does not parse fails with
 * the very stack it would have untraced. Node runs every synchronous hook before any
 * asynchronous one (`module.register`, as tsx uses), and the last registered first, so ours is
 * registered again on top of any synchronous hooks added after it; it then sees the output of
 * all of them. CommonJS reaches these hooks too, but is left to `Module.prototype._compile`
 * (`commonjs.ts`), which every CommonJS module passes through afterwards on those versions.
 *
 * Elsewhere (Node 20) the hook is asynchronous, on Node's hooks thread (`hooks.mts`).
 */
import Module, { syncBuiltinESMExports } from 'node:module'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { TextDecoder } from 'node:util'

import type { HooksData, InstrumentConfig } from './config.js'
import { standsFor } from './source.js'
import { transformer, type SourceKind, type Transformer } from './transform.js'

export interface LoadResult {
  format?: string | null
  source?: string | ArrayBuffer | ArrayBufferView | null
  shortCircuit?: boolean
}

const decoder = new TextDecoder()

/**
 * `result` of loading `url`, with its source instrumented when its format is one of `formats`.
 * TypeScript that Node would strip of its types (`module-typescript`: `.mts`, `.ts` in a
 * `"type": "module"` package) is stripped here as Node does it, types replaced by white space so
 * that every place stays where it was, and instrumented as the ES module it then is.
 */
export function instrumentLoaded(result: LoadResult, url: string, transform: Transformer, formats: readonly SourceKind[]): LoadResult {
  const strip = result.format === 'module-typescript' && formats.includes('module') ? stripTypes() : null
  if (result.source == null || (!formats.includes(result.format as SourceKind) && !strip)) return result
  const file = url.startsWith('file:') ? fileURLToPath(url) : url
  let source = typeof result.source === 'string' ? result.source : decoder.decode(result.source as Uint8Array)
  if (strip) source = strip(source)
  const kind = strip ? 'module' : (result.format as SourceKind)
  return { ...result, format: kind, source: transform(source, file, kind) }
}

type Strip = (code: string, options: { mode: 'strip' }) => string

/**
 * Node's own type stripping (`module.stripTypeScriptTypes`, Node 22.13 and later), if it has one.
 * Its first call warns that the function is experimental, which the program, which did not call
 * it, would not have seen: that warning is not passed on.
 */
function stripTypes(): ((code: string) => string) | null {
  const strip = (Module as unknown as { stripTypeScriptTypes?: Strip }).stripTypeScriptTypes
  if (!strip) return null
  return (code) => {
    const emitWarning = process.emitWarning
    process.emitWarning = () => {}
    try {
      return strip(code, { mode: 'strip' })
    } finally {
      process.emitWarning = emitWarning
    }
  }
}

type SyncLoad = (url: string, context: unknown, nextLoad: (url: string, context: unknown) => LoadResult) => LoadResult
type RegisterHooks = (hooks: { load?: SyncLoad }) => { deregister(): void }
type RegisterAsync = (specifier: string, options: { data: HooksData }) => void

interface ModuleStatics {
  registerHooks?: RegisterHooks
  register: RegisterAsync
}

export function registerEsmHooks(config: InstrumentConfig): void {
  const statics = Module as unknown as ModuleStatics
  if (statics.registerHooks) registerSync(statics, statics.registerHooks, config)
  else registerAsync(statics, statics.register, config)
  syncBuiltinESMExports()
}

function registerSync(statics: ModuleStatics, original: RegisterHooks, config: InstrumentConfig): void {
  const transform = transformer(config)
  const hooks = { load: ((url, context, nextLoad) => instrumentLoaded(nextLoad(url, context), url, transform, ['module'])) as SyncLoad }
  let ours = original(hooks)
  statics.registerHooks = standsFor(function registerHooks(this: unknown, theirs: Parameters<RegisterHooks>[0]) {
    ours.deregister()
    const handle = original.call(this, theirs)
    ours = original(hooks)
    return handle
  }, original)
}

/**
 * Hooks chain last-registered-first, so each `module.register` by another loader is followed by
 * ours again, as a new generation of the hooks module; only the newest generation instruments.
 */
function registerAsync(statics: ModuleStatics, original: RegisterAsync, config: InstrumentConfig): void {
  const hooks = pathToFileURL(`${__dirname}/hooks.mjs`).href
  let generation = 0
  const add = () => {
    generation += 1
    original(`${hooks}?generation=${generation}`, { data: { generation, config } })
  }
  add()
  statics.register = standsFor(function register(this: unknown, ...args: Parameters<RegisterAsync>) {
    original.apply(this, args)
    add()
  }, original)
}
