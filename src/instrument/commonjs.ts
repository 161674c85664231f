/**
 * CommonJS: every CommonJS module, however it is reached (`require`, `import` of a CJS file,
 * `createRequire`) and whatever other loader compiled it first (tsx, pirates), ends in
 * `Module.prototype._compile(content, filename)`, so one patch there sees them all, after the
 * others. (Returning CJS source from the ESM `load` hook instead would switch Node to a reduced
 * CommonJS loader without `require.cache`.)
 */
import Module from 'node:module'

import { native } from '../native.js'
import { standsFor } from './source.js'
import type { Transformer } from './transform.js'

type Compile = (this: unknown, content: string, filename: string, ...rest: unknown[]) => unknown

export function patchCommonJs(transform: Transformer): void {
  const prototype = (Module as unknown as { prototype: { _compile: Compile } }).prototype
  const original = prototype._compile
  // Node passes 'module' for an ES module loaded by require(). A file that does not parse is
  // passed on as it is, for Node to throw its own SyntaxError.
  const instrument = (content: unknown, filename: unknown, format: unknown): unknown =>
    typeof content === 'string' ? transform(content, String(filename), format === 'module' ? 'module' : 'commonjs') : content
  // Native, so that no frame of ours sits under a module's top level (crates/node/src/compile.rs);
  // where it cannot be, stack traces taken there have this one frame more.
  prototype._compile = standsFor(
    native.compileThrough(instrument, original) ??
      function memtraceCompile(this: unknown, content: string, filename: string, ...rest: unknown[]) {
        return original.call(this, instrument(content, filename, rest[0]) as string, filename, ...rest)
      },
    original,
  )
}
