/**
 * CommonJS: every CommonJS module, however it is reached (`require`, `import` of a CJS file,
 * `createRequire`) and whatever other loader compiled it first (tsx, pirates), ends in
 * `Module.prototype._compile(content, filename)`, so one patch there sees them all, after the
 * others. (Returning CJS source from the ESM `load` hook instead would switch Node to a reduced
 * CommonJS loader without `require.cache`.)
 */
import Module from 'node:module'

import type { Transformer } from './transform.js'

type Compile = (this: unknown, content: string, filename: string, ...rest: unknown[]) => unknown

export function patchCommonJs(transform: Transformer): void {
  const prototype = (Module as unknown as { prototype: { _compile: Compile } }).prototype
  const original = prototype._compile
  // Stack frames name a method by its function's name or, for an anonymous one (Node >= 22),
  // by the receiver's property that holds it, which is now ours: named, the original's frame
  // reads `Module._compile` as it would untraced.
  if (!original.name) Object.defineProperty(original, 'name', { value: '_compile' })
  prototype._compile = function memtraceCompile(content, filename, ...rest) {
    // Node passes 'module' for an ES module loaded by require().
    const { code, unparsable } = transform(content, filename, rest[0] === 'module' ? 'module' : 'commonjs')
    if (!unparsable) return original.call(this, code, filename, ...rest)
    // The file does not parse: let Node throw its SyntaxError, then take this wrapper's frames
    // out of its stack (one per module being loaded), having asked for enough frames more that
    // the stack keeps as many as it would have untraced.
    const limit = Error.stackTraceLimit
    if (Number.isFinite(limit)) Error.stackTraceLimit = limit + 64
    try {
      return original.call(this, code, filename, ...rest)
    } catch (error) {
      if (error instanceof SyntaxError && typeof error.stack === 'string') error.stack = withoutOurFrames(error.stack, limit)
      throw error
    } finally {
      Error.stackTraceLimit = limit
    }
  }
}

function withoutOurFrames(stack: string, limit: number): string {
  let frames = 0
  return stack
    .split('\n')
    .filter((line) => {
      if (!/^\s+at /.test(line)) return true
      if (line.includes(__filename)) return false
      return ++frames <= limit
    })
    .join('\n')
}
