/**
 * Sizes as people write them, for limits and thresholds: `300MiB`, `1.5GB`, `64 KiB`, or bytes.
 * Decimal units (kB, MB, GB, TB) count in thousands and binary ones (KiB, MiB, GiB, TiB) in
 * 1024s, as `ls --si` and `ls -h` do; the unit's case does not matter.
 */

const UNITS: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
}

/** What a size may look like, for error messages. */
export const SIZE_FORMS = 'bytes, or a number with a unit: 300MiB, 1.5GB, 64KiB (kB MB GB TB, KiB MiB GiB TiB)'

/** Bytes in `text`, a whole number of them; `undefined` when `text` is not a size. */
export function parseSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$/i.exec(text)
  if (!match) return undefined
  const unit = match[2] === '' ? 1 : UNITS[match[2].toLowerCase()]
  if (unit === undefined) return undefined
  const bytes = Math.round(Number(match[1]) * unit)
  return Number.isSafeInteger(bytes) ? bytes : undefined
}
