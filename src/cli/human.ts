/** Numbers as people read them in a terminal. */

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB']

/** 91721728 → "87.5 MiB"; signed when `sign` is set ("+26.7 MiB"). */
export function bytes(value: number, sign = false): string {
  const prefix = sign && value > 0 ? '+' : value < 0 ? '-' : ''
  let size = Math.abs(value)
  let unit = 0
  while (size >= 1024 && unit < UNITS.length - 1) {
    size /= 1024
    unit++
  }
  return `${prefix}${unit === 0 ? size : size.toFixed(1)} ${UNITS[unit]}`
}

/** 1234567 → "1,234,567". */
export function count(value: number): string {
  return Math.round(value).toLocaleString('en-US')
}
