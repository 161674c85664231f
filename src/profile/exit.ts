/**
 * Every log ends with LAST and EOF however the process ends.
 *
 * - Normal exit, `process.exit()`, an uncaught exception or an unhandled rejection: Node emits
 *   `exit` on the way out (its native cleanup hooks do not run on the last three), and the
 *   profilers stop there.
 * - SIGINT, SIGTERM with no JavaScript listener: Node dies without `exit`, and a JS handler would
 *   wait for a busy event loop (changing what Ctrl-C does), so a native handler ends the logs
 *   and passes the signal on (`crates/core/src/signals.rs`), after the heap profiles are written
 *   (natively, on each sampled thread: `crates/node/src/allocations.rs`). A signal the program listens for
 *   is the program's business; if it exits, `exit` ends the logs. Once it stops listening, the
 *   native handler is back.
 * - A worker thread: `exit` when it ends or calls `process.exit()`; when `terminate()` ends it,
 *   its profilers' native halves are dropped with it and end their logs (LAST `<terminated>`).
 *   Signals are the main thread's to catch: the native handler ends every thread's logs.
 * - SIGKILL or a crash: nothing runs, but rows reach the file at least every 50 ms, in whole
 *   lines, so the log is complete up to then.
 */
import { constants } from 'node:os'
import { isMainThread } from 'node:worker_threads'

import { native } from '../native.js'

let installed = false
let catching = false
const SIGNALS = ['SIGINT', 'SIGTERM'] as const

/** Catches those of SIGINT and SIGTERM that no JavaScript listener takes. */
function catchUnheard(): void {
  const signals = SIGNALS.filter((name) => process.listenerCount(name) === 0)
  if (signals.length > 0) native.catchSignals(signals.map((name) => constants.signals[name]))
}

export function installExitHandlers(stopAll: () => void): void {
  if (installed) return
  installed = true
  process.once('exit', stopAll)
  catchSignals()
}

/**
 * Has SIGINT and SIGTERM end the logs and say the last words (`native.HeapLastResort`) before
 * they end the process, while no JavaScript listener takes them. Signals are the main thread's
 * (on Unix; Windows has none to catch).
 */
export function catchSignals(): void {
  if (catching || process.platform === 'win32' || !isMainThread) return
  catching = true
  catchUnheard()
  // When the program's last listener for a signal goes, Node puts back the default action,
  // which would kill the process with its logs unfinished: catch it again.
  process.on('removeListener', (event) => {
    if ((SIGNALS as readonly unknown[]).includes(event)) catchUnheard()
  })
}
