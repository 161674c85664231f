/**
 * memtrace: a memory tracer for Node.js.
 *
 * This module re-exports the public API and nothing else.
 */
export { rss, rssPeak, rssOf, pageSize } from './rss.js'
export { profile, profileDepth, Profiler } from './profile/profiler.js'
export type { ProfileOptions, ProfileSummary } from './profile/profiler.js'
export { monitor, Monitor } from './monitor.js'
export type { MonitorOptions, MonitorSummary } from './monitor.js'
