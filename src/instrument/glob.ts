/**
 * Globs for `include` and `exclude`, compiled to regular expressions.
 *
 * `**` matches any number of path segments, `*` and `?` match within one, `{a,b}` is either,
 * `[abc]`, `[a-z]` and `[!a]` are character classes. A glob that does not start with `/` is
 * relative to `root`; one without any `/` matches a file name at any depth (`*.test.js`).
 * Paths are compared with forward slashes; URLs of modules that are not files (`data:…`) are
 * compared as they are.
 */
import { isAbsolute } from 'node:path'

export class GlobError extends TypeError {}

/** A RegExp matching what `glob` matches. `option` names the option in error messages. */
export function compileGlob(glob: string, root: string, option: string): RegExp {
  if (typeof glob !== 'string' || glob.trim() === '') {
    throw new GlobError(`${option} must be a non-empty glob, got ${JSON.stringify(glob)}`)
  }
  const slashed = glob.replaceAll('\\', '/')
  const url = /^[a-z][a-z0-9+.-]+:/i.test(slashed)
  const anchored = isAbsolute(glob) || url
    ? slashed
    : slashed.includes('/')
      ? `${root.replaceAll('\\', '/').replace(/\/$/, '')}/${slashed.replace(/^\.\//, '')}`
      : `**/${slashed}`
  // Checked as written, so that positions in error messages are the user's.
  translate(slashed, glob, option)
  return new RegExp(`^${translate(anchored, glob, option)}$`)
}

function translate(glob: string, original: string, option: string): string {
  const fail = (what: string) =>
    new GlobError(`${option} glob ${JSON.stringify(original)} is not valid: ${what}`)
  let out = ''
  let braces = 0
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]
    switch (ch) {
      case '*':
        if (glob[i + 1] === '*') {
          const segmentStart = i === 0 || glob[i - 1] === '/'
          const segmentEnd = i + 2 === glob.length || glob[i + 2] === '/'
          if (!segmentStart || !segmentEnd) throw fail("'**' must be a whole path segment, as in 'a/**/b'")
          if (glob[i + 2] === '/') {
            out += '(?:[^/]*(?:/|$))*'
            i += 2
          } else {
            out += '.*'
            i += 1
          }
        } else {
          out += '[^/]*'
        }
        break
      case '?':
        out += '[^/]'
        break
      case '[': {
        const end = glob.indexOf(']', i + 2)
        if (end < 0) throw fail(`'[' at position ${i + 1} is never closed`)
        let body = glob.slice(i + 1, end)
        if (body.startsWith('!')) body = `^${body.slice(1)}`
        out += `[${body.replace(/\\/g, '\\\\')}]`
        i = end
        break
      }
      case '{':
        braces++
        out += '(?:'
        break
      case '}':
        if (braces === 0) throw fail(`'}' at position ${i + 1} has no '{'`)
        braces--
        out += ')'
        break
      case ',':
        out += braces > 0 ? '|' : ','
        break
      default:
        out += ch.replace(/[.+^$()|\\]/g, '\\$&')
    }
  }
  if (braces > 0) throw fail("a '{' is never closed")
  return out
}

/** Whether `path` is included: it matches an include glob (any, when `include` is null) and no exclude glob. */
export function matcher(include: RegExp[] | null, exclude: RegExp[]): (path: string) => boolean {
  return (path) => {
    const slashed = path.replaceAll('\\', '/')
    return (include === null || include.some((glob) => glob.test(slashed))) && !exclude.some((glob) => glob.test(slashed))
  }
}
