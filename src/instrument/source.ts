/**
 * `Function.prototype.toString` of an instrumented function, as it was written.
 *
 * Code that sends a function's source elsewhere (`vm.runInNewContext(`(${fn})()`)`, a browser
 * through Playwright's `page.evaluate(fn)`) would otherwise send the hot-path calls too, to a
 * realm where they do not exist. The inserted pieces are fixed text around function ids, so
 * they can be taken out again. Braces and semicolons are left where they cannot be told from the
 * user's own (`;` after a directive, `{`…`}` around a for-await body): they change no meaning.
 */
import { native } from '../native.js'

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

const INSERTED = new RegExp(
  native
    .insertedPieces()
    .map((parts) => parts.map(escape).join('\\d+').replace(/^\\\{(?=\\\$mt\\\$s=)/, ''))
    .filter((pattern) => pattern.length > 2)
    .sort((a, b) => b.length - a.length)
    .join('|'),
  'g',
)

/**
 * Makes `Function.prototype.toString` give instrumented functions their original source. Where
 * code froze `Function.prototype` first, it cannot, and instrumented functions show what runs;
 * returns whether it could.
 */
export function restoreFunctionSources(): boolean {
  const original = Function.prototype.toString
  const descriptor = Object.getOwnPropertyDescriptor(Function.prototype, 'toString')
  if (!descriptor?.configurable && !descriptor?.writable) return false
  // A Proxy of the original, so that it still reads as native code to those who check.
  const toString = new Proxy(original, {
    apply(target, self, args: []) {
      const source = Reflect.apply(target, self, args)
      return source.includes('$mt$') || source.includes('__mt$') ? source.replace(INSERTED, '') : source
    },
  })
  Object.defineProperty(Function.prototype, 'toString', { ...descriptor, value: toString })
  return true
}
