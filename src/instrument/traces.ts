/**
 * Stack traces as they are untraced: every frame of instrumented code at the line and column it
 * has in the source, and no frame of memtrace's own.
 *
 * V8 hands each stack trace's frames (CallSite objects) to the callback Node set; memtrace's
 * binding puts `mapFrames` in front of it (`crates/node/src/traces.rs`), so whatever formats the
 * trace next (Node's default format, a program's `Error.prepareStackTrace`, Node's source maps)
 * sees frames that answer the source's places. A frame whose place moved is answered by a
 * `CallSite` of this module, which asks the real one everything else.
 */
import { dirname, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

import { native } from '../native.js'

/** memtrace's own code (`dist/`): its frames are left out. */
const OWN = dirname(dirname(__filename)) + sep

/** `native.originalPosition` packs line and column so. */
const LINE = 67_108_864

type Frame = NodeJS.CallSite & {
  getEnclosingLineNumber?(): number | null
  getEnclosingColumnNumber?(): number | null
  getScriptHash?(): string
  getPromiseIndex?(): number | null
  isPromiseAll?(): boolean
  isAsync?(): boolean
}

/** The place of a frame's script in the source, or -1 (not instrumented, or no place). */
function sourcePlace(file: string | null | undefined, line: number | null, column: number | null): number {
  if (!file || line === null || column === null) return -1
  return native.originalPosition(file.startsWith('file:') ? fileURLToPath(file) : file, line, column)
}

/** What a frame of instrumented code answers as V8's own frame does. */
const ASKED = [
  'getThis',
  'getTypeName',
  'getFunction',
  'getFunctionName',
  'getMethodName',
  'getFileName',
  'getScriptNameOrSourceURL',
  'getScriptHash',
  'getPosition',
  'getPromiseIndex',
  'isToplevel',
  'isEval',
  'isNative',
  'isConstructor',
  'isAsync',
  'isPromiseAll',
] as const

/** `origin` (a frame's `getEvalOrigin()`) with each place in instrumented code at its place in the source. */
function sourceOrigin(origin: string): string {
  return origin.replace(/\(([^()]+):(\d+):(\d+)\)/g, (text, file: string, line: string, column: string) => {
    const place = sourcePlace(file, Number(line), Number(column))
    return place < 0 ? text : `(${file}:${Math.floor(place / LINE)}:${place % LINE})`
  })
}

/** A frame of instrumented code, at its place in the source (`place`, or where it is: -1). */
class CallSite {
  readonly #frame: Frame
  readonly #line: number | null
  readonly #column: number | null

  constructor(frame: Frame, place: number) {
    this.#frame = frame
    this.#line = place < 0 ? frame.getLineNumber() : Math.floor(place / LINE)
    this.#column = place < 0 ? frame.getColumnNumber() : place % LINE
  }

  getLineNumber(): number | null {
    return this.#line
  }

  getColumnNumber(): number | null {
    return this.#column
  }

  getEnclosingLineNumber(): number | null {
    const [line] = this.#enclosing()
    return line
  }

  getEnclosingColumnNumber(): number | null {
    const [, column] = this.#enclosing()
    return column
  }

  #enclosing(): [number | null, number | null] {
    const frame = this.#frame
    const line = frame.getEnclosingLineNumber?.() ?? null
    const column = frame.getEnclosingColumnNumber?.() ?? null
    const place = sourcePlace(frame.getFileName(), line, column)
    return place < 0 ? [line, column] : [Math.floor(place / LINE), place % LINE]
  }

  getEvalOrigin(): string | undefined {
    const origin = this.#frame.getEvalOrigin()
    return origin === undefined ? origin : sourceOrigin(origin)
  }

  toString(): string {
    // V8's text ends in the place, `file:line:column` (in parentheses when the frame has a name),
    // after the place of the eval that made the code, if it was.
    const frame = this.#frame
    const origin = frame.isEval() ? frame.getEvalOrigin() : undefined
    let text = frame.toString()
    if (origin !== undefined) text = text.replace(origin, sourceOrigin(origin))
    const place = `:${frame.getLineNumber()}:${frame.getColumnNumber()}`
    const end = text.endsWith(')') ? text.length - 1 : text.length
    if (!text.startsWith(place, end - place.length)) return text
    return `${text.slice(0, end - place.length)}:${this.#line}:${this.#column}${text.slice(end)}`
  }

  // The rest of a CallSite's methods ask the frame itself.
  static {
    for (const name of ASKED) {
      Object.defineProperty(CallSite.prototype, name, {
        value: {
          [name](this: CallSite) {
            const frame = this.#frame
            return (frame[name] as () => unknown).call(frame)
          },
        }[name],
        writable: true,
        configurable: true,
      })
    }
  }
}

/** Whether the eval that made `frame`'s code was in instrumented code. */
function evalMoved(frame: Frame): boolean {
  const origin = frame.getEvalOrigin()
  return origin !== undefined && sourceOrigin(origin) !== origin
}

/**
 * Node's own `Module.prototype._compile`, whose place memtrace took (`commonjs.ts`): V8 names a
 * method it finds no name for by the receiver's property that holds it, which is now another
 * function, so its frame would read `Module.<anonymous>`.
 */
class CompileFrame extends CallSite {
  getMethodName(): string {
    return '_compile'
  }

  toString(): string {
    return super.toString().replace(/^(async )?Module\.<anonymous>/, '$1Module._compile')
  }
}

/** Whether `frame` is of Node's `_compile` under memtrace's (see `CompileFrame`). */
function isCompile(frame: Frame, file: string | null | undefined): boolean {
  return file === LOADER && frame.getMethodName() === null && frame.getTypeName() === 'Module'
}

const LOADER = 'node:internal/modules/cjs/loader'

/**
 * The frames of a stack trace, for the formatting after it: the same array when no frame is of
 * instrumented code or memtrace's own.
 */
export function mapFrames(_error: unknown, frames: Frame[]): Frame[] {
  let mapped: Frame[] | null = null
  try {
    for (let i = 0; i < frames.length; i++) {
      const frame = frames[i]
      const file = frame.getFileName()
      if (file?.startsWith(OWN)) {
        mapped ??= frames.slice(0, i)
        continue
      }
      const compile = isCompile(frame, file)
      const place = compile ? -1 : sourcePlace(file, frame.getLineNumber(), frame.getColumnNumber())
      const evaluated = place < 0 && !compile && frame.isEval() && evalMoved(frame)
      if (place >= 0 || compile || evaluated) mapped ??= frames.slice(0, i)
      const answer = compile ? new CompileFrame(frame, -1) : place >= 0 || evaluated ? new CallSite(frame, place) : frame
      mapped?.push(answer as Frame)
    }
  } catch {
    // A frame that cannot be read: the trace as V8 gave it.
    return frames
  }
  return mapped ?? frames
}
