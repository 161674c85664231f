/**
 * `Function.prototype.toString` as it is untraced.
 *
 * For an instrumented function (or class), V8 gives the instrumented text; the original is the
 * source's own text, kept when the file was instrumented (`crates/core/src/instrument/scripts.rs`),
 * found from the first hook call in V8's text, and checked against it. Code that sends a
 * function's source elsewhere (`new Function`, a worker, a browser through `page.evaluate(fn)`) or
 * reads it (minifiers, dependency injection by parameter names) then gets what it would untraced.
 *
 * The functions memtrace puts in place of Node's own (`Module.prototype._compile`, `vm.Script`, …)
 * give the text of the function they stand in for, and the replacement `toString` gives the
 * text of the one it replaces.
 */
import { native } from '../native.js'

/** The functions memtrace puts in place of Node's, with the one each stands for. */
const standIns = new WeakMap<Function, Function>()

/** `standIn` replaces `original`: its text is `original`'s. */
export function standsFor<F extends Function>(standIn: F, original: Function): F {
  standIns.set(standIn, standIns.get(original) ?? original)
  return standIn
}

/** Wherever V8's text holds a hook call: the hooks' names start so. */
const HOOK = '__mt$'

/**
 * Makes `Function.prototype.toString` give instrumented functions their source text. Where code
 * froze `Function.prototype` first, it cannot, and instrumented functions show what runs;
 * returns whether it could.
 */
export function restoreFunctionSources(): boolean {
  const descriptor = Object.getOwnPropertyDescriptor(Function.prototype, 'toString')
  if (!descriptor || (!descriptor.configurable && !descriptor.writable)) return false
  const original = descriptor.value as (this: unknown) => string
  // A method, as the original is: no `prototype`, not a constructor, named `toString`.
  const replacement = {
    toString(this: unknown): string {
      const self = typeof this === 'function' ? (standIns.get(this) ?? this) : this
      const text = Reflect.apply(original, self, [])
      return text.includes(HOOK) ? (native.originalSource(text) ?? text) : text
    },
  }.toString
  standIns.set(replacement, original)
  Object.defineProperty(Function.prototype, 'toString', { ...descriptor, value: replacement })
  return true
}
