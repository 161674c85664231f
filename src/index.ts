/**
 * memtrace: a memory tracer for Node.js.
 *
 * This module re-exports the public API, marked as memtrace's own: a program's calls of it are
 * not native calls in its log.
 */
import { monitor, Monitor } from './monitor.js'
import { ownCode } from './profile/hotpath.js'
import { profile, profileDepth, Profiler } from './profile/profiler.js'
import { pageSize, rss, rssOf, rssPeak } from './rss.js'

ownCode(rss, rssPeak, rssOf, pageSize, profile, profileDepth, Profiler, monitor, Monitor)

export { rss, rssPeak, rssOf, pageSize, profile, profileDepth, Profiler, monitor, Monitor }
export type { ProfileOptions, ProfileSummary } from './profile/profiler.js'
export type { MonitorOptions, MonitorSummary } from './monitor.js'
