/**
 * Checking what users pass in. Every bad value becomes a TypeError that names the option, says
 * what it got and what is allowed, before anything starts.
 */

/** A value as a user would recognise it in an error message. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'bigint') return `${value}n`
  if (typeof value === 'function') return 'a function'
  if (value === null || typeof value !== 'object') return String(value)
  return Array.isArray(value) ? 'an array' : 'an object'
}

export function invalid(option: string, allowed: string, got: unknown): TypeError {
  return new TypeError(`${option} must be ${allowed}, got ${describe(got)}`)
}

/**
 * The options object itself: undefined, or an object with only `known` keys. Returns its own
 * properties alone, so that what other code put on `Object.prototype` is never read as an option.
 */
export function checkObject(what: string, value: unknown, known: readonly string[]): Record<string, unknown> {
  const own: Record<string, unknown> = Object.create(null)
  if (value === undefined) return own
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw invalid(what, 'an object', value)
  }
  for (const [key, option] of Object.entries(value)) {
    if (!known.includes(key)) {
      throw new TypeError(`${what} has no option ${JSON.stringify(key)}; the options are: ${known.join(', ')}`)
    }
    own[key] = option
  }
  return own
}

export function optionalString(option: string, value: unknown): string | undefined {
  if (value === undefined) return undefined
  if (typeof value !== 'string' || value === '') throw invalid(option, 'a non-empty string', value)
  return value
}

export function optionalBoolean(option: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw invalid(option, 'true or false', value)
  return value
}

/** An integer in [min, max]. */
export function optionalInteger(option: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(option, `an integer from ${min} to ${max}`, value)
  }
  return value
}

/** One of `allowed`. */
export function optionalChoice<T extends string>(option: string, value: unknown, allowed: readonly T[], fallback: T): T {
  if (value === undefined) return fallback
  if (!allowed.includes(value as T)) throw invalid(option, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, value)
  return value as T
}
