/**
 * The RSS of this process and of others, read by the Rust core (`crates/core/src/rss`).
 */
import { native } from './native.js'

/** The resident set size (RSS) of this process now, in bytes. About 1 µs on Linux. */
export function rss(): number {
  return native.rss()
}

/** The largest RSS this process has had since it started, in bytes. */
export function rssPeak(): number {
  return native.rssPeak()
}

/**
 * The RSS of another process now, in bytes.
 *
 * @throws TypeError when `pid` is not a positive integer; Error when no process has that pid.
 */
export function rssOf(pid: number): number {
  if (!Number.isInteger(pid) || pid <= 0 || pid > 0xffff_ffff) {
    throw new TypeError(`pid must be a positive integer process id, got ${describe(pid)}`)
  }
  return native.rssOf(pid)
}

/** The size of a memory page in bytes: the step in which RSS moves. */
export function pageSize(): number {
  return native.pageSize()
}

/** A value as a user would recognise it in an error message. */
export function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value)
  if (typeof value === 'bigint') return `${value}n`
  if (value === null || typeof value !== 'object') return String(value)
  return Array.isArray(value) ? 'an array' : 'an object'
}
