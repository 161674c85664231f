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
import { join } from 'node:path'
import vm from 'node:vm'

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
 * The replacement, made in the realm whose `Function.prototype` it goes on: a method, as the
 * original is (no `prototype`, not a constructor, named `toString`).
 */
const REPLACEMENT = `(original, standIns, originalSource) => ({
  toString() {
    const self = typeof this === 'function' ? (standIns.get(this) ?? this) : this
    const text = Reflect.apply(original, self, [])
    return text.includes('${HOOK}') ? (originalSource(text) ?? text) : text
  },
}).toString`

/** Where the replacement says it is: a file of memtrace's (that does not exist, so nothing instruments it), whose frames stack traces leave out. */
const REALM_FILE = join(__dirname, 'source-realm.js')

/**
 * Makes `Function.prototype.toString` of `realm` (a `vm` context; this realm without one) give
 * instrumented functions their source text. Where code froze `Function.prototype` first, it
 * cannot, and instrumented functions show what runs; returns whether it could.
 */
export function restoreFunctionSources(realm?: vm.Context): boolean {
  const prototype = (realm ? vm.runInContext('Function.prototype', realm) : Function.prototype) as object
  const descriptor = Object.getOwnPropertyDescriptor(prototype, 'toString')
  if (!descriptor || (!descriptor.configurable && !descriptor.writable)) return false
  const options = { filename: REALM_FILE }
  const make = (realm ? vm.runInContext(REPLACEMENT, realm, options) : vm.runInThisContext(REPLACEMENT, options)) as (
    original: unknown,
    standIns: WeakMap<Function, Function>,
    originalSource: (text: string) => string | null,
  ) => Function
  const original = descriptor.value as Function
  const replacement = make(original, standIns, (text) => native.originalSource(text))
  standIns.set(replacement, original)
  Object.defineProperty(prototype, 'toString', { ...descriptor, value: replacement })
  return true
}
