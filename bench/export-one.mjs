// One step of the export benchmark, in a process of its own so that its peak RSS is its own:
// reads the log at argv[3] as `memtrace report` does for argv[2] (`report`: the totals; an
// export: that file), and prints the milliseconds it took and the process's peak RSS.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { native } from '../dist/native.js'

const [what, log] = process.argv.slice(2)
const out = mkdtempSync(join(tmpdir(), 'memtrace-export-'))
const file = join(out, 'export')
const start = performance.now()
if (what === 'report') native.readLog(log)
else if (what === 'chrome-trace') native.exportChromeTrace([{ file: log, path: log, pid: 1, tid: 0, offset: 0, process: 'p', thread: 'main' }], file)
else native.exportStacks([{ file: log, path: log }], file, what, 'bench')
const ms = performance.now() - start
rmSync(out, { recursive: true, force: true })
console.log(JSON.stringify({ ms, maxRss: process.resourceUsage().maxRSS * 1024 }))
