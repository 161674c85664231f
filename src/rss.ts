/**
 * The RSS of this process and of others, read by the Rust core (`crates/core/src/rss`).
 */
import { native } from './native.js'
import { invalid } from './options.js'

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
    throw invalid('pid', 'a positive integer process id', pid)
  }
  return native.rssOf(pid)
}

/** The size of a memory page in bytes: the step in which RSS moves. */
export function pageSize(): number {
  return native.pageSize()
}
