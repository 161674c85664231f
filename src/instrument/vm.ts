/**
 * Code compiled through `node:vm` under a real file's name: Jest runs every test file and the
 * code under test so (Jest 29: `new vm.Script(wrapped, { filename })`; Jest 30:
 * `vm.compileFunction(body, params, { filename })`), after its own transform, and the loader
 * hooks never see it. Such code is instrumented as a file would be
 * (same include/exclude rules, same cache). Code with no file behind its name (`eval`,
 * `new Function`, `vm.runInNewContext('1 + 1')`) is left alone.
 *
 * Instrumented code calls the hot-path globals (`hotpath.ts`) of the realm it runs in, so every
 * context made with `vm.createContext` gets them too.
 */
import { existsSync } from 'node:fs'
import { isAbsolute } from 'node:path'
import vm from 'node:vm'

import { defineGlobals } from '../profile/hotpath.js'
import { restoreFunctionSources, standsFor } from './source.js'
import type { SourceKind, Transformer } from './transform.js'

type Options = string | { filename?: string } | undefined

/** The file a vm call names, when there is one behind it. */
function fileOf(options: Options): string | null {
  const filename = typeof options === 'string' ? options : options?.filename
  return typeof filename === 'string' && isAbsolute(filename) && existsSync(filename) ? filename : null
}

export function patchVm(transform: Transformer): void {
  // A script's completion value is what running it gives (Jest 29 takes its module function so),
  // so a script is instrumented as one, with no <module> frame around it; a function body as
  // CommonJS, whose top level it is.
  const instrument = (code: unknown, options: Options, kind: SourceKind = 'script'): unknown => {
    const file = fileOf(options)
    return file && typeof code === 'string' ? transform(code, file, kind) : code
  }

  const Script = vm.Script
  vm.Script = standsFor(
    class Script_ extends Script {
      constructor(code: string, options?: vm.ScriptOptions | string) {
        super(instrument(code, options) as string, options as vm.ScriptOptions)
      }
    } as typeof vm.Script,
    Script,
  )
  Object.defineProperty(vm.Script, 'name', { value: 'Script' })

  // A function body (Jest 30 compiles each module so), which may `return` at its top level as
  // CommonJS may.
  const compileFunction = vm.compileFunction
  vm.compileFunction = standsFor(function compileFunction_(this: unknown, code: string, params?: readonly string[], options?: vm.CompileFunctionOptions) {
    return compileFunction.call(this, instrument(code, options, 'commonjs') as string, params, options)
  } as typeof vm.compileFunction, compileFunction)
  Object.defineProperty(vm.compileFunction, 'name', { value: 'compileFunction' })

  for (const name of ['runInThisContext', 'runInContext', 'runInNewContext'] as const) {
    const original = vm[name] as (code: string, ...rest: unknown[]) => unknown
    // The options are the last argument but for runInContext's and runInNewContext's context.
    const at = name === 'runInThisContext' ? 0 : 1
    ;(vm as unknown as Record<string, unknown>)[name] = standsFor(
      {
        [name](code: string, ...rest: unknown[]) {
          return original.call(this, instrument(code, rest[at] as Options) as string, ...rest)
        },
      }[name],
      original,
    )
  }

  const createContext = vm.createContext
  vm.createContext = standsFor(function createContext_(this: unknown, ...args: Parameters<typeof vm.createContext>) {
    const context = createContext.apply(this, args)
    defineGlobals(context)
    // A context whose Function.prototype cannot be reached or changed shows instrumented text.
    try {
      restoreFunctionSources(context)
    } catch {}
    return context
  } as typeof vm.createContext, createContext)
  Object.defineProperty(vm.createContext, 'name', { value: 'createContext' })
}
