/** Numbers as people read them in a terminal. */
import { formatBytes } from '../reports/appearance.js'

/** 91721728 → "87.5 MiB"; with `sign`, growth gets a "+" ("+26.7 MiB"). */
export function bytes(value: number, sign = false): string {
  return `${sign && value > 0 ? '+' : ''}${formatBytes(value)}`
}

/** 1234567 → "1,234,567". */
export function count(value: number): string {
  return Math.round(value).toLocaleString('en-US')
}

/** (1, 'process', 'processes') → "1 process"; (3, …) → "3 processes". */
export function counted(value: number, one: string, many = `${one}s`): string {
  return `${count(value)} ${value === 1 ? one : many}`
}
