/**
 * Every log ends with LAST and EOF however the process ends.
 *
 * - Normal exit, `process.exit()`, an uncaught exception or an unhandled rejection: Node emits
 *   `exit` on the way out (its native cleanup hooks do not run on the last three), and the
 *   profilers stop there.
 * - SIGINT, SIGTERM with no JavaScript listener: Node dies without `exit`, and a JS handler would
 *   wait for a busy event loop (changing what Ctrl-C does), so a native handler ends the logs
 *   and passes the signal on (`crates/core/src/signals.rs`). A signal the program listens for
 *   is the program's business; if it exits, `exit` ends the logs.
 * - SIGKILL or a crash: nothing runs, but rows reach the file at least every 50 ms, in whole
 *   lines, so the log is complete up to then.
 */
import { constants } from 'node:os'

import { native } from '../native.js'

let installed = false

export function installExitHandlers(stopAll: () => void): void {
  if (installed) return
  installed = true
  process.once('exit', stopAll)
  const signals = (['SIGINT', 'SIGTERM'] as const).filter((name) => process.listenerCount(name) === 0)
  if (process.platform !== 'win32' && signals.length > 0) {
    native.catchSignals(signals.map((name) => constants.signals[name]))
  }
}
